#include "exporters/otlp/self_metrics.h"

#include <string>

#include "exporters/otlp/retry.h"
#include "userspace/metrics/metric_registration.h"

namespace loupe {
namespace {

// Help texts of the families several series (or both exporters) share.
constexpr char kExportFailuresHelp[] =
    "Failed OTLP export attempts (retried or not), by signal and reason";
constexpr char kSpansDroppedHelp[] = "Spans lost before the OTLP endpoint accepted them";
constexpr char kPointsDroppedHelp[] = "Metric data points lost";

}  // namespace

ExportFailureCounter::ExportFailureCounter(prometheus::Registry& registry,
                                           std::string_view signal) {
  for (std::string_view reason : kExportFailureReasons) {
    by_reason_.emplace_back(
        reason, &AddCounter(registry, "loupe_otlp_export_failures_total", kExportFailuresHelp,
                            {{"signal", std::string(signal)}, {"reason", std::string(reason)}}));
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
    : exported(AddCounter(registry, "loupe_spans_exported_total",
                          "Spans accepted by the OTLP endpoint")),
      dropped_queue_full(AddCounter(registry, "loupe_spans_dropped_total", kSpansDroppedHelp,
                                    {{"reason", "queue_full"}})),
      dropped_export_failed(AddCounter(registry, "loupe_spans_dropped_total", kSpansDroppedHelp,
                                       {{"reason", "export_failed"}})),
      dropped_shutdown(AddCounter(registry, "loupe_spans_dropped_total", kSpansDroppedHelp,
                                  {{"reason", "shutdown"}})),
      queue_spans(AddGauge(registry, "loupe_otlp_queue_spans",
                           "Spans waiting in the OTLP exporter's queue")) {}

OtlpMetricMetrics::OtlpMetricMetrics(prometheus::Registry& registry)
    : points_exported(AddCounter(registry, "loupe_metric_points_exported_total",
                                 "Metric data points accepted by the OTLP endpoint")),
      points_dropped_export_failed(AddCounter(registry, "loupe_metric_points_dropped_total",
                                              kPointsDroppedHelp, {{"reason", "export_failed"}})),
      points_dropped_rejected(AddCounter(registry, "loupe_metric_points_dropped_total",
                                         kPointsDroppedHelp, {{"reason", "rejected"}})) {}

}  // namespace loupe
