#include "userspace/protocols/mysql/mysql_parse.h"

#include <cctype>

namespace loupe::mysql {
namespace {

uint32_t Le(std::string_view b, size_t pos, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[pos + i])) << (8 * i);
  return v;
}

// Length-encoded integer at *pos; false when cut or invalid.
bool ReadLenenc(std::string_view b, size_t* pos, uint64_t* out) {
  if (*pos >= b.size()) return false;
  const unsigned char first = static_cast<unsigned char>(b[*pos]);
  size_t n = 0;
  if (first < 0xfb) {
    *out = first;
    *pos += 1;
    return true;
  }
  if (first == 0xfc) n = 2;
  else if (first == 0xfd) n = 3;
  else if (first == 0xfe) n = 8;
  else return false;
  if (b.size() - *pos - 1 < n) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[*pos + 1 + i])) << (8 * i);
  *out = v;
  *pos += 1 + n;
  return true;
}

// Terminator of a column or row list: EOF (0xfe, short) or an OK packet with the 0xfe header.
bool IsEofPacket(const Packet& p) {
  return !p.payload.empty() && static_cast<unsigned char>(p.payload[0]) == 0xfe && p.length < 9;
}
bool IsErrPacket(const Packet& p) { return !p.payload.empty() && static_cast<unsigned char>(p.payload[0]) == 0xff; }

}  // namespace

std::vector<Packet> SplitPackets(std::string_view bytes) {
  std::vector<Packet> out;
  size_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    Packet p;
    p.length = Le(bytes, pos, 3);
    p.seq = static_cast<uint8_t>(bytes[pos + 3]);
    const size_t start = pos + kHeaderBytes;
    const size_t available = bytes.size() - start;
    p.complete = available >= p.length;
    p.payload = bytes.substr(start, p.complete ? p.length : available);
    out.push_back(p);
    if (!p.complete) break;
    pos = start + p.length;
  }
  if (pos < bytes.size() && (out.empty() || out.back().complete)) {
    out.push_back(Packet{0, 0xffffffff, {}, false});  // a header cut short
  }
  return out;
}

bool ParseGreeting(std::string_view bytes, std::string* version) {
  const std::vector<Packet> packets = SplitPackets(bytes);
  if (packets.empty() || packets[0].seq != 0 || packets[0].payload.size() < 2) return false;
  const std::string_view p = packets[0].payload;
  if (p[0] != 0x0a) return false;
  const size_t nul = p.find('\0', 1);
  if (nul == std::string_view::npos || nul == 1 || nul > 64) return false;
  for (size_t i = 1; i < nul; ++i) {
    if (!std::isprint(static_cast<unsigned char>(p[i]))) return false;
  }
  *version = std::string(p.substr(1, nul - 1));
  return true;
}

std::string HandshakeDatabase(std::string_view p) {
  if (p.size() < 32) return "";
  const uint32_t caps = Le(p, 0, 4);
  if ((caps & kClientProtocol41) == 0 || (caps & kClientConnectWithDb) == 0) return "";
  size_t pos = 32;
  const size_t user_end = p.find('\0', pos);
  if (user_end == std::string_view::npos) return "";
  pos = user_end + 1;
  uint64_t auth_len = 0;
  if (caps & kClientPluginAuthLenencData) {
    if (!ReadLenenc(p, &pos, &auth_len)) return "";
  } else if (caps & kClientSecureConnection) {
    if (pos >= p.size()) return "";
    auth_len = static_cast<unsigned char>(p[pos++]);
  } else {
    const size_t end = p.find('\0', pos);
    if (end == std::string_view::npos) return "";
    auth_len = end + 1 - pos;
  }
  if (auth_len > p.size() - pos) return "";
  pos += auth_len;
  const size_t db_end = p.find('\0', pos);
  if (db_end == std::string_view::npos) return "";
  return std::string(p.substr(pos, db_end - pos));
}

ResponseSummary SummarizeResponse(const std::vector<Packet>& packets, bool prepare) {
  ResponseSummary s;
  if (packets.empty() || packets[0].payload.empty()) return s;
  const Packet& first = packets[0];
  const unsigned char head = static_cast<unsigned char>(first.payload[0]);
  if (head == 0xff) {
    s.kind = ResponseKind::kErr;
    if (first.payload.size() >= 3) s.error_code = static_cast<uint16_t>(Le(first.payload, 1, 2));
    s.complete = first.complete;
    return s;
  }
  if (head == 0x00 && prepare) {
    s.kind = ResponseKind::kPrepareOk;
    if (first.payload.size() >= 5) s.statement_id = Le(first.payload, 1, 4);
    s.complete = first.complete && first.payload.size() >= 5;  // the definitions that follow don't matter
    return s;
  }
  if (head == 0x00) {
    s.kind = ResponseKind::kOk;
    s.complete = first.complete;
    return s;
  }
  if (IsEofPacket(first)) {
    s.kind = ResponseKind::kEof;
    s.complete = first.complete;
    return s;
  }
  // A result set: column count, column definitions, [EOF], rows, EOF/OK (or ERR).
  size_t pos = 0;
  uint64_t columns = 0;
  if (!ReadLenenc(first.payload, &pos, &columns) || columns == 0) return s;
  s.kind = ResponseKind::kResultSet;
  if (!first.complete) return s;
  size_t i = 1 + columns;  // skip the column definitions
  if (i >= packets.size()) return s;
  // Without CLIENT_DEPRECATE_EOF an EOF (5 bytes) ends the definitions; with it, rows follow at
  // once and the list ends with an OK packet whose header is 0xfe (7+ bytes).
  if (packets[i].complete && IsEofPacket(packets[i]) && packets[i].length == 5) ++i;
  for (; i < packets.size(); ++i) {
    if (!packets[i].complete) return s;
    if (IsEofPacket(packets[i]) || IsErrPacket(packets[i])) {
      if (IsErrPacket(packets[i]) && packets[i].payload.size() >= 3) {
        s.error_code = static_cast<uint16_t>(Le(packets[i].payload, 1, 2));
      }
      s.complete = true;
      return s;
    }
  }
  return s;
}

std::string ErrorCodeString(uint16_t code) { return std::to_string(code); }

}  // namespace loupe::mysql
