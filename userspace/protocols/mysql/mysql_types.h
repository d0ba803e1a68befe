// MySQL / MariaDB client/server protocol frames, as far as Loupe needs them.
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::mysql {

inline constexpr size_t kHeaderBytes = 4;  // 3-byte little-endian length + sequence id

// Command bytes (first payload byte of a packet with sequence id 0).
enum Command : uint8_t {
  kComQuit = 0x01,
  kComInitDb = 0x02,
  kComQuery = 0x03,
  kComFieldList = 0x04,
  kComStatistics = 0x09,
  kComProcessInfo = 0x0a,
  kComPing = 0x0e,
  kComChangeUser = 0x11,  // carries credentials: never parsed
  kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17,
  kComStmtSendLongData = 0x18,  // no response
  kComStmtClose = 0x19,         // no response
  kComStmtReset = 0x1a,
  kComSetOption = 0x1b,
  kComStmtFetch = 0x1c,
  kComResetConnection = 0x1f,
};

// Capability flags we read from the handshake response.
inline constexpr uint32_t kClientConnectWithDb = 0x00000008;
inline constexpr uint32_t kClientProtocol41 = 0x00000200;
inline constexpr uint32_t kClientSecureConnection = 0x00008000;
inline constexpr uint32_t kClientPluginAuthLenencData = 0x00200000;

// One packet; `payload` may be cut when the capture ended inside it (`complete` false).
struct Packet {
  uint8_t seq = 0;
  uint32_t length = 0;  // declared payload length
  std::string_view payload;
  bool complete = false;
};

// What the first response packet says.
enum class ResponseKind : uint8_t { kUnknown, kOk, kErr, kEof, kResultSet, kPrepareOk };

struct ResponseSummary {
  ResponseKind kind = ResponseKind::kUnknown;
  bool complete = false;     // the whole response (every packet up to its terminator) is visible
  uint16_t error_code = 0;   // ERR
  uint32_t statement_id = 0; // PREPARE_OK
};

}  // namespace loupe::mysql
