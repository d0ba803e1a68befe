// The OTLP exporters' own metrics (docs/metrics.md), registered on the agent's registry
// (userspace/metrics/metric_registration.h).
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace loupe {

// loupe_otlp_export_failures_total{signal, reason}: one series per reason of
// kExportFailureReasons (retry.h), all present from the start.
class ExportFailureCounter {
 public:
  ExportFailureCounter(prometheus::Registry& registry, std::string_view signal);
  // A reason outside kExportFailureReasons counts as "other".
  void Increment(std::string_view reason);

 private:
  std::vector<std::pair<std::string_view, prometheus::Counter*>> by_reason_;
};

struct OtlpSpanMetrics {
  explicit OtlpSpanMetrics(prometheus::Registry& registry);

  prometheus::Counter& exported;
  prometheus::Counter& dropped_queue_full;
  prometheus::Counter& dropped_export_failed;
  prometheus::Counter& dropped_shutdown;
  prometheus::Gauge& queue_spans;
};

struct OtlpMetricMetrics {
  explicit OtlpMetricMetrics(prometheus::Registry& registry);

  prometheus::Counter& points_exported;
  prometheus::Counter& points_dropped_export_failed;
  prometheus::Counter& points_dropped_rejected;  // refused in a partial-success response
};

}  // namespace loupe
