// A real OTLP/HTTP protobuf receiver on 127.0.0.1, for unit and end-to-end tests. It decodes
// ExportTraceServiceRequest / ExportMetricsServiceRequest with the exporter's own protos,
// refuses (HTTP 400, recorded in Errors()) any request carrying fields the protos do not know,
// and can be told to fail or be stopped and restarted on the same port.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

struct mg_context;
struct mg_connection;

namespace loupe {

// True if `message` or any message nested in it holds unknown fields; `where` (optional) gets
// the path of the first one, e.g. "resource_spans[0].scope_spans[0].spans[2]".
bool HasUnknownFields(const google::protobuf::Message& message, std::string* where = nullptr);

class OtlpTestReceiver {
 public:
  using TraceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
  using MetricRequest =
      opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

  // Listens on 127.0.0.1 at an ephemeral port.
  static absl::StatusOr<std::unique_ptr<OtlpTestReceiver>> Start();
  ~OtlpTestReceiver();

  OtlpTestReceiver(const OtlpTestReceiver&) = delete;
  OtlpTestReceiver& operator=(const OtlpTestReceiver&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>": a value for OTEL_EXPORTER_OTLP_ENDPOINT.
  std::string endpoint() const;

  // Closes the listening socket (connections are then refused). Idempotent.
  void Stop();
  // Listens again on the same port.
  absl::Status Restart();

  // The next `count` POSTs (all, when count < 0, until ClearFailures) are answered with
  // `status` and, when given, "Retry-After: <seconds>"; their bodies are not stored.
  void FailNext(int status, int count = -1, std::optional<int> retry_after_seconds = {});
  void ClearFailures();
  // Successful trace responses carry partial_success.rejected_spans = n (0: no partial success).
  void SetRejectedSpans(int64_t n);

  std::vector<TraceRequest> TraceRequests() const;
  std::vector<MetricRequest> MetricRequests() const;
  // All spans of all stored trace requests, in arrival order.
  std::vector<opentelemetry::proto::trace::v1::Span> Spans() const;
  size_t SpanCount() const;
  // Every POST seen, answered successfully or not.
  int RequestCount() const;
  // Headers of the last POST, names lower-cased.
  std::vector<std::pair<std::string, std::string>> LastHeaders() const;
  // What was wrong with requests: bad method/path/content type, undecodable or unknown fields.
  std::vector<std::string> Errors() const;

  bool WaitForSpans(size_t n, absl::Duration timeout) const;
  bool WaitForRequests(int n, absl::Duration timeout) const;
  bool WaitForMetricRequests(size_t n, absl::Duration timeout) const;

  void Clear();

 private:
  OtlpTestReceiver() = default;
  absl::Status Listen(int port);
  static int HandleRequest(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);

  int port_ = 0;
  mg_context* ctx_ = nullptr;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int fail_status_ = 0;
  int fail_count_ = 0;  // < 0: until cleared
  std::optional<int> fail_retry_after_;
  int64_t rejected_spans_ = 0;
  std::vector<TraceRequest> traces_;
  std::vector<MetricRequest> metrics_;
  size_t span_count_ = 0;
  int request_count_ = 0;
  std::vector<std::pair<std::string, std::string>> last_headers_;
  std::vector<std::string> errors_;
};

}  // namespace loupe
