#include "userspace/protocols/memcached/memcached_stitch.h"

#include "userspace/protocols/memcached/memcached_parse.h"

namespace loupe::memcached {

StitchResult Stitch(std::vector<Command> commands, std::string_view response) {
  StitchResult result;
  size_t pos = 0;
  bool replies_ok = true;  // stop pairing at the first incomplete or invalid reply
  result.all_replied = true;
  for (Command& command : commands) {
    Call call;
    call.command = std::move(command);
    if (call.command.ExpectsReply()) {
      if (replies_ok) {
        const ParseResult r = ParseReply(response, &pos, call.command, &call.reply);
        if (r == ParseResult::kComplete) {
          call.has_reply = true;
        } else {
          replies_ok = false;
          result.response = r;
        }
      }
      if (!call.has_reply) result.all_replied = false;
    }
    result.calls.push_back(std::move(call));
  }
  if (result.all_replied) {
    while (pos < response.size()) {
      const ParseResult r = ParseAnyReply(response, &pos);
      if (r != ParseResult::kComplete) {
        result.rest = r;
        break;
      }
      ++result.extra_replies;
    }
  }
  return result;
}

}  // namespace loupe::memcached
