#include "userspace/core/trace_context.h"

#include <cstddef>

namespace loupe {
namespace {

constexpr size_t kVersion00Size = 55;  // "00-" 32 "-" 16 "-" 2

// The spec allows only lowercase hex in every field.
int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes text.size()/2 bytes into out; false on any non-lowercase-hex character.
template <size_t N>
bool DecodeHex(std::string_view text, std::array<uint8_t, N>* out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int hi = LowerHexValue(text[2 * i]);
    const int lo = LowerHexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
void AppendHex(const std::array<uint8_t, N>& bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t b : bytes) {
    out->push_back(kDigits[b >> 4]);
    out->push_back(kDigits[b & 0xf]);
  }
}

}  // namespace

std::optional<TraceContext> TraceContext::ParseTraceparent(std::string_view header) {
  if (header.size() < kVersion00Size) return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!DecodeHex(header.substr(0, 2), &version) || version[0] == 0xff) return std::nullopt;
  // Version 00 has exactly four fields. A later version may append fields after a '-', and a
  // parser that knows only 00 must still read the first four.
  if (version[0] == 0x00 && header.size() != kVersion00Size) return std::nullopt;
  if (header.size() > kVersion00Size && header[kVersion00Size] != '-') return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;

  TraceContext context;
  std::array<uint8_t, 1> flags{};
  if (!DecodeHex(header.substr(3, 32), &context.trace_id) ||
      !DecodeHex(header.substr(36, 16), &context.span_id) ||
      !DecodeHex(header.substr(53, 2), &flags)) {
    return std::nullopt;
  }
  if (AllZero(context.trace_id) || AllZero(context.span_id)) return std::nullopt;
  context.sampled = (flags[0] & 0x01) != 0;
  return context;
}

std::string TraceContext::ToTraceparent() const {
  std::string out;
  out.reserve(kVersion00Size);
  out.append("00-");
  AppendHex(trace_id, &out);
  out.push_back('-');
  AppendHex(span_id, &out);
  out.append(sampled ? "-01" : "-00");
  return out;
}

}  // namespace loupe
