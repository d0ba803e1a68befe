// One schema per instrument family: everything Prometheus, OTLP metrics and spans need to know
// about a kind of measurement (HTTP server requests, DB client calls, ...). Parsers fill a
// Record's semantic-convention attributes once; the exporters read the labels from them through
// this table. Adding a family is one entry here (a declaration below, its definition and its
// line in AllInstruments() in instrument_schema.cc).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace loupe {

enum class SpanKind : uint8_t { kServer = 2, kClient = 3 };

// One metric label of a family: a semconv attribute of the record, exported under its
// Prometheus name. A record without the attribute exports the label as "" (absent).
struct LabelKey {
  std::string_view attribute;   // semconv key parsers fill: "http.request.method"
  std::string_view prometheus;  // Prometheus label name: "http_request_method"
  bool is_int = false;          // OTLP exports it as an int (ports, status codes)
};

struct InstrumentSchema {
  std::string_view otel_name;        // "http.server.request.duration"
  std::string_view prometheus_name;  // "http_server_request_duration_seconds"
  std::string_view help;             // Prometheus HELP and OTLP description
  std::string_view unit;             // UCUM unit of the OTLP metric: "s"
  std::span<const double> buckets;   // histogram upper bounds, in `unit` (+Inf implied)
  SpanKind span_kind;                // the kind of the span a record of this family becomes
  std::string_view short_name;       // the agent's own metrics: instrument="http_server"
  std::span<const LabelKey> labels;  // after service_name, in export order
};

// The semconv key of the error label. Its value lives in Record::error_type, not in the
// record's attributes: the span assembler exports it with the span's error status.
inline constexpr std::string_view kErrorTypeAttribute = "error.type";

// The OpenTelemetry default buckets of the HTTP and DB duration instruments, in seconds.
std::span<const double> OtelDurationBucketsSeconds();

namespace instruments {
extern const InstrumentSchema kHttpServer;  // http.server.request.duration
extern const InstrumentSchema kHttpClient;  // http.client.request.duration
extern const InstrumentSchema kDbClient;    // db.client.operation.duration
}  // namespace instruments

// Every family the agent exports, in registration order.
std::span<const InstrumentSchema* const> AllInstruments();

// The family of a Prometheus metric name among `families`, or null.
const InstrumentSchema* FindInstrumentByPrometheusName(
    std::string_view prometheus_name,
    std::span<const InstrumentSchema* const> families = AllInstruments());

// The label of `family` exported under Prometheus name `prometheus`, or null.
const LabelKey* FindLabelByPrometheusName(const InstrumentSchema& family,
                                          std::string_view prometheus);

}  // namespace loupe
