#include "userspace/protocols/redis/redis_protocol.h"

#include <cctype>
#include <string>
#include <vector>

#include "userspace/protocols/redis/redis_commands.h"
#include "userspace/protocols/redis/redis_parse.h"
#include "userspace/protocols/redis/redis_stitch.h"
#include "userspace/protocols/sql/db_client_protocol.h"

namespace loupe {
namespace {

constexpr uint16_t kDefaultPort = 6379;

std::string QueryText(const redis::Command& cmd) {
  std::string text = cmd.name;
  // Cap the "?" list: arity is useful, a megabyte of "?" is not.
  const uint32_t args = cmd.argc > 0 ? cmd.argc - 1 : 0;
  for (uint32_t i = 0; i < args && i < 64; ++i) text += " ?";
  if (args > 64) text += " ...";
  return text;
}

// Commands past a cut request prefix, judged from the replies after the visible commands' ones.
// A whole first response chunk shows them all: exactly the extra replies (0 for a big SET cut
// inside its value and answered by one +OK). A cut chunk shows a lower bound. When the visible
// commands' own replies are not all there, nothing can be told: at least one is assumed.
uint64_t HiddenCommands(size_t commands, size_t replies, redis::ParseResult response, const Exchange& ex) {
  if (replies < commands) return 1;
  const uint64_t extra = replies - commands;
  const bool response_whole = ex.response.size() == ex.response_bytes;
  if (response_whole && response == redis::ParseResult::kComplete) return extra;
  if (response == redis::ParseResult::kIncomplete) return extra + 1;
  return extra > 0 ? extra : 1;
}

class RedisParser : public DbClientParser {
 public:
  explicit RedisParser(const ConnectionInfo& conn) : DbClientParser("redis", conn) {}

 private:
  ParseState ParseClientExchange(const Exchange& ex, std::vector<Record>* out) override {
    if (ex.request.empty()) return ParseState::kIgnored;  // pushes to a subscriber

    std::vector<redis::Command> commands;
    const redis::ParseResult request = redis::ParseCommands(ex.request, &commands);
    if (request == redis::ParseResult::kInvalid) return ParseState::kInvalid;
    std::vector<redis::Reply> replies;
    const redis::ParseResult response = redis::ParseReplies(ex.response, &replies);
    if (response == redis::ParseResult::kInvalid) return ParseState::kInvalid;

    const bool request_whole = request == redis::ParseResult::kComplete && ex.request.size() == ex.request_bytes;
    // A dangling partial frame (e.g. a push cut after the last reply) means bytes are still
    // arriving; wait for them so that the end time covers the whole response.
    const bool complete = request_whole && response == redis::ParseResult::kComplete &&
                          replies.size() >= commands.size() && !commands.empty();
    if (!complete && !ex.final) return ParseState::kNeedsMoreData;
    if (commands.empty()) return ParseState::kIgnored;

    if (!request_whole) CountUnreported(HiddenCommands(commands.size(), replies.size(), response, ex));
    redis::StitchResult stitched = redis::Stitch(std::move(commands), std::move(replies));

    size_t emitted = 0;
    const bool unanswered = ClosedUnanswered(ex);
    for (const redis::Call& call : stitched.calls) {
      const bool failed = call.reply.has_value() && call.reply->is_error;
      // A QUIT the client did not wait for is a goodbye, not a failed call.
      if (unanswered && call.command.name == "QUIT") continue;
      if (call.command.name == "SELECT" && !failed && !call.command.select_index.empty()) {
        set_db_namespace(call.command.select_index);
      }
      if (redis::IsAuthCommand(call.command.name)) continue;  // credentials: never reported
      DbCall db = NewCall(ex);
      // The name is client-chosen text: only the reference's commands are exported.
      const bool known = redis::IsKnownCommand(call.command.name);
      db.operation = known ? call.command.name : std::string(redis::kOtherOperation);
      if (known) db.query_text = QueryText(call.command);
      if (failed) {
        db.status_code = call.reply->error_prefix;
        db.error_type = call.reply->error_prefix;
      } else if (unanswered) {
        db.error_type = std::string(kNoResponseErrorType);
      }
      Record record = ToRecord(db);
      // "_OTHER" names no operation: the span is named after the system, as with none known.
      if (!known) record.span_name = db.system;
      out->push_back(std::move(record));
      ++emitted;
    }
    return emitted > 0 ? ParseState::kOk : ParseState::kIgnored;
  }
};

class RedisProtocol : public DbClientProtocol<RedisParser> {
 public:
  RedisProtocol() : DbClientProtocol("redis", kDefaultPort) {}

  Detection Detect(const Exchange& first, const ConnectionInfo& conn) const override {
    const Detection fallback = PortHint(conn);
    if (first.request.empty()) return fallback;
    std::vector<redis::Command> commands;
    if (redis::ParseCommands(first.request, &commands) == redis::ParseResult::kInvalid || commands.empty()) {
      return Detection::kNo;
    }
    const bool array_form = first.request[0] == '*';
    if (first.response.empty()) {
      // An array of bulk strings is unmistakable; an inline line could be memcached or junk.
      return array_form ? Detection::kYes : fallback;
    }
    std::vector<redis::Reply> replies;
    if (!redis::IsRespType(first.response[0]) ||
        redis::ParseReplies(first.response, &replies) == redis::ParseResult::kInvalid) {
      return Detection::kNo;
    }
    return Detection::kYes;
  }
};

}  // namespace

std::unique_ptr<Protocol> MakeRedisProtocol() { return std::make_unique<RedisProtocol>(); }

}  // namespace loupe
