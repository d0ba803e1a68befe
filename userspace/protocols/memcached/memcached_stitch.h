// Pairing memcached commands (several when noreply ones are glued together) with replies.
#pragma once

#include <vector>

#include "userspace/protocols/memcached/memcached_types.h"

namespace loupe::memcached {

struct Call {
  Command command;
  bool has_reply = false;
  Reply reply;
};

struct StitchResult {
  std::vector<Call> calls;
  ParseResult response = ParseResult::kComplete;  // kInvalid: the bytes are not replies
  bool all_replied = false;  // every command that expects a reply has a whole one
};

StitchResult Stitch(std::vector<Command> commands, std::string_view response);

}  // namespace loupe::memcached
