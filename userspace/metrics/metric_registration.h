// The one way the agent registers its own loupe_* metrics (docs/metrics.md) on its registry, and
// follows a total counted elsewhere. Every part (the agent's counters, TLS, the OTLP exporters,
// the span assembler, kernel RED) registers through these.
//
// prometheus-cpp merges families registered twice only when name, help and label names match,
// so a family that several parts (or several series) share is registered with the same help;
// asking again for the same family or series returns the one already there.
#pragma once

#include <cstdint>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace loupe {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   const std::string& name,
                                                   const std::string& help);

// One series of the family `name` (created at zero when new).
prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help, const prometheus::Labels& labels = {});
prometheus::Gauge& AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help, const prometheus::Labels& labels = {});

// A counter that mirrors a monotonic total kept elsewhere (a kernel counter, a bpf_prog_info
// field, a count from start-up, the log's suppressed lines): AdvanceTo adds what the total gained
// since the highest value seen. A smaller total (a per-CPU read racing an update) never makes the
// counter go back.
class MirroredCounter {
 public:
  MirroredCounter() = default;  // mirrors nothing until given a counter
  explicit MirroredCounter(prometheus::Counter& counter) : counter_(&counter) {}

  void AdvanceTo(uint64_t total) {
    if (counter_ == nullptr || total <= last_) return;
    counter_->Increment(static_cast<double>(total - last_));
    last_ = total;
  }

 private:
  prometheus::Counter* counter_ = nullptr;
  uint64_t last_ = 0;
};

}  // namespace loupe
