#include "userspace/protocols/redis/redis_parse.h"

#include <cctype>

#include "absl/strings/ascii.h"

namespace loupe::redis {
namespace {

// Reads a signed decimal terminated by CRLF at *pos (just after the type byte).
ParseResult ReadInteger(std::string_view b, size_t* pos, int64_t* out) {
  const size_t end = b.find("\r\n", *pos);
  if (end == std::string_view::npos) {
    // Still digits (or a sign) so far: incomplete; anything else: invalid.
    for (size_t i = *pos; i < b.size(); ++i) {
      const char c = b[i];
      if (!(std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && i == *pos) || (c == '\r' && i + 1 == b.size()))) {
        return ParseResult::kInvalid;
      }
    }
    return b.size() - *pos > 21 ? ParseResult::kInvalid : ParseResult::kIncomplete;
  }
  std::string_view digits = b.substr(*pos, end - *pos);
  bool negative = false;
  if (!digits.empty() && digits[0] == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 18) return ParseResult::kInvalid;
  int64_t v = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return ParseResult::kInvalid;
    v = v * 10 + (c - '0');
  }
  *out = negative ? -v : v;
  *pos = end + 2;
  return ParseResult::kComplete;
}

// A CRLF-terminated line of text at *pos.
ParseResult ReadLine(std::string_view b, size_t* pos, std::string_view* line) {
  const size_t end = b.find("\r\n", *pos);
  if (end == std::string_view::npos) {
    return b.find('\n', *pos) == std::string_view::npos ? ParseResult::kIncomplete : ParseResult::kInvalid;
  }
  *line = b.substr(*pos, end - *pos);
  *pos = end + 2;
  return ParseResult::kComplete;
}

bool IsCommandNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '|';
}

std::string ErrorPrefix(std::string_view message) {
  const size_t space = message.find(' ');
  std::string_view word = message.substr(0, space);
  if (word.size() > 32) word = word.substr(0, 32);
  for (char c : word) {
    if (!std::isupper(static_cast<unsigned char>(c)) && c != '_') return "ERR";  // not a code word
  }
  return word.empty() ? "ERR" : std::string(word);
}

ParseResult ParseArrayCommand(std::string_view b, size_t* pos, Command* cmd) {
  ++*pos;  // '*'
  int64_t n = 0;
  ParseResult r = ReadInteger(b, pos, &n);
  if (r != ParseResult::kComplete) return r;
  if (n < 1 || n > kMaxElements) return ParseResult::kInvalid;
  cmd->argc = static_cast<uint32_t>(n);
  for (int64_t i = 0; i < n; ++i) {
    if (*pos >= b.size()) return ParseResult::kIncomplete;
    if (b[*pos] != '$') return ParseResult::kInvalid;
    ++*pos;
    int64_t len = 0;
    r = ReadInteger(b, pos, &len);
    if (r != ParseResult::kComplete) return r;
    if (len < 0 || len > kMaxBulkBytes) return ParseResult::kInvalid;
    const std::string_view value = b.substr(*pos, static_cast<size_t>(len));
    if (i == 0 || (i == 1 && cmd->name == "SELECT")) {
      // Only the name (and SELECT's small index) are ever kept; other arguments are skipped.
      if (i == 0) {
        if (static_cast<size_t>(len) > kMaxCommandNameBytes) return ParseResult::kInvalid;
        for (char c : value) {
          if (!IsCommandNameChar(c)) return ParseResult::kInvalid;
        }
        if (value.size() < static_cast<size_t>(len)) return ParseResult::kIncomplete;
        cmd->name = absl::AsciiStrToUpper(std::string(value));
      } else if (value.size() == static_cast<size_t>(len) && len <= 4) {
        bool digits = true;
        for (char c : value) digits = digits && std::isdigit(static_cast<unsigned char>(c));
        if (digits) cmd->select_index = std::string(value);
      }
    }
    if (b.size() - *pos < static_cast<size_t>(len) + 2) return ParseResult::kIncomplete;
    *pos += static_cast<size_t>(len);
    if (b.substr(*pos, 2) != "\r\n") return ParseResult::kInvalid;
    *pos += 2;
  }
  cmd->complete = true;
  return ParseResult::kComplete;
}

ParseResult ParseInlineCommand(std::string_view b, size_t* pos, Command* cmd) {
  const size_t end = b.find('\n', *pos);
  std::string_view line = b.substr(*pos, end == std::string_view::npos ? std::string_view::npos : end - *pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t i = 0;
  uint32_t words = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    const std::string_view word = line.substr(start, i - start);
    if (words == 0) {
      if (word.size() > kMaxCommandNameBytes) return ParseResult::kInvalid;
      for (char c : word) {
        if (!IsCommandNameChar(c)) return ParseResult::kInvalid;
      }
      cmd->name = absl::AsciiStrToUpper(std::string(word));
    } else {
      for (char c : word) {
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return ParseResult::kInvalid;
      }
      if (words == 1 && cmd->name == "SELECT" && word.size() <= 4) cmd->select_index = std::string(word);
    }
    ++words;
  }
  cmd->argc = words;
  if (end == std::string_view::npos) return ParseResult::kIncomplete;
  if (words == 0) return ParseResult::kInvalid;
  *pos = end + 1;
  cmd->complete = true;
  return ParseResult::kComplete;
}

}  // namespace

bool IsRespType(char c) {
  switch (c) {
    case '+': case '-': case ':': case '$': case '*': case '_': case '#': case ',': case '(':
    case '!': case '=': case '%': case '~': case '>': case '|':
      return true;
    default:
      return false;
  }
}

ParseResult ParseCommands(std::string_view bytes, std::vector<Command>* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    Command cmd;
    const ParseResult r = bytes[pos] == '*' ? ParseArrayCommand(bytes, &pos, &cmd) : ParseInlineCommand(bytes, &pos, &cmd);
    if (r == ParseResult::kInvalid) return r;
    if (!cmd.name.empty()) out->push_back(std::move(cmd));
    if (r == ParseResult::kIncomplete) return r;
  }
  return ParseResult::kComplete;
}

ParseResult ParseValue(std::string_view b, size_t* pos, int depth, Reply* reply) {
  if (depth > kMaxDepth) return ParseResult::kInvalid;
  if (*pos >= b.size()) return ParseResult::kIncomplete;
  const char type = b[*pos];
  size_t p = *pos + 1;
  std::string_view line;
  int64_t n = 0;
  ParseResult r;
  switch (type) {
    case '+': case ':': case '_': case '#': case ',': case '(':
      r = ReadLine(b, &p, &line);
      if (r != ParseResult::kComplete) return r;
      break;
    case '-':
      r = ReadLine(b, &p, &line);
      if (r != ParseResult::kComplete) return r;
      if (reply != nullptr) {
        reply->is_error = true;
        reply->error_prefix = ErrorPrefix(line);
      }
      break;
    case '$': case '!': case '=': {
      r = ReadInteger(b, &p, &n);
      if (r != ParseResult::kComplete) return r;
      if (n == -1 && type == '$') break;  // RESP2 null bulk
      if (n < 0 || n > kMaxBulkBytes) return ParseResult::kInvalid;
      if (b.size() - p < static_cast<size_t>(n) + 2) return ParseResult::kIncomplete;
      if (type == '!' && reply != nullptr) {
        reply->is_error = true;
        reply->error_prefix = ErrorPrefix(b.substr(p, static_cast<size_t>(n)));
      }
      p += static_cast<size_t>(n);
      if (b.substr(p, 2) != "\r\n") return ParseResult::kInvalid;
      p += 2;
      break;
    }
    case '*': case '~': case '>': case '%': case '|': {
      r = ReadInteger(b, &p, &n);
      if (r != ParseResult::kComplete) return r;
      if (n == -1 && type == '*') break;  // RESP2 null array
      if (n < 0 || n > kMaxElements) return ParseResult::kInvalid;
      const int64_t elements = (type == '%' || type == '|') ? 2 * n : n;
      for (int64_t i = 0; i < elements; ++i) {
        r = ParseValue(b, &p, depth + 1, nullptr);
        if (r != ParseResult::kComplete) return r;
      }
      break;
    }
    default:
      return ParseResult::kInvalid;
  }
  *pos = p;
  return ParseResult::kComplete;
}

ParseResult ParseReplies(std::string_view bytes, std::vector<Reply>* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const char type = bytes[pos];
    Reply reply;
    const ParseResult r = ParseValue(bytes, &pos, 0, &reply);
    if (r != ParseResult::kComplete) return r;
    // Pushes are out-of-band; an attribute only annotates the reply that follows it.
    if (type == '>' || type == '|') continue;
    out->push_back(std::move(reply));
  }
  return ParseResult::kComplete;
}

}  // namespace loupe::redis
