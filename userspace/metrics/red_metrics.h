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
             size_t series_budget_per_service, size_t max_series = SIZE_MAX);

  // Counts the record in its series. Every observation that lands in an overflow series (the
  // service's budget-overflow series, or any series of the "_overflow_" service past the service
  // cap) adds one to loupe_metric_series_overflow_total{service_name=<that series' service>}.
  // Returns the series the record was counted in, for the kernel to count further exchanges of
  // the same kind into; null if its instrument has none or if it is an overflow series (whose
  // observations must all pass here to be counted).
  prometheus::Histogram* Observe(std::string_view service_name, const Record& record);

  // `max_series` (constructor) bounds the series of all services and instruments together
  // (--max_series, docs/memory.md): past it, a new label set of any service goes to the
  // instrument's one series whose labels, service_name included, are all "_overflow_", so at most
  // max_series + 3 series exist.
  // Series (overflow series included) and services of one instrument.
  size_t series(Instrument instrument) const;
  size_t services(Instrument instrument) const;
  size_t total_series() const;

 private:
  struct Series {
    prometheus::Histogram* histogram = nullptr;
    bool overflow = false;  // observations here are counted as overflow
  };
  struct InstrumentState {
    prometheus::Family<prometheus::Histogram>* family = nullptr;
    absl::flat_hash_map<std::string, Series> series;  // key: service\x1f values
    absl::flat_hash_map<std::string, size_t> series_per_service;
  };
  struct Resolved {
    Series series;
    std::string_view service;  // the service_name label of the series
  };

  // The returned service view is valid until the next call.
  Resolved SeriesFor(InstrumentState& state, Instrument instrument, std::string_view service,
                     const Record& record);

  AgentMetrics* agent_metrics_;
  size_t budget_;
  size_t max_series_;
  std::array<InstrumentState, 4> instruments_;
  std::string key_scratch_;
};

}  // namespace loupe
