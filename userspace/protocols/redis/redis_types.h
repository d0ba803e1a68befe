// Redis serialization protocol (RESP2 and RESP3) frames, as far as Loupe needs them.
// https://redis.io/docs/latest/develop/reference/protocol-spec/
#pragma once

#include <cstdint>
#include <string>

namespace loupe::redis {

// Bounds on what we accept from untrusted bytes.
inline constexpr int kMaxDepth = 16;
inline constexpr int64_t kMaxElements = 1 << 20;
inline constexpr int64_t kMaxBulkBytes = 512 << 20;  // Redis' own proto-max-bulk-len default
inline constexpr size_t kMaxCommandNameBytes = 32;

// One command of a request; only its name and arity are kept (never argument values).
struct Command {
  std::string name;   // upper-cased
  uint32_t argc = 0;  // including the name; for a cut command, the declared count
  bool complete = false;
  std::string select_index;  // SELECT's argument (a small number), to learn db.namespace
};

enum class ParseResult : uint8_t { kComplete, kIncomplete, kInvalid };

// What one top-level reply says.
struct Reply {
  bool is_error = false;
  std::string error_prefix;  // "ERR", "WRONGTYPE", ...
};

}  // namespace loupe::redis
