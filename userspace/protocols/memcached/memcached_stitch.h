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
  // Whole replies after those of the visible commands: they answer commands past the captured
  // request prefix. `rest` says how the bytes after them end: kComplete (nothing left),
  // kIncomplete (a cut reply) or kInvalid (not a reply we can tell). Only set when all_replied.
  size_t extra_replies = 0;
  ParseResult rest = ParseResult::kComplete;
};

StitchResult Stitch(std::vector<Command> commands, std::string_view response);

}  // namespace loupe::memcached
