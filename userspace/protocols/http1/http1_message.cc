#include "userspace/protocols/http1/http1_message.h"

#include <array>
#include <cstring>

#include "userspace/protocols/http1/field_scan.h"

namespace loupe::http1 {
namespace {

constexpr size_t kMaxMethodLength = 24;
constexpr std::string_view kVersionPrefix = "HTTP/1.";
// Larger lengths are not real traffic; refusing them also keeps offset arithmetic far from
// overflow.
constexpr uint64_t kMaxContentLength = uint64_t{1} << 48;
constexpr size_t kMaxChunkSizeDigits = 12;

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

bool IsTargetChar(char c) {
  const auto byte = static_cast<uint8_t>(c);
  return byte > 0x20 && byte != 0x7f;  // bytes >= 0x80 are tolerated: clients send raw UTF-8
}

// A field name (token bytes only, as ParseFields guarantees) against a name in lowercase letters
// and '-'. Among token bytes, OR 0x20 maps exactly A-Z onto a-z and leaves '-' as it is, so one
// OR per byte replaces a case-folding compare; eight bytes at a time where the name allows.
bool NameIs(std::string_view name, std::string_view lowercase) {
  if (name.size() != lowercase.size()) return false;
  constexpr uint64_t kFold = 0x2020202020202020ull;
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, name.data() + i, sizeof(a));
    std::memcpy(&b, lowercase.data() + i, sizeof(b));
    if ((a | kFold) != b) return false;
  }
  for (; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lowercase[i]) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One line of bytes starting at pos. `complete` is false when no LF was found.
struct Line {
  std::string_view text;  // without CRLF / LF
  size_t next = 0;        // offset after the LF
  bool complete = false;
};

Line ReadLine(std::string_view bytes, size_t pos) {
  Line line;
  const size_t lf = bytes.find('\n', pos);
  if (lf == std::string_view::npos) {
    line.text = bytes.substr(pos);
    // Cut between CR and LF: the CR belongs to the line ending, not to the line.
    if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1);
    line.next = bytes.size();
    return line;
  }
  line.text = bytes.substr(pos, lf - pos);
  if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1);
  line.next = lf + 1;
  line.complete = true;
  return line;
}

// Parses "12" or "12, 12" (RFC 9110 section 8.6 allows repeated identical values).
std::optional<uint64_t> ParseContentLength(std::string_view value) {
  std::optional<uint64_t> result;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view item = TrimOws(value.substr(0, comma));
    if (item.empty()) return std::nullopt;
    uint64_t n = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(c - '0');
      if (n > kMaxContentLength) return std::nullopt;
    }
    if (result.has_value() && *result != n) return std::nullopt;
    result = n;
    if (comma == std::string_view::npos) return result;
    value.remove_prefix(comma + 1);
  }
}

std::string_view LastListItem(std::string_view value) {
  const size_t comma = value.rfind(',');
  return TrimOws(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

bool ListContains(std::string_view value, std::string_view token) {
  while (true) {
    const size_t comma = value.find(',');
    if (EqualsIgnoreCase(TrimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

// Header fields both heads care about; the caller copies what applies.
struct Fields {
  std::string_view host;
  std::string_view user_agent;
  std::string_view traceparent;
  int traceparent_count = 0;
  std::optional<uint64_t> content_length;
  bool has_transfer_encoding = false;
  bool chunked = false;
  bool connection_close = false;
};

// Stores a field the heads care about. Returns false when its value is malformed.
bool StoreField(std::string_view name, std::string_view value, Fields* fields,
                bool* saw_content_length) {
  // Dispatch on the length first: most fields are none of these and cost one switch.
  switch (name.size()) {
    case 4:
      if (NameIs(name, "host")) fields->host = value;
      return true;
    case 10:
      if (NameIs(name, "user-agent")) {
        fields->user_agent = value;
      } else if (NameIs(name, "connection")) {
        fields->connection_close = fields->connection_close || ListContains(value, "close");
      }
      return true;
    case 11:
      if (NameIs(name, "traceparent")) {
        fields->traceparent = value;
        ++fields->traceparent_count;
      }
      return true;
    case 14:
      if (NameIs(name, "content-length")) {
        const std::optional<uint64_t> n = ParseContentLength(value);
        if (!n.has_value()) return false;
        if (*saw_content_length && fields->content_length != n) return false;
        *saw_content_length = true;
        fields->content_length = n;
      }
      return true;
    case 17:
      if (NameIs(name, "transfer-encoding")) {
        fields->has_transfer_encoding = true;
        fields->chunked = EqualsIgnoreCase(LastListItem(value), "chunked");
      }
      return true;
    default:
      return true;
  }
}

// Reads header lines from pos up to the blank line. Returns the state and sets *end to the offset
// after the blank line when complete. A line without its LF is never judged (its bytes may be cut
// anywhere): it makes the head kTruncated even if what was seen of it is malformed.
HeadState ParseFields(std::string_view bytes, size_t pos, Fields* fields, size_t* end) {
  const char* data = bytes.data();
  const size_t size = bytes.size();
  bool saw_content_length = false;
  while (pos < size) {
    // field-name: token bytes up to the colon, in one pass.
    const size_t i = SkipTokenBytes(data, pos, size);
    if (i == size) return HeadState::kTruncated;
    if (data[i] != ':' || i == pos) {
      // Not "name:": the blank line ending the head, an obsolete folded continuation, or junk.
      const Line line = ReadLine(bytes, pos);
      if (!line.complete) return HeadState::kTruncated;
      if (line.text.empty()) {
        *end = line.next;
        return HeadState::kComplete;
      }
      if (line.text.front() != ' ' && line.text.front() != '\t') return HeadState::kInvalid;
      pos = line.next;  // obsolete line folding: the continuation is ignored
      continue;
    }
    const std::string_view name(data + pos, i - pos);
    // field-value: finding the line end and validating the bytes are one scan, since LF, CR and
    // every byte a value may not hold are all control bytes.
    const size_t value_start = i + 1;
    size_t value_end = value_start;
    while (true) {
      value_end = FindControlByte(data, value_end, size);
      if (value_end == size) return HeadState::kTruncated;
      if (data[value_end] != '\t') break;
      ++value_end;
    }
    size_t next = value_end + 1;  // after the LF
    if (data[value_end] == '\r') {
      if (next == size) return HeadState::kTruncated;  // cut between CR and LF
      if (data[next] == '\n') ++next;
      else next = 0;                                    // a CR inside the value
    } else if (data[value_end] != '\n') {
      next = 0;                                         // another control byte
    }
    if (next == 0) {
      // Malformed, but only judged once the line is known to be whole.
      return std::memchr(data + value_end, '\n', size - value_end) != nullptr
                 ? HeadState::kInvalid
                 : HeadState::kTruncated;
    }
    const std::string_view value =
        TrimOws(std::string_view(data + value_start, value_end - value_start));
    if (!StoreField(name, value, fields, &saw_content_length)) return HeadState::kInvalid;
    pos = next;
  }
  return HeadState::kTruncated;
}

// Checks "HTTP/1.0" / "HTTP/1.1" (or, when `partial`, a prefix of it). Returns the minor version,
// -1 for a consistent prefix, -2 for a mismatch.
int MatchVersion(std::string_view text, bool partial) {
  const size_t n = text.size() < kVersionPrefix.size() ? text.size() : kVersionPrefix.size();
  if (text.substr(0, n) != kVersionPrefix.substr(0, n)) return -2;
  if (text.size() <= kVersionPrefix.size()) return partial ? -1 : -2;
  if (text.size() != kVersionPrefix.size() + 1) return -2;
  const char minor = text.back();
  if (minor != '0' && minor != '1') return -2;
  return minor - '0';
}

}  // namespace


bool IsKnownMethod(std::string_view method) {
  static constexpr std::array<std::string_view, 9> kMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view known : kMethods) {
    if (method == known) return true;
  }
  return false;
}

std::string_view NormalizeMethod(std::string_view method) {
  return IsKnownMethod(method) ? method : std::string_view("_OTHER");
}

bool ResponseHasNoBody(std::string_view method, int status) {
  if (method == "HEAD") return true;
  if (status < 200 || status == 204 || status == 304) return true;
  return method == "CONNECT" && status < 300;
}

RequestHead ParseRequestHead(std::string_view bytes) {
  RequestHead head;
  size_t pos = 0;
  while (pos < bytes.size() && (bytes[pos] == '\r' || bytes[pos] == '\n')) ++pos;
  if (pos == bytes.size()) {
    head.state = HeadState::kTruncated;
    return head;
  }
  const Line line = ReadLine(bytes, pos);
  std::string_view rest = line.text;

  // method SP
  size_t i = 0;
  while (i < rest.size() && i <= kMaxMethodLength && IsTokenChar(rest[i])) ++i;
  if (i > kMaxMethodLength) return head;
  if (i == rest.size()) {
    // Still inside the method token.
    if (line.complete) return head;
    head.state = HeadState::kTruncated;
    return head;
  }
  if (i == 0 || rest[i] != ' ') return head;
  head.method = rest.substr(0, i);
  rest.remove_prefix(i + 1);

  // request-target SP
  i = 0;
  while (i < rest.size() && IsTargetChar(rest[i])) ++i;
  head.target = rest.substr(0, i);
  if (i == rest.size()) {
    if (line.complete) return head;  // no version: not HTTP/1.x (e.g. a Redis inline command)
    head.state = HeadState::kTruncated;
    return head;
  }
  if (i == 0 || rest[i] != ' ') return head;
  head.target_complete = true;
  rest.remove_prefix(i + 1);

  // HTTP-version
  const int minor = MatchVersion(rest, !line.complete);
  if (minor == -2) return head;
  if (!line.complete) {
    head.version_minor = minor;
    head.state = HeadState::kTruncated;
    return head;
  }
  head.version_minor = minor;

  Fields fields;
  size_t end = 0;
  head.state = ParseFields(bytes, line.next, &fields, &end);
  if (head.state == HeadState::kInvalid) return head;
  head.host = fields.host;
  head.user_agent = fields.user_agent;
  head.traceparent = fields.traceparent;
  head.traceparent_count = fields.traceparent_count;
  head.content_length = fields.content_length;
  head.chunked = fields.chunked;
  if (fields.has_transfer_encoding && !fields.chunked) {
    // A request body's length must be knowable (RFC 9112 section 6.3).
    head.state = HeadState::kInvalid;
    return head;
  }
  if (head.chunked) head.content_length.reset();
  if (head.state == HeadState::kComplete) head.head_size = end;
  return head;
}

ResponseHead ParseResponseHead(std::string_view bytes) {
  ResponseHead head;
  const Line line = ReadLine(bytes, 0);
  const std::string_view text = line.text;
  const size_t version_end = text.find(' ');
  if (version_end == std::string_view::npos) {
    if (line.complete || MatchVersion(text, /*partial=*/true) == -2) return head;
    head.state = HeadState::kTruncated;
    return head;
  }
  head.version_minor = MatchVersion(text.substr(0, version_end), /*partial=*/false);
  if (head.version_minor < 0) return head;

  // status-code = 3DIGIT, then SP reason-phrase (possibly empty, or absent entirely)
  const std::string_view after = text.substr(version_end + 1);
  int status = 0;
  size_t digits = 0;
  while (digits < after.size() && digits < 3 && after[digits] >= '0' && after[digits] <= '9') {
    status = status * 10 + (after[digits] - '0');
    ++digits;
  }
  if (digits < after.size() && (digits < 3 || after[digits] != ' ')) return head;
  if (digits < 3) {
    if (line.complete) return head;
    head.state = HeadState::kTruncated;
    return head;
  }
  if (status < 100) return head;
  if (!line.complete) {
    head.state = HeadState::kTruncated;
    return head;
  }
  head.status = status;

  Fields fields;
  size_t end = 0;
  head.state = ParseFields(bytes, line.next, &fields, &end);
  if (head.state == HeadState::kInvalid) return head;
  head.chunked = fields.chunked;
  head.connection_close = fields.connection_close;
  // Transfer-Encoding overrides Content-Length; a non-chunked coding means "read until close".
  if (!fields.has_transfer_encoding) head.content_length = fields.content_length;
  if (head.state == HeadState::kComplete) head.head_size = end;
  return head;
}

ChunkedScan ScanChunkedBody(std::string_view bytes) {
  ChunkedScan scan;
  size_t pos = 0;
  while (true) {
    const Line size_line = ReadLine(bytes, pos);
    uint64_t size = 0;
    size_t digits = 0;
    for (char c : size_line.text) {
      int value = -1;
      if (c >= '0' && c <= '9') value = c - '0';
      if (c >= 'a' && c <= 'f') value = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') value = c - 'A' + 10;
      if (value < 0) break;
      if (++digits > kMaxChunkSizeDigits) return scan;
      size = size * 16 + static_cast<uint64_t>(value);
    }
    if (!size_line.complete) {
      scan.state = HeadState::kTruncated;
      return scan;
    }
    if (digits == 0) return scan;
    const char after = digits < size_line.text.size() ? size_line.text[digits] : ';';
    if (after != ';' && after != ' ' && after != '\t') return scan;  // chunk extensions only
    pos = size_line.next;

    if (size == 0) {
      // Trailer section: field lines up to a blank line.
      while (true) {
        const Line trailer = ReadLine(bytes, pos);
        if (!trailer.complete) {
          scan.state = HeadState::kTruncated;
          return scan;
        }
        pos = trailer.next;
        if (trailer.text.empty()) {
          scan.state = HeadState::kComplete;
          scan.size = pos;
          return scan;
        }
      }
    }
    if (size > bytes.size() - pos) {
      scan.state = HeadState::kTruncated;
      return scan;
    }
    pos += static_cast<size_t>(size);
    const std::string_view tail = bytes.substr(pos, 2);
    if (tail == "\r\n") {
      pos += 2;
    } else if (!tail.empty() && tail[0] == '\n') {
      pos += 1;
    } else if (tail.empty() || tail == "\r") {
      scan.state = HeadState::kTruncated;
      return scan;
    } else {
      return scan;
    }
  }
}

}  // namespace loupe::http1
