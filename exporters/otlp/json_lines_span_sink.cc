#include "exporters/otlp/json_lines_span_sink.h"

#include "userspace/core/json.h"
#include "userspace/core/resource_attributes.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loupe {
namespace {

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

}  // namespace

std::string JsonQuote(std::string_view s) { return "\"" + JsonEscape(s) + "\""; }

std::string SpanToJson(const Span& span) {
  bool root = true;
  for (uint8_t b : span.parent_span_id) root &= b == 0;
  std::string out = absl::StrCat(
      "{\"trace_id\":\"", Hex(span.trace_id), "\",\"span_id\":\"", Hex(span.span_id),
      "\",\"parent_span_id\":\"", root ? "" : Hex(span.parent_span_id),
      "\",\"name\":", JsonQuote(span.name),
      ",\"kind\":", span.kind == SpanKind::kClient ? "\"CLIENT\"" : "\"SERVER\"",
      ",\"start_unix_ns\":", span.start_unix_ns, ",\"end_unix_ns\":", span.end_unix_ns,
      ",\"duration_ns\":", span.end_unix_ns >= span.start_unix_ns
                               ? span.end_unix_ns - span.start_unix_ns
                               : 0,
      ",\"sampled\":", span.sampled ? "true" : "false",
      ",\"status\":", span.is_error ? "\"ERROR\"" : "\"UNSET\"",
      ",\"status_message\":", JsonQuote(span.status_message),
      ",\"service_name\":", JsonQuote(span.resource ? span.resource->service_name : ""),
      ",\"resource\":{");
  if (span.resource != nullptr) {
    bool first_identity = true;
    for (const Attribute& identity : IdentityAttributes(*span.resource)) {
      if (!first_identity) out += ",";
      first_identity = false;
      absl::StrAppend(&out, JsonQuote(identity.key), ":", JsonQuote(identity.value));
    }
  }
  out += "},\"attributes\":{";
  bool first = true;
  for (const SpanAttribute& attribute : span.attributes) {
    if (!first) out += ",";
    first = false;
    int64_t number = 0;
    absl::StrAppend(&out, JsonQuote(attribute.key), ":",
                    attribute.is_int && absl::SimpleAtoi(attribute.value, &number)
                        ? absl::StrCat(number)
                        : JsonQuote(attribute.value));
  }
  out += "}}";
  return out;
}

void JsonLinesSpanSink::Consume(Span span) {
  std::string line = SpanToJson(span);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace loupe
