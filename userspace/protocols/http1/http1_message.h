// Parsing of HTTP/1.x message heads (request line / status line and header fields) and chunked
// bodies from bounded byte prefixes. Views point into the caller's bytes. Nothing here allocates
// or throws; malformed input yields kInvalid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace loupe::http1 {

enum class HeadState : uint8_t {
  kComplete = 0,   // the head ended (blank line) inside the bytes
  kTruncated = 1,  // the bytes end inside the head; what was seen is consistent with HTTP/1.x
  kInvalid = 2,    // not HTTP/1.x, or malformed framing
};

struct RequestHead {
  HeadState state = HeadState::kInvalid;
  std::string_view method;  // empty when the bytes end inside the method token
  std::string_view target;  // what was seen of the request target
  bool target_complete = false;
  int version_minor = -1;   // 0 or 1; -1 while the request line is cut
  std::string_view host;
  std::string_view user_agent;
  std::string_view traceparent;
  int traceparent_count = 0;  // more than one makes the context invalid (W3C)
  std::optional<uint64_t> content_length;
  bool chunked = false;
  size_t head_size = 0;  // bytes of the head including its blank line, when kComplete
};

struct ResponseHead {
  HeadState state = HeadState::kInvalid;
  int version_minor = -1;
  int status = 0;  // known (non-zero) once the status line is whole, even if headers are cut
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool connection_close = false;
  size_t head_size = 0;  // when kComplete
};

// Parses one request head from the start of bytes. Leading empty lines are skipped (RFC 9112
// section 2.2) and counted in head_size.
RequestHead ParseRequestHead(std::string_view bytes);

// Parses one response head from the start of bytes.
ResponseHead ParseResponseHead(std::string_view bytes);

struct ChunkedScan {
  HeadState state = HeadState::kInvalid;
  size_t size = 0;  // bytes of the chunked body incl. last chunk and trailers, when kComplete
};

// Walks a chunked body (RFC 9112 section 7.1) that starts at bytes[0].
ChunkedScan ScanChunkedBody(std::string_view bytes);

// True for a token character (RFC 9110 section 5.6.2).
constexpr bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// True for the methods defined in RFC 9110 (GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE) and
// PATCH (RFC 5789). Case-sensitive, as methods are.
bool IsKnownMethod(std::string_view method);

// The method as exported: a known method passes through, anything else becomes "_OTHER".
std::string_view NormalizeMethod(std::string_view method);

// Whether a final response to `method` with `status` carries no body regardless of its headers
// (RFC 9112 section 6.3: HEAD, 1xx, 204, 304, 2xx to CONNECT).
bool ResponseHasNoBody(std::string_view method, int status);

}  // namespace loupe::http1
