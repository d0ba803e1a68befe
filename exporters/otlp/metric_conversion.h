// Prometheus metric families (prometheus-cpp Registry::Collect) → OTLP metrics. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "prometheus/metric_family.h"
#include "userspace/core/record.h"
#include "userspace/core/service_resources.h"

namespace loupe {

struct MetricConversionOptions {
  uint64_t start_unix_ns = 0;  // agent start: cumulative series began then
  uint64_t now_unix_ns = 0;
  // Added to every resource (OTEL_RESOURCE_ATTRIBUTES), after the keys we set ourselves.
  std::vector<Attribute> resource_attributes;
  // service.name of the resource that carries the agent's own metrics and any series without a
  // service_name label.
  std::string agent_service_name = "loupe";
  // The resource of each service's series (optional; must outlive the call): the same
  // workload-level identity its spans carry (core/service_resources.h). Without it, or for a
  // service it does not know, the resource is what the series' labels say.
  const ServiceResources* services = nullptr;
};

struct ConvertedMetrics {
  opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest request;
  uint64_t data_points = 0;
};

// The OTel name and unit of an instrument family's Prometheus name (core/instrument_schema.h:
// "http.server.request.duration", "s"); otherwise the Prometheus name and an empty unit.
struct OtelMetricName {
  std::string name;
  std::string unit;
};
OtelMetricName OtelNameFor(std::string_view prometheus_name);

// Histograms become cumulative Histograms (Prometheus' cumulative bucket counts turned into
// per-bucket counts, +Inf dropped from the bounds), counters monotonic cumulative Sums, gauges
// and untyped Gauges, summaries Summaries. Series are grouped into one ResourceMetrics per
// service (service_name and service_namespace label values, which leave the point's attributes
// for the resource: `options.services`' resource of that service, else service.name and
// service.namespace); loupe_* families and series without a service_name label go to the
// agent's resource. An instrument
// family's labels become its semconv attributes (int-typed where the schema says so); other
// labels keep their names.
ConvertedMetrics ConvertToOtlp(const std::vector<prometheus::MetricFamily>& families,
                               const MetricConversionOptions& options);

}  // namespace loupe
