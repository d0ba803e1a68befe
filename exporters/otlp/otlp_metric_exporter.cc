#include "exporters/otlp/otlp_metric_exporter.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "exporters/otlp/metric_conversion.h"

namespace loupe {
namespace {

uint64_t UnixNanos(absl::Time t) { return static_cast<uint64_t>(absl::ToUnixNanos(t)); }

}  // namespace

absl::StatusOr<std::unique_ptr<OtlpMetricExporter>> OtlpMetricExporter::Create(
    const OtlpConfig& config, const prometheus::Registry& source,
    prometheus::Registry& self_metrics, OtlpMetricExporterOptions options,
    std::unique_ptr<HttpTransport> transport) {
  if (!config.metrics_enabled()) {
    return absl::InvalidArgumentError(
        "OTLP metric exporter needs a metrics endpoint (set OTEL_EXPORTER_OTLP_ENDPOINT or "
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)");
  }
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("OTLP metric export interval must be positive");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("OTLP metric exporter needs a clock");
  }
  auto sender =
      OtlpSender::Create(config, config.metrics_endpoint, "metrics", self_metrics,
                         {options.retry, options.clock, options.retry_wait}, std::move(transport));
  if (!sender.ok()) return sender.status();
  return std::unique_ptr<OtlpMetricExporter>(new OtlpMetricExporter(
      config, source, self_metrics, std::move(options), *std::move(sender)));
}

OtlpMetricExporter::OtlpMetricExporter(const OtlpConfig& config,
                                       const prometheus::Registry& source,
                                       prometheus::Registry& self_metrics,
                                       OtlpMetricExporterOptions options,
                                       std::unique_ptr<OtlpSender> sender)
    : config_(config),
      options_(std::move(options)),
      source_(source),
      metrics_(self_metrics),
      sender_(std::move(sender)) {
  start_time_ = options_.start_time.value_or(
      absl::FromUnixNanos(static_cast<int64_t>(options_.clock->UnixNs())));
}

OtlpMetricExporter::~OtlpMetricExporter() { Shutdown(absl::Seconds(5)); }

absl::Status OtlpMetricExporter::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (shut_down_) return absl::FailedPreconditionError("OTLP metric exporter was shut down");
  if (worker_.joinable()) return absl::FailedPreconditionError("OTLP metric exporter started");
  worker_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void OtlpMetricExporter::Run() {
  while (!sender_->gate().WaitForShutdown(options_.interval)) {
    // A failed export was logged with its cause by SendWithRetry and counted.
    (void)ExportOnce();
  }
}

absl::Status OtlpMetricExporter::ExportOnce() {
  std::lock_guard<std::mutex> lock(export_mu_);
  MetricConversionOptions conversion;
  conversion.start_unix_ns = UnixNanos(start_time_);
  conversion.now_unix_ns = options_.clock->UnixNs();
  conversion.resource_attributes = config_.resource_attributes;
  conversion.services = options_.services;
  ConvertedMetrics converted = ConvertToOtlp(source_.Collect(), conversion);
  if (converted.data_points == 0) return absl::OkStatus();

  const double n = static_cast<double>(converted.data_points);
  const SendResult result = sender_->Send(converted.request.SerializeAsString());
  if (result.outcome != SendOutcome::kSuccess) {
    metrics_.points_dropped_export_failed.Increment(n);
    return absl::UnavailableError(absl::StrFormat("%d data points not exported after %d "
                                                  "attempt(s), the last failed with: %s",
                                                  converted.data_points, result.attempts,
                                                  result.last_error));
  }
  using Response = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse;
  const double rejected = RejectedItems<Response>(
      result, n, [](const auto& partial) { return partial.rejected_data_points(); },
      "OTLP endpoint rejected metric points");
  metrics_.points_dropped_rejected.Increment(rejected);
  metrics_.points_exported.Increment(n - rejected);
  return absl::OkStatus();
}

void OtlpMetricExporter::Shutdown(absl::Duration timeout) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  sender_->gate().BeginShutdown(timeout);
  if (worker_.joinable()) worker_.join();
  // The last values since the previous interval would otherwise never leave the host.
  (void)ExportOnce();  // a failure is logged with its cause by SendWithRetry
}

}  // namespace loupe
