// Periodically converts a prometheus-cpp registry's metrics to OTLP and sends them to an
// OTLP/HTTP endpoint (/v1/metrics), as cumulative series starting at the agent's start.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "exporters/otlp/http_transport.h"
#include "userspace/core/service_resources.h"
#include "exporters/otlp/otlp_config.h"
#include "exporters/otlp/otlp_sender.h"
#include "exporters/otlp/retry.h"
#include "exporters/otlp/self_metrics.h"
#include "prometheus/registry.h"

namespace loupe {

struct OtlpMetricExporterOptions {
  absl::Duration interval = absl::Seconds(15);
  // Retries stay well inside one interval so that exports never pile up.
  RetryOptions retry{.max_attempts = 3, .max_elapsed = absl::Seconds(10)};
  // Where the exporter reads the time (time_unix_nano, the retry loop's elapsed time); must
  // outlive the exporter. Required.
  const Clock* clock = nullptr;
  // Tests: replaces the real wait between retries (which Shutdown cuts short).
  RetryWait retry_wait;
  // When the agent started (start_time_unix_nano of every cumulative point). Unset: Create time.
  std::optional<absl::Time> start_time;
  // The resource of each service's series (metric_conversion.h); optional, must outlive the
  // exporter.
  const ServiceResources* services = nullptr;
};

class OtlpMetricExporter {
 public:
  // Needs config.metrics_enabled(). `source` is collected every interval; `self_metrics` gets
  // the exporter's own counters (may be the same registry). Both must outlive the exporter.
  static absl::StatusOr<std::unique_ptr<OtlpMetricExporter>> Create(
      const OtlpConfig& config, const prometheus::Registry& source,
      prometheus::Registry& self_metrics, OtlpMetricExporterOptions options = {},
      std::unique_ptr<HttpTransport> transport = nullptr);

  // Shutdown(absl::Seconds(5)) unless already shut down.
  ~OtlpMetricExporter();

  OtlpMetricExporter(const OtlpMetricExporter&) = delete;
  OtlpMetricExporter& operator=(const OtlpMetricExporter&) = delete;

  // Starts exporting every `interval` on a thread of its own.
  absl::Status Start();

  // Collects and sends once, on the caller's thread. OK when the endpoint accepted the request
  // (even if it rejected some points, which are counted).
  absl::Status ExportOnce();

  // Stops the periodic thread, then sends one final export within about `timeout`. Idempotent.
  void Shutdown(absl::Duration timeout);

 private:
  OtlpMetricExporter(const OtlpConfig& config, const prometheus::Registry& source,
                     prometheus::Registry& self_metrics, OtlpMetricExporterOptions options,
                     std::unique_ptr<OtlpSender> sender);
  void Run();

  const OtlpConfig config_;
  const OtlpMetricExporterOptions options_;
  const prometheus::Registry& source_;
  OtlpMetricMetrics metrics_;
  absl::Time start_time_;

  std::mutex export_mu_;  // one export at a time: the sender is not thread-safe
  std::unique_ptr<OtlpSender> sender_;

  std::mutex lifecycle_mu_;
  std::thread worker_;
  bool shut_down_ = false;
};

}  // namespace loupe
