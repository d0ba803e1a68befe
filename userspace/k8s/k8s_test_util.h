// Tests of userspace/k8s/: the API responses in tests/fixtures/kubernetes and metric values.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "prometheus/registry.h"

namespace loupe::k8s_test {

inline std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(LOUPE_K8S_FIXTURES) + "/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> FixtureLines(const std::string& name) {
  std::istringstream in(Fixture(name));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The value of the series of `name` with the label `key`=`value` (or the only one, key empty);
// -1 when there is none.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::string& key = "", const std::string& value = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = key.empty();
      for (const auto& label : metric.label) match |= label.name == key && label.value == value;
      if (!match) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

}  // namespace loupe::k8s_test
