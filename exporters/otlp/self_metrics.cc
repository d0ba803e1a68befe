#include "exporters/otlp/self_metrics.h"

#include <string>

#include "exporters/otlp/retry.h"

namespace loupe {
namespace {

// Both exporters register the shared families; prometheus-cpp merges families registered twice
// only when name, help and labels match, so they are spelled once here.
prometheus::Family<prometheus::Counter>& ExportFailures(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("loupe_otlp_export_failures_total")
      .Help("Failed OTLP export attempts (retried or not), by signal and reason")
      .Register(registry);
}

}  // namespace

ExportFailureCounter::ExportFailureCounter(prometheus::Registry& registry,
                                           std::string_view signal) {
  auto& family = ExportFailures(registry);
  for (std::string_view reason : kExportFailureReasons) {
    by_reason_.emplace_back(reason, &family.Add({{"signal", std::string(signal)},
                                                 {"reason", std::string(reason)}}));
  }
}

void ExportFailureCounter::Increment(std::string_view reason) {
  prometheus::Counter* other = nullptr;
  for (auto& [name, counter] : by_reason_) {
    if (name == reason) {
      counter->Increment();
      return;
    }
    if (name == "other") other = counter;
  }
  other->Increment();
}

OtlpSpanMetrics::OtlpSpanMetrics(prometheus::Registry& registry)
    : exported(prometheus::BuildCounter()
                   .Name("loupe_spans_exported_total")
                   .Help("Spans accepted by the OTLP endpoint")
                   .Register(registry)
                   .Add({})),
      dropped_queue_full(prometheus::BuildCounter()
                             .Name("loupe_spans_dropped_total")
                             .Help("Spans lost before the OTLP endpoint accepted them")
                             .Register(registry)
                             .Add({{"reason", "queue_full"}})),
      dropped_export_failed(prometheus::BuildCounter()
                                .Name("loupe_spans_dropped_total")
                                .Help("Spans lost before the OTLP endpoint accepted them")
                                .Register(registry)
                                .Add({{"reason", "export_failed"}})),
      dropped_shutdown(prometheus::BuildCounter()
                           .Name("loupe_spans_dropped_total")
                           .Help("Spans lost before the OTLP endpoint accepted them")
                           .Register(registry)
                           .Add({{"reason", "shutdown"}})),
      export_failures(registry, "traces"),
      queue_spans(prometheus::BuildGauge()
                      .Name("loupe_otlp_queue_spans")
                      .Help("Spans waiting in the OTLP exporter's queue")
                      .Register(registry)
                      .Add({})) {}

OtlpMetricMetrics::OtlpMetricMetrics(prometheus::Registry& registry)
    : points_exported(prometheus::BuildCounter()
                          .Name("loupe_metric_points_exported_total")
                          .Help("Metric data points accepted by the OTLP endpoint")
                          .Register(registry)
                          .Add({})),
      points_dropped_export_failed(prometheus::BuildCounter()
                                       .Name("loupe_metric_points_dropped_total")
                                       .Help("Metric data points lost")
                                       .Register(registry)
                                       .Add({{"reason", "export_failed"}})),
      points_dropped_rejected(prometheus::BuildCounter()
                                  .Name("loupe_metric_points_dropped_total")
                                  .Help("Metric data points lost")
                                  .Register(registry)
                                  .Add({{"reason", "rejected"}})),
      export_failures(registry, "metrics") {}

}  // namespace loupe
