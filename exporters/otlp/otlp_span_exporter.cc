#include "exporters/otlp/otlp_span_exporter.h"

#include <algorithm>

#include "exporters/otlp/span_mapping.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace loupe {

absl::StatusOr<std::unique_ptr<OtlpSpanExporter>> OtlpSpanExporter::Create(
    const OtlpConfig& config, prometheus::Registry& self_metrics, OtlpSpanExporterOptions options,
    std::unique_ptr<HttpTransport> transport) {
  if (!config.traces_enabled()) {
    return absl::InvalidArgumentError(
        "OTLP span exporter needs a traces endpoint (set OTEL_EXPORTER_OTLP_ENDPOINT or "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)");
  }
  if (options.queue_capacity == 0 || options.max_batch_size == 0) {
    return absl::InvalidArgumentError("OTLP span queue capacity and batch size must be > 0");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("OTLP span exporter needs a clock");
  }
  auto sender =
      OtlpSender::Create(config, config.traces_endpoint, "traces", self_metrics,
                         {options.retry, options.clock, options.retry_wait}, std::move(transport));
  if (!sender.ok()) return sender.status();
  return std::unique_ptr<OtlpSpanExporter>(
      new OtlpSpanExporter(self_metrics, std::move(options), *std::move(sender)));
}

OtlpSpanExporter::OtlpSpanExporter(prometheus::Registry& self_metrics,
                                   OtlpSpanExporterOptions options,
                                   std::unique_ptr<OtlpSender> sender)
    : options_(std::move(options)), sender_(std::move(sender)), metrics_(self_metrics) {
  worker_ = std::thread([this] { Run(); });
}

OtlpSpanExporter::~OtlpSpanExporter() { Shutdown(absl::Seconds(5)); }

void OtlpSpanExporter::Consume(Span span) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      metrics_.dropped_shutdown.Increment();
      return;
    }
    if (queue_.size() >= options_.queue_capacity) {
      metrics_.dropped_queue_full.Increment();
      return;
    }
    queue_.push_back(std::move(span));
    max_queue_size_seen_ = std::max(max_queue_size_seen_, queue_.size());
    metrics_.queue_spans.Set(static_cast<double>(queue_.size()));
    if (queue_.size() < options_.max_batch_size) return;
  }
  work_cv_.notify_one();
}

void OtlpSpanExporter::Shutdown(absl::Duration timeout) {
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  sender_->gate().BeginShutdown(timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

size_t OtlpSpanExporter::queue_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t OtlpSpanExporter::max_queue_size_seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_queue_size_seen_;
}

void OtlpSpanExporter::Run() {
  std::vector<Span> batch;
  batch.reserve(options_.max_batch_size);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.batch_timeout), [&] {
        return stopping_ || queue_.size() >= options_.max_batch_size;
      });
      if (stopping_ && (queue_.empty() || sender_->gate().PastDeadline())) {
        metrics_.dropped_shutdown.Increment(static_cast<double>(queue_.size()));
        queue_.clear();
        metrics_.queue_spans.Set(0);
        return;
      }
      if (queue_.empty()) continue;
      size_t n = std::min(queue_.size(), options_.max_batch_size);
      std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      metrics_.queue_spans.Set(static_cast<double>(queue_.size()));
    }
    ExportBatch(batch);
    batch.clear();
  }
}

void OtlpSpanExporter::ExportBatch(std::vector<Span>& batch) {
  const double n = static_cast<double>(batch.size());
  const SendResult result = sender_->Send(BuildTraceRequest(batch).SerializeAsString());
  if (result.outcome != SendOutcome::kSuccess) {
    metrics_.dropped_export_failed.Increment(n);
    return;
  }
  using Response = opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
  const double rejected = RejectedItems<Response>(
      result, n, [](const auto& partial) { return partial.rejected_spans(); },
      "OTLP endpoint rejected spans");
  // Rejected spans are lost after an export attempt: they count as export_failed.
  metrics_.dropped_export_failed.Increment(rejected);
  metrics_.exported.Increment(n - rejected);
}

}  // namespace loupe
