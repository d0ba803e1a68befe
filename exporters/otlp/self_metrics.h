// The OTLP exporters' own metrics (docs/metrics.md), registered on the agent's registry.
#pragma once

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace loupe {

struct OtlpSpanMetrics {
  explicit OtlpSpanMetrics(prometheus::Registry& registry);

  prometheus::Counter& exported;
  prometheus::Counter& dropped_queue_full;
  prometheus::Counter& dropped_export_failed;
  prometheus::Counter& dropped_shutdown;
  prometheus::Counter& export_failures;  // signal="traces"
  prometheus::Gauge& queue_spans;
};

struct OtlpMetricMetrics {
  explicit OtlpMetricMetrics(prometheus::Registry& registry);

  prometheus::Counter& points_exported;
  prometheus::Counter& points_dropped_export_failed;
  prometheus::Counter& points_dropped_rejected;  // refused in a partial-success response
  prometheus::Counter& export_failures;  // signal="metrics"
};

}  // namespace loupe
