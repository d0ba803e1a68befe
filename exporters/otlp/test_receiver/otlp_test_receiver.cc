#include "exporters/otlp/test_receiver/otlp_test_receiver.h"

#include <civetweb.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "userspace/core/civetweb_stop.h"

namespace loupe {
namespace {

constexpr size_t kMaxBody = 16 * 1024 * 1024;

void Respond(mg_connection* conn, int status, std::string_view body,
             std::string_view extra_headers = "") {
  std::string head = absl::StrFormat(
      "HTTP/1.1 %d %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n%s\r\n",
      status, status < 300 ? "OK" : "Error", body.size(), extra_headers);
  mg_write(conn, head.data(), head.size());
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

}  // namespace

bool HasUnknownFields(const google::protobuf::Message& message, std::string* where) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  if (!reflection->GetUnknownFields(message).empty()) {
    if (where != nullptr && where->empty()) *where = "(top level)";
    return true;
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        std::string inner;
        if (HasUnknownFields(reflection->GetRepeatedMessage(message, field, i), &inner)) {
          if (where != nullptr) {
            std::string item = absl::StrCat(field->name(), "[", i, "]");
            *where = inner == "(top level)" ? item : absl::StrCat(item, ".", inner);
          }
          return true;
        }
      }
    } else {
      std::string inner;
      if (HasUnknownFields(reflection->GetMessage(message, field), &inner)) {
        if (where != nullptr) {
          *where = inner == "(top level)" ? field->name() : absl::StrCat(field->name(), ".", inner);
        }
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<OtlpTestReceiver>> OtlpTestReceiver::Start() {
  mg_init_library(0);
  std::unique_ptr<OtlpTestReceiver> receiver(new OtlpTestReceiver());
  absl::Status status = receiver->Listen(0);
  if (!status.ok()) return status;
  return receiver;
}

OtlpTestReceiver::~OtlpTestReceiver() { Stop(); }

std::string OtlpTestReceiver::endpoint() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

absl::Status OtlpTestReceiver::Listen(int port) {
  std::string ports = absl::StrCat("127.0.0.1:", port);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "4",
                           "enable_keep_alive", "no", nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  ctx_ = mg_start(&callbacks, this, options);
  if (ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("test receiver could not listen on ", ports));
  }
  mg_server_port server_ports[4];
  std::memset(server_ports, 0, sizeof(server_ports));
  int n = mg_get_server_ports(ctx_, 4, server_ports);
  if (n < 1 || server_ports[0].port <= 0) {
    mg_stop(ctx_);
    ctx_ = nullptr;
    return absl::InternalError("test receiver could not learn its port");
  }
  port_ = server_ports[0].port;
  mg_set_request_handler(ctx_, "/v1/traces$", &OtlpTestReceiver::HandleRequest, this);
  mg_set_request_handler(ctx_, "/v1/metrics$", &OtlpTestReceiver::HandleRequest, this);
  return absl::OkStatus();
}

void OtlpTestReceiver::Stop() {
  if (ctx_ == nullptr) return;
  StopCivetwebOnLoopback(ctx_, port_);  // fast: tests stop receivers often
  ctx_ = nullptr;
}

absl::Status OtlpTestReceiver::Restart() {
  if (ctx_ != nullptr) return absl::OkStatus();
  return Listen(port_);
}

int OtlpTestReceiver::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<OtlpTestReceiver*>(self)->Handle(conn);
}

int OtlpTestReceiver::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  std::string path = info->local_uri != nullptr ? info->local_uri : "";

  std::string body;
  char buffer[16 * 1024];
  for (;;) {
    int n = mg_read(conn, buffer, sizeof(buffer));
    if (n <= 0) break;
    body.append(buffer, static_cast<size_t>(n));
    if (body.size() > kMaxBody) break;
  }

  std::unique_lock<std::mutex> lock(mu_);
  ++request_count_;
  last_headers_.clear();
  for (int i = 0; i < info->num_headers; ++i) {
    last_headers_.emplace_back(absl::AsciiStrToLower(info->http_headers[i].name),
                               info->http_headers[i].value);
  }
  cv_.notify_all();

  auto reject = [&](std::string error) {
    errors_.push_back(error);
    lock.unlock();
    Respond(conn, 400, "");
    return 400;
  };
  if (std::strcmp(info->request_method, "POST") != 0) {
    return reject(absl::StrCat(info->request_method, " ", path, ": only POST is OTLP"));
  }
  const char* content_type = mg_get_header(conn, "Content-Type");
  if (content_type == nullptr || std::string_view(content_type) != "application/x-protobuf") {
    return reject(absl::StrCat(path, ": Content-Type is not application/x-protobuf"));
  }
  if (body.size() > kMaxBody) return reject(absl::StrCat(path, ": body too large"));

  if (fail_count_ != 0) {
    if (fail_count_ > 0) --fail_count_;
    int status = fail_status_;
    std::string extra = fail_retry_after_.has_value()
                            ? absl::StrCat("Retry-After: ", *fail_retry_after_, "\r\n")
                            : "";
    lock.unlock();
    Respond(conn, status, "", extra);
    return status;
  }

  std::string response;
  if (path == "/v1/traces") {
    TraceRequest request;
    if (!request.ParseFromString(body)) return reject("/v1/traces: body is not a request");
    std::string where;
    if (HasUnknownFields(request, &where)) {
      return reject(absl::StrCat("/v1/traces: unknown fields at ", where));
    }
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) span_count_ += static_cast<size_t>(ss.spans_size());
    }
    traces_.push_back(std::move(request));
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse reply;
    if (rejected_spans_ > 0) {
      reply.mutable_partial_success()->set_rejected_spans(rejected_spans_);
      reply.mutable_partial_success()->set_error_message("rejected by test receiver");
    }
    response = reply.SerializeAsString();
  } else {
    MetricRequest request;
    if (!request.ParseFromString(body)) return reject("/v1/metrics: body is not a request");
    std::string where;
    if (HasUnknownFields(request, &where)) {
      return reject(absl::StrCat("/v1/metrics: unknown fields at ", where));
    }
    metrics_.push_back(std::move(request));
    response = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse()
                   .SerializeAsString();
  }
  cv_.notify_all();
  lock.unlock();
  Respond(conn, 200, response);
  return 200;
}

void OtlpTestReceiver::FailNext(int status, int count, std::optional<int> retry_after_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_status_ = status;
  fail_count_ = count;
  fail_retry_after_ = retry_after_seconds;
}

void OtlpTestReceiver::ClearFailures() { FailNext(0, 0); }

void OtlpTestReceiver::SetRejectedSpans(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  rejected_spans_ = n;
}

std::vector<OtlpTestReceiver::TraceRequest> OtlpTestReceiver::TraceRequests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return traces_;
}

std::vector<OtlpTestReceiver::MetricRequest> OtlpTestReceiver::MetricRequests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

std::vector<opentelemetry::proto::trace::v1::Span> OtlpTestReceiver::Spans() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<opentelemetry::proto::trace::v1::Span> spans;
  for (const auto& request : traces_) {
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        spans.insert(spans.end(), ss.spans().begin(), ss.spans().end());
      }
    }
  }
  return spans;
}

size_t OtlpTestReceiver::SpanCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return span_count_;
}

int OtlpTestReceiver::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return request_count_;
}

std::vector<std::pair<std::string, std::string>> OtlpTestReceiver::LastHeaders() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_headers_;
}

std::vector<std::string> OtlpTestReceiver::Errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

bool OtlpTestReceiver::WaitForSpans(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return span_count_ >= n; });
}

bool OtlpTestReceiver::WaitForRequests(int n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return request_count_ >= n; });
}

bool OtlpTestReceiver::WaitForMetricRequests(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return metrics_.size() >= n; });
}

void OtlpTestReceiver::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  traces_.clear();
  metrics_.clear();
  span_count_ = 0;
  request_count_ = 0;
  last_headers_.clear();
  errors_.clear();
}

}  // namespace loupe
