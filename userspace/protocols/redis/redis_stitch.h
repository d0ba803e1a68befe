// Pairing pipelined Redis commands with their replies, in order.
#pragma once

#include <optional>
#include <vector>

#include "userspace/protocols/redis/redis_types.h"

namespace loupe::redis {

struct Call {
  Command command;
  std::optional<Reply> reply;  // unset when the reply is not in the captured prefix
};

struct StitchResult {
  std::vector<Call> calls;
  size_t extra_replies = 0;  // replies past the visible commands (their commands were cut off)
};

StitchResult Stitch(std::vector<Command> commands, std::vector<Reply> replies);

// Commands whose arguments are credentials; they are never reported.
bool IsAuthCommand(const std::string& upper_name);

}  // namespace loupe::redis
