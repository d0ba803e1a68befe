// RED metrics from records: one Prometheus histogram family per instrument family
// (core/instrument_schema.h: name, help, buckets, labels), with a per-service series budget so a
// misbehaving service cannot blow up cardinality.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "userspace/core/record.h"
#include "userspace/core/resource.h"
#include "userspace/core/service_resources.h"

namespace loupe {

class AgentMetrics;

// The OpenTelemetry default buckets for the HTTP and DB duration instruments, in seconds.
const std::vector<double>& DurationBuckets();

inline constexpr char kOverflowValue[] = "_overflow_";
// Distinct service names per instrument; later ones are recorded as service "_overflow_".
inline constexpr size_t kMaxServicesPerInstrument = 1000;

class RedMetrics {
 public:
  // Registers one histogram family per entry of `families`; records of any other family are
  // not counted.
  RedMetrics(prometheus::Registry& registry, AgentMetrics* agent_metrics,
             size_t series_budget_per_service, size_t max_series = SIZE_MAX,
             std::span<const InstrumentSchema* const> families = AllInstruments());

  // Counts the record in its series. Every observation that lands in an overflow series (the
  // service's budget-overflow series, or any series of the "_overflow_" service past the service
  // cap) adds one to loupe_metric_series_overflow_total{service_name=<that series' service>}.
  // Returns the series the record was counted in, for the kernel to count further exchanges of
  // the same kind into; null if its family is not registered or if it is an overflow series
  // (whose observations must all pass here to be counted).
  // The series' service is the resource's service_name and service_namespace (the
  // `service_namespace` label, left out when empty; a service is the pair, with its own budget).
  prometheus::Histogram* Observe(const ProcessResource& resource, const Record& record);
  // A service without a namespace or resource (tests, benchmarks).
  prometheus::Histogram* Observe(std::string_view service_name, const Record& record);

  // Optional (must outlive this): each service's resource is remembered there when it gets its
  // first series, for OTLP metrics to carry (core/service_resources.h).
  void RememberResourcesIn(ServiceResources* resources) { resources_ = resources; }

  // `max_series` (constructor) bounds the series of all services and instruments together
  // (--max_series, docs/memory.md): past it, a new label set of any service goes to the
  // instrument's one series whose labels, service_name included, are all "_overflow_", so at most
  // max_series + (number of families) series exist.
  // Series (overflow series included) and services of one family (0 if not registered).
  size_t series(const InstrumentSchema& family) const;
  size_t services(const InstrumentSchema& family) const;
  size_t total_series() const;

 private:
  struct Series {
    prometheus::Histogram* histogram = nullptr;
    bool overflow = false;  // observations here are counted as overflow
  };
  struct InstrumentState {
    const InstrumentSchema* schema = nullptr;
    prometheus::Family<prometheus::Histogram>* family = nullptr;
    std::vector<double> buckets;  // schema->buckets, in the form prometheus-cpp takes
    absl::flat_hash_map<std::string, Series> series;  // key: service\x1f namespace\x1f values
    absl::flat_hash_map<std::string, size_t> series_per_service;  // key: service\x1f namespace
  };
  struct Resolved {
    Series series;
    std::string_view service;  // the service_name label of the series
  };
  struct Service {
    std::string_view name;
    std::string_view name_space;  // "" when none
    const ProcessResource* resource = nullptr;
  };

  prometheus::Histogram* ObserveIn(Service service, const Record& record);
  // The returned service view is valid until the next call.
  Resolved SeriesFor(InstrumentState& state, Service service, const Record& record);
  // The index in instruments_ of `family`, or kNotRegistered.
  static constexpr size_t kNotRegistered = SIZE_MAX;
  size_t IndexOf(const InstrumentSchema* family) const;

  AgentMetrics* agent_metrics_;
  ServiceResources* resources_ = nullptr;
  size_t budget_;
  size_t max_series_;
  std::vector<InstrumentState> instruments_;  // one per registered family, in their order
  std::string key_scratch_;
};

}  // namespace loupe
