// RED metrics from records: one Prometheus histogram family per instrument, with a fixed label
// schema and a per-service series budget so a misbehaving service cannot blow up cardinality.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "userspace/core/record.h"

namespace loupe {

class AgentMetrics;

// The OpenTelemetry default buckets for the HTTP and DB duration instruments, in seconds.
const std::vector<double>& DurationBuckets();

// The Prometheus label names of an instrument, after service_name, in export order.
const std::vector<std::string>& LabelSchema(Instrument instrument);

inline constexpr char kOverflowValue[] = "_overflow_";
// Distinct service names per instrument; later ones are recorded as service "_overflow_".
inline constexpr size_t kMaxServicesPerInstrument = 1000;

class RedMetrics {
 public:
  RedMetrics(prometheus::Registry& registry, AgentMetrics* agent_metrics,
             size_t series_budget_per_service);

  // Returns the series the record was counted in (null if its instrument has none).
  prometheus::Histogram* Observe(std::string_view service_name, const Record& record);

 private:
  struct InstrumentState {
    prometheus::Family<prometheus::Histogram>* family = nullptr;
    absl::flat_hash_map<std::string, prometheus::Histogram*> series;  // key: service\x1f values
    absl::flat_hash_map<std::string, size_t> series_per_service;
  };

  prometheus::Histogram& SeriesFor(InstrumentState& state, Instrument instrument,
                                   std::string_view service, const Record& record);

  AgentMetrics* agent_metrics_;
  size_t budget_;
  std::array<InstrumentState, 4> instruments_;
  std::string key_scratch_;
};

}  // namespace loupe
