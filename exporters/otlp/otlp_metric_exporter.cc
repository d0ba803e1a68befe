#include "exporters/otlp/otlp_metric_exporter.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "exporters/otlp/curl_transport.h"
#include "exporters/otlp/metric_conversion.h"
#include "userspace/logging/log.h"

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
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("OTLP retry max_attempts must be >= 1");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("OTLP metric exporter needs a clock");
  }
  if (transport == nullptr) {
    auto curl = CurlTransport::Create();
    if (!curl.ok()) return curl.status();
    transport = *std::move(curl);
  }
  return std::unique_ptr<OtlpMetricExporter>(new OtlpMetricExporter(
      config, source, self_metrics, std::move(options), std::move(transport)));
}

OtlpMetricExporter::OtlpMetricExporter(const OtlpConfig& config,
                                       const prometheus::Registry& source,
                                       prometheus::Registry& self_metrics,
                                       OtlpMetricExporterOptions options,
                                       std::unique_ptr<HttpTransport> transport)
    : config_(config),
      options_(std::move(options)),
      source_(source),
      metrics_(self_metrics),
      transport_(std::move(transport)) {
  retry_wait_ = options_.retry_wait ? options_.retry_wait
                                    : [this](absl::Duration d) { return gate_.Sleep(d); };
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
  while (!gate_.WaitForShutdown(options_.interval)) {
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
  ConvertedMetrics converted = ConvertToOtlp(source_.Collect(), conversion);
  if (converted.data_points == 0) return absl::OkStatus();

  const double n = static_cast<double>(converted.data_points);
  std::string body = converted.request.SerializeAsString();
  SendRequest request{&config_.metrics_endpoint, body, &config_.headers,
                      gate_.CapToDeadline(config_.timeout)};
  SendResult result =
      SendWithRetry(*transport_, request, options_.retry, *options_.clock, retry_wait_, rng_,
                    [this](std::string_view reason) {
                      metrics_.export_failures.Increment(reason);
                    });
  if (result.outcome != SendOutcome::kSuccess) {
    metrics_.points_dropped_export_failed.Increment(n);
    return absl::UnavailableError(absl::StrFormat("%d data points not exported after %d "
                                                  "attempt(s), the last failed with: %s",
                                                  converted.data_points, result.attempts,
                                                  result.last_error));
  }
  double rejected = 0;
  opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse response;
  if (!result.response_body.empty() && response.ParseFromString(result.response_body) &&
      response.has_partial_success()) {
    rejected = std::clamp(
        static_cast<double>(response.partial_success().rejected_data_points()), 0.0, n);
    if (rejected > 0) {
      log::Warn("OTLP endpoint rejected metric points",
                {{"rejected", rejected},
                 {"sent", n},
                 {"error", response.partial_success().error_message()}});
    }
  }
  metrics_.points_dropped_rejected.Increment(rejected);
  metrics_.points_exported.Increment(n - rejected);
  return absl::OkStatus();
}

void OtlpMetricExporter::Shutdown(absl::Duration timeout) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  gate_.BeginShutdown(timeout);
  if (worker_.joinable()) worker_.join();
  // The last values since the previous interval would otherwise never leave the host.
  (void)ExportOnce();  // a failure is logged with its cause by SendWithRetry
}

}  // namespace loupe
