// Sends spans to an OTLP/HTTP endpoint (/v1/traces) in batches, from a bounded queue, on its own
// thread. Consume() never blocks: when the queue is full the span is dropped and counted.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "exporters/otlp/http_transport.h"
#include "exporters/otlp/otlp_config.h"
#include "exporters/otlp/otlp_sender.h"
#include "exporters/otlp/retry.h"
#include "exporters/otlp/self_metrics.h"
#include "prometheus/registry.h"
#include "userspace/core/span.h"

namespace loupe {

struct OtlpSpanExporterOptions {
  size_t queue_capacity = 4096;  // spans waiting; beyond this they are dropped (queue_full)
  size_t max_batch_size = 512;   // spans per request
  absl::Duration batch_timeout = absl::Seconds(1);  // a partial batch is sent after this long
  RetryOptions retry;
  // Where the retry loop reads the time; must outlive the exporter. Required.
  const Clock* clock = nullptr;
  // Tests: replaces the real wait between retries (which Shutdown cuts short).
  RetryWait retry_wait;
};

class OtlpSpanExporter : public SpanSink {
 public:
  // Needs config.traces_enabled() (InvalidArgument otherwise: callers skip the exporter when
  // no endpoint is configured, so that nothing is sent anywhere). `transport` defaults to
  // libcurl. `self_metrics` must outlive the exporter. Starts the export thread.
  static absl::StatusOr<std::unique_ptr<OtlpSpanExporter>> Create(
      const OtlpConfig& config, prometheus::Registry& self_metrics,
      OtlpSpanExporterOptions options = {}, std::unique_ptr<HttpTransport> transport = nullptr);

  // Shutdown(absl::Seconds(5)) unless already shut down.
  ~OtlpSpanExporter() override;

  OtlpSpanExporter(const OtlpSpanExporter&) = delete;
  OtlpSpanExporter& operator=(const OtlpSpanExporter&) = delete;

  void Consume(Span span) override;

  // Sends what is queued, for at most about `timeout` (plus one in-flight request's remaining
  // share of it); whatever is still queued then is dropped with reason="shutdown", as is every
  // span consumed afterwards. Idempotent; blocks until the export thread has ended.
  void Shutdown(absl::Duration timeout);

  size_t queue_size() const;
  // The largest the queue has been (never above queue_capacity).
  size_t max_queue_size_seen() const;

 private:
  OtlpSpanExporter(prometheus::Registry& self_metrics, OtlpSpanExporterOptions options,
                   std::unique_ptr<OtlpSender> sender);

  void Run();
  void ExportBatch(std::vector<Span>& batch);

  const OtlpSpanExporterOptions options_;
  std::unique_ptr<OtlpSender> sender_;  // used by the export thread only (but for its gate)
  OtlpSpanMetrics metrics_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Span> queue_;  // bounded by options_.queue_capacity
  size_t max_queue_size_seen_ = 0;
  bool stopping_ = false;

  std::mutex shutdown_mu_;  // serializes Shutdown callers around join()
  std::thread worker_;
};

}  // namespace loupe
