// A Record is what a protocol parser makes of one request/response: the input to spans and
// metrics. It is protocol-neutral so that metrics, spans and exporters never name a protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/core/trace_context.h"

namespace loupe {

// The metric instrument a record feeds; each has a fixed, bounded label schema
// (see userspace/metrics/red_metrics.h).
enum class Instrument : uint8_t {
  kHttpServer = 1,  // http.server.request.duration
  kHttpClient = 2,  // http.client.request.duration
  kDbClient = 3,    // db.client.operation.duration
};

enum class SpanKind : uint8_t { kServer = 2, kClient = 3 };

// A resource attribute (OTEL_RESOURCE_ATTRIBUTES and the like): the key comes from outside.
struct Attribute {
  std::string key;
  std::string value;
  bool is_int = false;  // exported as an int attribute (ports, status codes)
};

// An OpenTelemetry semantic-convention attribute a parser learned. Values are already safe to
// export: no secrets, no literals in query text. The key is always a string literal: records
// are built per request, and owning keys such as "http.response.status_code" cost an
// allocation each.
struct SpanAttribute {
  std::string_view key;
  std::string value;
  bool is_int = false;  // exported as an int attribute (ports, status codes)
};

struct Record {
  Instrument instrument = Instrument::kHttpServer;
  SpanKind span_kind = SpanKind::kServer;
  std::string protocol;   // "http1", "postgresql", ... for the agent's own metrics
  // e.g. "GET /users/{id}", "SELECT orders". Parsers may leave it empty when
  // ConnectionInfo::span_attributes is false (no span is built).
  std::string span_name;

  // CLOCK_MONOTONIC nanoseconds.
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;

  bool is_error = false;
  std::string error_type;  // semconv error.type: "500", "42P01", "WRONGTYPE", ...

  // Label values for the instrument's bounded metric schema. Keys are the Prometheus label names
  // of that instrument (e.g. "http_request_method"), always string literals: a record is built
  // per request, and owning the keys cost two allocations each. Missing keys export as "".
  std::vector<std::pair<std::string_view, std::string>> metric_labels;

  // Span attributes (semconv keys, e.g. "http.request.method").
  std::vector<SpanAttribute> attributes;

  // Trace context carried in the request (HTTP traceparent), if any and valid.
  std::optional<TraceContext> incoming_context;
};

// The value of metric label `name`, or "" when the record has none.
inline std::string_view MetricLabel(const Record& record, std::string_view name) {
  for (const auto& [key, value] : record.metric_labels) {
    if (key == name) return value;
  }
  return {};
}

}  // namespace loupe
