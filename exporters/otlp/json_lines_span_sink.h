// Prints each span as one JSON object per line (for --print_spans debugging).
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "userspace/core/span.h"

namespace loupe {

class JsonLinesSpanSink : public SpanSink {
 public:
  // `out` is not owned and must outlive the sink.
  explicit JsonLinesSpanSink(FILE* out = stdout) : out_(out) {}

  // Writes and flushes one line. This blocks on the stream: a debugging aid, not for production
  // volumes.
  void Consume(Span span) override;

 private:
  std::mutex mu_;  // keeps lines whole when several threads print
  FILE* out_;
};

// The line Consume() writes, without the trailing newline. Keys: trace_id, span_id,
// parent_span_id ("" for roots), name, kind ("SERVER"/"CLIENT"), start_unix_ns, end_unix_ns,
// duration_ns, sampled, status ("ERROR"/"UNSET"), status_message, service_name, resource (the
// resource's identity beyond its service name: service.namespace, container.id, k8s.*; {} on
// the host), attributes.
std::string SpanToJson(const Span& span);

// `s` as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD.
std::string JsonQuote(std::string_view s);

}  // namespace loupe
