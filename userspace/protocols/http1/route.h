// Turns a request path into a low-cardinality route for metric labels and span names.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace loupe::http1 {

// Bounds on a normalized route. Past kMaxRouteSegments segments, or when the next segment would
// take the route past kMaxRouteLength bytes, the rest is replaced by "/{...}".
inline constexpr size_t kMaxRouteSegments = 8;
inline constexpr size_t kMaxRouteLength = 128;
inline constexpr std::string_view kRouteElided = "/{...}";

// Normalizes a path (origin-form request target) so that the set of routes a service produces
// stays small:
//   - the query string ("?...") and fragment ("#...") are dropped, and so are path parameters
//     after ';' in a segment (";jsessionid=...");
//   - repeated and trailing slashes are collapsed; an empty path becomes "/";
//   - a segment that looks like an identifier becomes "{id}": all digits, a UUID, 8+ hex
//     characters with at least one digit, 4+ digits mixed with other characters ("INV-2024-001"),
//     16+ characters mixing letters and digits (tokens, base64), anything over 48 bytes, an
//     e-mail address ('@' or "%40"), and any segment with bytes outside printable ASCII
//     (labels must stay valid UTF-8 and bounded);
//   - at most kMaxRouteSegments segments and about kMaxRouteLength bytes are kept.
// The result always starts with '/' and is at most kMaxRouteLength bytes long.
std::string NormalizeRoute(std::string_view path);

// Offset of the first '?' or '#' in s, or npos. One pass: string_view::find_first_of("?#")
// searches the two-byte set with a memchr call per byte of s, and that was a tenth of parsing.
inline size_t FindQueryOrFragment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '?' || s[i] == '#') return i;
  }
  return std::string_view::npos;
}

}  // namespace loupe::http1
