#include "userspace/config/selection_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "userspace/config/yaml_checks.h"

namespace loupe {
namespace {

absl::Status Invalid(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' ", what));
}

absl::Status ReadPatterns(const YAML::Node& node, const std::string& key,
                          std::vector<std::string>* out) {
  if (!node.IsSequence()) return Invalid(key, "must be a list of patterns");
  if (node.size() > kMaxPatternsPerField) {
    return Invalid(key, absl::StrCat("has more than ", kMaxPatternsPerField, " patterns"));
  }
  out->clear();
  for (const auto& entry : node) {
    if (!entry.IsScalar() || entry.Scalar().empty()) {
      return Invalid(key, "must be a list of non-empty strings");
    }
    out->push_back(entry.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ReadLabels(const YAML::Node& node, const std::string& key,
                        std::vector<std::pair<std::string, std::string>>* out) {
  if (!node.IsMap()) return Invalid(key, "must be a mapping of label to value pattern");
  if (node.size() > kMaxPatternsPerField) {
    return Invalid(key, absl::StrCat("has more than ", kMaxPatternsPerField, " labels"));
  }
  out->clear();
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string label = item.first.Scalar();
    if (label.empty() || !item.second.IsScalar()) {
      return Invalid(key, "must map label names to string value patterns");
    }
    if (absl::Status status = CheckNotDuplicate(absl::StrCat(key, ".", label), &seen);
        !status.ok()) {
      return status;
    }
    out->emplace_back(label, item.second.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ReadRule(const YAML::Node& node, const std::string& key, ProcessRule* rule) {
  if (!node.IsMap()) {
    return Invalid(key, "must be a mapping with namespaces, pod_labels, workloads or executables");
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string field = item.first.Scalar();
    const std::string field_key = absl::StrCat(key, ".", field);
    if (absl::Status status = CheckNotDuplicate(field_key, &seen); !status.ok()) return status;
    absl::Status status;
    if (field == "namespaces") {
      status = ReadPatterns(item.second, field_key, &rule->namespaces);
    } else if (field == "pod_labels") {
      status = ReadLabels(item.second, field_key, &rule->pod_labels);
    } else if (field == "workloads") {
      status = ReadPatterns(item.second, field_key, &rule->workloads);
    } else if (field == "executables") {
      status = ReadPatterns(item.second, field_key, &rule->executables);
    } else if (field == "ports") {
      return Invalid(field_key, "is not a process rule field: ports are decided per connection, "
                                "use selection.include_ports or selection.exclude_ports");
    } else {
      return Invalid(field_key,
                     "is unknown (known: namespaces, pod_labels, workloads, executables)");
    }
    if (!status.ok()) return status;
  }
  if (rule->namespaces.empty() && rule->pod_labels.empty() && rule->workloads.empty() &&
      rule->executables.empty()) {
    return Invalid(key, "names nothing: give namespaces, pod_labels, workloads or executables");
  }
  return absl::OkStatus();
}

absl::Status ReadRules(const YAML::Node& node, const std::string& key,
                       std::vector<ProcessRule>* out) {
  if (node.IsNull()) {  // `exclude:` with nothing after it: an empty list
    out->clear();
    return absl::OkStatus();
  }
  if (!node.IsSequence()) return Invalid(key, "must be a list of rules");
  if (node.size() > kMaxSelectionRules) {
    return Invalid(key, absl::StrCat("has more than ", kMaxSelectionRules, " rules"));
  }
  std::vector<ProcessRule> rules(node.size());
  for (size_t i = 0; i < node.size(); ++i) {
    if (absl::Status status = ReadRule(node[i], absl::StrCat(key, "[", i, "]"), &rules[i]);
        !status.ok()) {
      return status;
    }
  }
  *out = std::move(rules);
  return absl::OkStatus();
}

absl::Status ReadPorts(const YAML::Node& node, const std::string& key,
                       std::vector<uint16_t>* out) {
  if (!node.IsSequence()) return Invalid(key, "must be a list of ports");
  if (node.size() > kMaxSelectionPorts) {
    return Invalid(key, absl::StrCat("has more than ", kMaxSelectionPorts, " ports"));
  }
  out->clear();
  for (const auto& entry : node) {
    uint32_t port = 0;
    if (!entry.IsScalar() || !absl::SimpleAtoi(entry.Scalar(), &port) || port == 0 ||
        port > 65535) {
      return Invalid(key, "must list TCP ports between 1 and 65535");
    }
    out->push_back(static_cast<uint16_t>(port));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplySelectionYaml(const YAML::Node& node, SelectionConfig* selection) {
  if (!node.IsMap()) {
    return Invalid("selection",
                   "must be a mapping (include, exclude, include_ports, exclude_ports)");
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string field = item.first.Scalar();
    const std::string key = absl::StrCat("selection.", field);
    if (absl::Status status = CheckNotDuplicate(key, &seen); !status.ok()) return status;
    absl::Status status;
    if (field == "include") {
      status = ReadRules(item.second, key, &selection->include);
    } else if (field == "exclude") {
      status = ReadRules(item.second, key, &selection->exclude);
    } else if (field == "include_ports") {
      status = ReadPorts(item.second, key, &selection->include_ports);
    } else if (field == "exclude_ports") {
      status = ReadPorts(item.second, key, &selection->exclude_ports);
    } else {
      return Invalid(key, "is unknown (known: include, exclude, include_ports, exclude_ports)");
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace loupe
