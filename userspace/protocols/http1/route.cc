#include "userspace/protocols/http1/route.h"

#include <cstdint>

namespace loupe::http1 {
namespace {

constexpr std::string_view kIdSegment = "{id}";
constexpr size_t kMaxSegmentLength = 48;
constexpr size_t kMinHexIdLength = 8;
constexpr size_t kMinMixedTokenLength = 16;
constexpr size_t kMinDigitsForId = 4;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool LooksLikeId(std::string_view s) {
  if (s == kIdSegment) return false;  // already normalized upstream
  if (s.size() > kMaxSegmentLength) return true;
  size_t digits = 0;
  size_t letters = 0;
  size_t hex = 0;
  for (char c : s) {
    const auto byte = static_cast<uint8_t>(c);
    // Non-printable or non-ASCII bytes: raw UTF-8 or binary junk. Neither is a route word we can
    // safely export as a label.
    if (byte <= 0x20 || byte >= 0x7f) return true;
    if (c == '@') return true;
    if (IsDigit(c)) ++digits;
    if (IsAlpha(c)) ++letters;
    if (IsHex(c)) ++hex;
  }
  if (s.find("%40") != std::string_view::npos) return true;
  if (digits == s.size()) return true;
  if (IsUuid(s)) return true;
  if (hex == s.size() && s.size() >= kMinHexIdLength && digits > 0) return true;
  if (digits >= kMinDigitsForId) return true;
  if (s.size() >= kMinMixedTokenLength && digits > 0 && letters > 0) return true;
  return false;
}

}  // namespace

std::string NormalizeRoute(std::string_view path) {
  const size_t cut = FindQueryOrFragment(path);
  if (cut != std::string_view::npos) path = path.substr(0, cut);

  std::string route;
  route.reserve(kMaxRouteLength);
  size_t segments = 0;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(pos, end - pos);
    pos = end + 1;
    const size_t params = segment.find(';');
    if (params != std::string_view::npos) segment = segment.substr(0, params);
    if (segment.empty()) continue;

    const std::string_view normalized = LooksLikeId(segment) ? kIdSegment : segment;
    // Keep room for the elision marker so the result never exceeds kMaxRouteLength.
    const bool too_many = segments == kMaxRouteSegments;
    const bool too_long =
        route.size() + 1 + normalized.size() + kRouteElided.size() > kMaxRouteLength;
    if (too_many || too_long) {
      route.append(kRouteElided);
      break;
    }
    route.push_back('/');
    route.append(normalized);
    ++segments;
  }
  if (route.empty()) route = "/";
  return route;
}

}  // namespace loupe::http1
