// W3C trace context (https://www.w3.org/TR/trace-context/), parsed from a traceparent header.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loupe {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  bool sampled = false;

  // Parses "00-<32 hex>-<16 hex>-<2 hex>" (and future versions' first four fields).
  // Returns nullopt for anything the spec says to ignore (all-zero ids, bad hex, version ff).
  static std::optional<TraceContext> ParseTraceparent(std::string_view header);
  std::string ToTraceparent() const;
};

}  // namespace loupe
