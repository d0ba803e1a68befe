#include "userspace/protocols/postgresql/pg_parse.h"

#include <cctype>

namespace loupe::pg {
namespace {

uint32_t ReadBigEndian32(std::string_view b, size_t pos) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(b[pos])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[pos + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[pos + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[pos + 3]));
}

}  // namespace

StartupKind ClassifyStartup(std::string_view bytes) {
  if (bytes.size() < 8) return StartupKind::kNone;
  const uint32_t len = ReadBigEndian32(bytes, 0);
  const uint32_t code = ReadBigEndian32(bytes, 4);
  if (code == kSslRequest && len == 8) return StartupKind::kSslRequest;
  if (code == kGssEncRequest && len == 8) return StartupKind::kGssEncRequest;
  if (code == kCancelRequest && len == 16) return StartupKind::kCancel;
  // Any 3.x minor version; parameters are name\0value\0 pairs ending with \0.
  if ((code >> 16) == 3 && len >= 9 && len <= 10000) return StartupKind::kStartup;
  return StartupKind::kNone;
}

std::string StartupDatabase(std::string_view bytes) {
  if (ClassifyStartup(bytes) != StartupKind::kStartup) return "";
  const uint32_t len = ReadBigEndian32(bytes, 0);
  std::string_view params = bytes.substr(8, len - 8);
  std::string_view database;
  std::string_view user;
  size_t pos = 0;
  std::string_view key;
  std::string_view value;
  while (ReadCString(params, &pos, &key) && !key.empty() && ReadCString(params, &pos, &value)) {
    if (key == "database") database = value;
    if (key == "user") user = value;
  }
  // The server defaults the database to the user name.
  return std::string(database.empty() ? user : database);
}

bool IsFrontendType(char type) {
  switch (type) {
    case 'Q': case 'P': case 'B': case 'D': case 'E': case 'S': case 'H': case 'C':
    case 'X': case 'p': case 'd': case 'c': case 'f': case 'F':
      return true;
    default:
      return false;
  }
}

bool IsBackendType(char type) {
  switch (type) {
    case 'R': case 'K': case 'S': case 'Z': case 'T': case 'D': case 'C': case 'E':
    case 'N': case 'I': case '1': case '2': case '3': case 'n': case 't': case 's':
    case 'G': case 'H': case 'W': case 'd': case 'c': case 'A': case 'V': case 'v':
      return true;
    default:
      return false;
  }
}

bool SplitMessages(std::string_view bytes, bool frontend, std::vector<Message>* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const char type = bytes[pos];
    if (!(frontend ? IsFrontendType(type) : IsBackendType(type))) return false;
    if (bytes.size() - pos < 5) {
      out->push_back({type, {}, false});
      return true;
    }
    const uint32_t len = ReadBigEndian32(bytes, pos + 1);
    if (len < 4 || len > kMaxMessageLength) return false;
    const size_t body_start = pos + 5;
    const size_t body_len = len - 4;
    if (bytes.size() - body_start < body_len) {
      out->push_back({type, bytes.substr(body_start), false});
      return true;
    }
    out->push_back({type, bytes.substr(body_start, body_len), true});
    pos = body_start + body_len;
  }
  return true;
}

bool ReadCString(std::string_view body, size_t* pos, std::string_view* out) {
  if (*pos > body.size()) return false;
  const size_t nul = body.find('\0', *pos);
  if (nul == std::string_view::npos) return false;
  *out = body.substr(*pos, nul - *pos);
  *pos = nul + 1;
  return true;
}

std::string ErrorSqlState(std::string_view body) {
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    const char field = body[pos++];
    std::string_view value;
    if (!ReadCString(body, &pos, &value)) return "";
    if (field == 'C') {
      for (char c : value) {
        if (!std::isalnum(static_cast<unsigned char>(c))) return "";
      }
      return value.size() == 5 ? std::string(value) : "";
    }
  }
  return "";
}

}  // namespace loupe::pg
