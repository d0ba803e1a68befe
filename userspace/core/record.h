// A Record is what a protocol parser makes of one request/response: the input to spans and
// metrics. It is protocol-neutral so that metrics, spans and exporters never name a protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/core/instrument_schema.h"
#include "userspace/core/trace_context.h"

namespace loupe {

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
  // The family the record feeds (metric, labels, span kind); never null.
  const InstrumentSchema* instrument = &instruments::kHttpServer;
  std::string protocol;   // "http1", "postgresql", ... for the agent's own metrics
  // e.g. "GET /users/{id}", "SELECT orders". Parsers may leave it empty when
  // ConnectionInfo::span_attributes is false (no span is built).
  std::string span_name;

  // CLOCK_MONOTONIC nanoseconds.
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;

  bool is_error = false;
  // semconv error.type: "500", "42P01", "WRONGTYPE", ... The error_type metric label reads it,
  // and the span assembler exports it as the span's error.type attribute and status message.
  std::string error_type;

  // Semantic-convention attributes (keys such as "http.request.method"), each value once: spans
  // export them, and the metric labels of `instrument` are read from them (LabelValue). When
  // ConnectionInfo::span_attributes is false, parsers may fill only the attributes the labels
  // need.
  std::vector<SpanAttribute> attributes;

  SpanKind span_kind() const { return instrument->span_kind; }

  // Trace context carried in the request (HTTP traceparent), if any and valid.
  std::optional<TraceContext> incoming_context;
};

// The value of semconv attribute `key` in the record, or "" when it has none. error.type is the
// record's error_type.
inline std::string_view AttributeValue(const Record& record, std::string_view key) {
  if (key == kErrorTypeAttribute) return record.error_type;
  for (const SpanAttribute& attribute : record.attributes) {
    if (attribute.key == key) return attribute.value;
  }
  return {};
}

// The value of metric label `label` of the record's family ("" exports as absent).
inline std::string_view LabelValue(const Record& record, const LabelKey& label) {
  return AttributeValue(record, label.attribute);
}

// The value of the label its family exports under Prometheus name `prometheus_name`, or "" when
// the record has none (or its family no such label).
inline std::string_view MetricLabel(const Record& record, std::string_view prometheus_name) {
  const LabelKey* label = FindLabelByPrometheusName(*record.instrument, prometheus_name);
  return label == nullptr ? std::string_view() : LabelValue(record, *label);
}

// Every metric label of the record: (Prometheus name, value), in its family's export order.
inline std::vector<std::pair<std::string_view, std::string_view>> MetricLabels(
    const Record& record) {
  std::vector<std::pair<std::string_view, std::string_view>> labels;
  for (const LabelKey& label : record.instrument->labels) {
    labels.emplace_back(label.prometheus, LabelValue(record, label));
  }
  return labels;
}

}  // namespace loupe
