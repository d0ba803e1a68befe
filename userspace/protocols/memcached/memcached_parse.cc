#include "userspace/protocols/memcached/memcached_parse.h"

#include <cctype>

namespace loupe::memcached {
namespace {

struct KnownCommand {
  std::string_view name;
  Kind kind;
};

constexpr KnownCommand kCommands[] = {
    {"get", Kind::kRetrieval},  {"gets", Kind::kRetrieval},  {"gat", Kind::kRetrieval},
    {"gats", Kind::kRetrieval}, {"set", Kind::kStorage},     {"add", Kind::kStorage},
    {"replace", Kind::kStorage}, {"append", Kind::kStorage}, {"prepend", Kind::kStorage},
    {"cas", Kind::kStorage},    {"delete", Kind::kSimple},   {"incr", Kind::kSimple},
    {"decr", Kind::kSimple},    {"touch", Kind::kSimple},    {"flush_all", Kind::kSimple},
    {"version", Kind::kSimple}, {"verbosity", Kind::kSimple}, {"stats", Kind::kStats},
    {"quit", Kind::kQuit},
};

std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < 64) {
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool ParseUnsigned(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// A command word: lower-case letters and '_' (memcached's commands are all lower-case).
bool IsCommandWord(std::string_view w) {
  if (w.empty() || w.size() > 32) return false;
  for (char c : w) {
    if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// The line at *pos without its line end; kIncomplete when no '\n' is visible yet.
ParseResult ReadLine(std::string_view b, size_t* pos, std::string_view* line) {
  const size_t nl = b.find('\n', *pos);
  if (nl == std::string_view::npos) {
    return b.size() - *pos > kMaxLineBytes ? ParseResult::kInvalid : ParseResult::kIncomplete;
  }
  if (nl - *pos > kMaxLineBytes) return ParseResult::kInvalid;
  *line = b.substr(*pos, nl - *pos);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *pos = nl + 1;
  return ParseResult::kComplete;
}

std::string ErrorType(std::string_view line) {
  for (std::string_view e : {std::string_view("CLIENT_ERROR"), std::string_view("SERVER_ERROR"), std::string_view("ERROR")}) {
    if (line.substr(0, e.size()) == e && (line.size() == e.size() || line[e.size()] == ' ')) return std::string(e);
  }
  return "";
}

bool IsSimpleReplyLine(std::string_view line) {
  static constexpr std::string_view kWords[] = {"STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED",
                                                "TOUCHED", "OK", "END"};
  for (std::string_view w : kWords) {
    if (line == w) return true;
  }
  uint64_t n = 0;
  if (ParseUnsigned(line, &n)) return true;  // incr/decr
  if (line.substr(0, 8) == "VERSION ") return true;
  return !ErrorType(line).empty();
}

}  // namespace

bool IsBinaryProtocol(std::string_view bytes) {
  return !bytes.empty() && (static_cast<unsigned char>(bytes[0]) == 0x80 || static_cast<unsigned char>(bytes[0]) == 0x81);
}

ParseResult ParseCommands(std::string_view bytes, std::vector<Command>* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view line;
    const size_t line_start = pos;
    const ParseResult r = ReadLine(bytes, &pos, &line);
    if (r == ParseResult::kInvalid) return r;
    if (r == ParseResult::kIncomplete) {
      // The line is cut: name the command if its first word is whole (followed by a space).
      const std::string_view rest = bytes.substr(line_start);
      const size_t space = rest.find(' ');
      std::string_view word = rest.substr(0, space);
      if (!word.empty() && word.back() == '\r') word.remove_suffix(1);
      if (!word.empty() && !IsCommandWord(word)) return ParseResult::kInvalid;
      if (space != std::string_view::npos) {
        Command cmd;
        cmd.name = std::string(word);
        for (const auto& k : kCommands) {
          if (k.name == word) {
            cmd.known = true;
            cmd.kind = k.kind;
          }
        }
        out->push_back(std::move(cmd));
      }
      return ParseResult::kIncomplete;
    }
    const std::vector<std::string_view> tokens = Tokens(line);
    if (tokens.empty() || !IsCommandWord(tokens[0])) return ParseResult::kInvalid;
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20) return ParseResult::kInvalid;
    }
    Command cmd;
    cmd.name = std::string(tokens[0]);
    for (const auto& k : kCommands) {
      if (k.name == tokens[0]) {
        cmd.known = true;
        cmd.kind = k.kind;
      }
    }
    cmd.noreply = tokens.size() > 1 && tokens.back() == "noreply";
    cmd.args = static_cast<uint32_t>(tokens.size() - 1 - (cmd.noreply ? 1 : 0));
    if (cmd.kind == Kind::kStorage) {
      // <cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply], then <data>\r\n.
      uint64_t data_bytes = 0;
      if (tokens.size() >= 5 && ParseUnsigned(tokens[4], &data_bytes)) {
        if (data_bytes > kMaxDataBytes) return ParseResult::kInvalid;
        if (bytes.size() - pos < data_bytes + 2) {
          out->push_back(std::move(cmd));
          return ParseResult::kIncomplete;
        }
        if (bytes.substr(pos + data_bytes, 2) != "\r\n") return ParseResult::kInvalid;
        pos += data_bytes + 2;
      }
      // A malformed storage line has no data block: the server answers CLIENT_ERROR.
    }
    cmd.complete = true;
    out->push_back(std::move(cmd));
  }
  return ParseResult::kComplete;
}

ParseResult ParseReply(std::string_view b, size_t* pos, const Command& command, Reply* reply) {
  size_t p = *pos;
  std::string_view line;
  if (command.kind == Kind::kRetrieval || command.kind == Kind::kStats) {
    while (true) {
      const ParseResult r = ReadLine(b, &p, &line);
      if (r != ParseResult::kComplete) return r;
      if (line == "END") break;
      const std::string error = ErrorType(line);
      if (!error.empty()) {
        reply->error_type = error;
        break;
      }
      if (command.kind == Kind::kStats) {
        if (line.substr(0, 5) != "STAT ") return ParseResult::kInvalid;
        continue;
      }
      // VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n
      const std::vector<std::string_view> t = Tokens(line);
      uint64_t n = 0;
      if (t.size() < 4 || t[0] != "VALUE" || !ParseUnsigned(t[3], &n) || n > kMaxDataBytes) {
        return ParseResult::kInvalid;
      }
      if (b.size() - p < n + 2) return ParseResult::kIncomplete;
      if (b.substr(p + n, 2) != "\r\n") return ParseResult::kInvalid;
      p += n + 2;
    }
  } else {
    const ParseResult r = ReadLine(b, &p, &line);
    if (r != ParseResult::kComplete) return r;
    if (!IsSimpleReplyLine(line)) return ParseResult::kInvalid;
    reply->error_type = ErrorType(line);
  }
  *pos = p;
  return ParseResult::kComplete;
}

ParseResult ParseAnyReply(std::string_view b, size_t* pos) {
  size_t p = *pos;
  std::string_view line;
  const ParseResult r = ReadLine(b, &p, &line);
  if (r != ParseResult::kComplete) return r;
  Command command;
  if (line == "END" || line.substr(0, 6) == "VALUE ") {
    command.kind = Kind::kRetrieval;
  } else if (line.substr(0, 5) == "STAT ") {
    command.kind = Kind::kStats;
  }
  Reply reply;
  return ParseReply(b, pos, command, &reply);
}

}  // namespace loupe::memcached
