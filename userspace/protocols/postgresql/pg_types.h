// PostgreSQL v3 wire protocol frames, as far as Loupe needs them.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
#pragma once

#include <cstdint>
#include <string_view>

namespace loupe::pg {

// Codes carried by the untyped first messages a client may send (length, code, ...).
inline constexpr uint32_t kProtocolV3 = 196608;  // StartupMessage (3.0)
inline constexpr uint32_t kSslRequest = 80877103;
inline constexpr uint32_t kGssEncRequest = 80877104;
inline constexpr uint32_t kCancelRequest = 80877102;

// Longest message we accept as plausible; the server's default limit for most messages is 1 GiB.
inline constexpr uint32_t kMaxMessageLength = 1u << 30;

// Frontend (client → server) message types.
enum class FrontendType : char {
  kQuery = 'Q',
  kParse = 'P',
  kBind = 'B',
  kDescribe = 'D',
  kExecute = 'E',
  kSync = 'S',
  kFlush = 'H',
  kClose = 'C',
  kTerminate = 'X',
  kPassword = 'p',  // PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: secrets
  kCopyData = 'd',
  kCopyDone = 'c',
  kCopyFail = 'f',
  kFunctionCall = 'F',
};

// One typed message; `body` excludes the type byte and the length, and may be cut short when the
// capture ended inside it (`complete` is then false).
struct Message {
  char type = 0;
  std::string_view body;
  bool complete = false;
};

// The untyped message a connection starts with.
enum class StartupKind : uint8_t { kNone, kStartup, kSslRequest, kGssEncRequest, kCancel };

}  // namespace loupe::pg
