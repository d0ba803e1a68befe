#include "userspace/protocols/redis/redis_stitch.h"

namespace loupe::redis {

StitchResult Stitch(std::vector<Command> commands, std::vector<Reply> replies) {
  StitchResult result;
  result.calls.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    Call call{std::move(commands[i]), std::nullopt};
    if (i < replies.size()) call.reply = std::move(replies[i]);
    result.calls.push_back(std::move(call));
  }
  if (replies.size() > commands.size()) result.extra_replies = replies.size() - commands.size();
  return result;
}

bool IsAuthCommand(const std::string& upper_name) { return upper_name == "AUTH" || upper_name == "HELLO"; }

}  // namespace loupe::redis
