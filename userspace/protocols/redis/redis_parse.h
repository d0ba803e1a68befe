// Parsing Redis requests (arrays of bulk strings, inline commands) and replies (RESP2/RESP3).
#pragma once

#include <string_view>
#include <vector>

#include "userspace/protocols/redis/redis_types.h"

namespace loupe::redis {

// Splits the commands of a request prefix. The last command may be incomplete (its name is then
// known if visible). kInvalid when the bytes are not Redis commands.
ParseResult ParseCommands(std::string_view bytes, std::vector<Command>* out);

// Parses one value at *pos. On kComplete advances *pos past it and, for a top-level reply, fills
// *reply (if not null). Push frames ('>') are parsed like arrays; the caller skips them.
ParseResult ParseValue(std::string_view bytes, size_t* pos, int depth, Reply* reply);

// Splits top-level replies, skipping RESP3 pushes and attributes. Stops at the first incomplete
// reply (returning kIncomplete) or invalid byte (kInvalid).
ParseResult ParseReplies(std::string_view bytes, std::vector<Reply>* out);

// True when `c` can start a RESP value.
bool IsRespType(char c);

}  // namespace loupe::redis
