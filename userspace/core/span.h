// A finished span, ready for export. Timestamps are Unix-epoch nanoseconds.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "userspace/core/record.h"
#include "userspace/core/resource.h"

namespace loupe {

struct Span {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};  // all zero for a root span
  bool sampled = true;
  SpanKind kind = SpanKind::kServer;
  std::string name;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  bool is_error = false;
  std::string status_message;
  std::vector<SpanAttribute> attributes;
  std::shared_ptr<const ProcessResource> resource;
};

// Where finished spans go (OTLP exporter, JSON-lines debug printer, tests).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  // Must not block the event thread: implementations queue (bounded) and count drops.
  virtual void Consume(Span span) = 0;
};

}  // namespace loupe
