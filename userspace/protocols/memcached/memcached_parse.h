// Parsing memcached text-protocol requests and replies from byte prefixes.
#pragma once

#include <string_view>
#include <vector>

#include "userspace/protocols/memcached/memcached_types.h"

namespace loupe::memcached {

// Splits the commands of a request prefix (noreply commands glue several into one request). The
// last one may be incomplete. kInvalid when the bytes are not memcached text commands.
ParseResult ParseCommands(std::string_view bytes, std::vector<Command>* out);

// Parses the reply to `command` at *pos, advancing past it when complete.
ParseResult ParseReply(std::string_view bytes, size_t* pos, const Command& command, Reply* reply);

// Parses one reply whose command is unknown (it was past the captured request prefix), telling
// its kind from its first line, at *pos; advances past it when complete.
ParseResult ParseAnyReply(std::string_view bytes, size_t* pos);

// True for the binary protocol's request (0x80) or response (0x81) magic byte.
bool IsBinaryProtocol(std::string_view bytes);

}  // namespace loupe::memcached
