// memcached text protocol frames, as far as Loupe needs them.
// https://github.com/memcached/memcached/blob/master/doc/protocol.txt
#pragma once

#include <cstdint>
#include <string>

namespace loupe::memcached {

inline constexpr size_t kMaxLineBytes = 2048;          // keys are at most 250 bytes
inline constexpr uint64_t kMaxDataBytes = 1ull << 30;  // item size limit is far below this

enum class Kind : uint8_t {
  kRetrieval,  // get gets gat gats: VALUE ... END
  kStorage,    // set add replace append prepend cas: command line + data block
  kStats,      // stats: STAT ... END
  kSimple,     // everything else: one reply line
  kQuit,       // no reply
};

struct Command {
  std::string name;  // as sent (lower-case); only known names are reported as the operation
  bool known = false;
  Kind kind = Kind::kSimple;
  uint32_t args = 0;  // tokens after the name, "noreply" excluded
  bool noreply = false;
  bool complete = false;
  bool ExpectsReply() const { return kind != Kind::kQuit && !noreply; }
};

enum class ParseResult : uint8_t { kComplete, kIncomplete, kInvalid };

struct Reply {
  std::string error_type;  // "ERROR", "CLIENT_ERROR", "SERVER_ERROR" or ""
};

}  // namespace loupe::memcached
