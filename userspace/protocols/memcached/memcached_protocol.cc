#include "userspace/protocols/memcached/memcached_protocol.h"

#include <string>
#include <vector>

#include "userspace/protocols/memcached/memcached_parse.h"
#include "userspace/protocols/memcached/memcached_stitch.h"
#include "userspace/protocols/sql/db_client_protocol.h"

namespace loupe {
namespace {

constexpr uint16_t kDefaultPort = 11211;

std::string QueryText(const memcached::Command& cmd) {
  std::string text = cmd.name;
  for (uint32_t i = 0; i < cmd.args && i < 64; ++i) text += " ?";
  if (cmd.args > 64) text += " ...";
  if (cmd.noreply) text += " noreply";
  return text;
}

// Commands past a cut request prefix, judged from the replies after the visible commands' ones.
// A whole first response chunk shows them all: exactly the extra replies (0 for a big `set` whose
// data block was cut: its one reply is all there is). A cut chunk shows a lower bound. When the
// visible commands' own replies are not all there, nothing can be told: at least one is assumed.
uint64_t HiddenCommands(const memcached::StitchResult& stitched, const Exchange& ex) {
  if (!stitched.all_replied) return 1;
  const bool response_whole = ex.response.size() == ex.response_bytes;
  if (response_whole && stitched.rest == memcached::ParseResult::kComplete) return stitched.extra_replies;
  if (stitched.rest == memcached::ParseResult::kIncomplete) return stitched.extra_replies + 1;
  return stitched.extra_replies > 0 ? stitched.extra_replies : 1;
}

class MemcachedParser : public DbClientParser {
 public:
  explicit MemcachedParser(const ConnectionInfo& conn) : DbClientParser("memcached", conn) {}

 private:
  ParseState ParseClientExchange(const Exchange& ex, std::vector<Record>* out) override {
    if (ex.request.empty()) return ParseState::kIgnored;
    if (memcached::IsBinaryProtocol(ex.request)) return ParseState::kInvalid;

    std::vector<memcached::Command> commands;
    const memcached::ParseResult request = memcached::ParseCommands(ex.request, &commands);
    if (request == memcached::ParseResult::kInvalid) return ParseState::kInvalid;
    const bool request_whole = request == memcached::ParseResult::kComplete && ex.request.size() == ex.request_bytes;
    memcached::StitchResult stitched = memcached::Stitch(std::move(commands), ex.response);
    if (stitched.response == memcached::ParseResult::kInvalid) return ParseState::kInvalid;
    if (!(request_whole && stitched.all_replied) && !ex.final) return ParseState::kNeedsMoreData;
    if (!request_whole) CountUnreported(HiddenCommands(stitched, ex));

    size_t emitted = 0;
    const bool unanswered = ClosedUnanswered(ex);
    for (const memcached::Call& call : stitched.calls) {
      if (call.command.kind == memcached::Kind::kQuit) continue;
      DbCall db = NewCall(ex);
      db.operation = call.command.known ? call.command.name : "";
      db.query_text = call.command.known ? QueryText(call.command) : "";
      if (call.has_reply && !call.reply.error_type.empty()) {
        db.status_code = call.reply.error_type;
        db.error_type = call.reply.error_type;
      } else if (unanswered && call.command.ExpectsReply()) {
        db.error_type = std::string(kNoResponseErrorType);
      }
      out->push_back(ToRecord(db));
      ++emitted;
    }
    return emitted > 0 ? ParseState::kOk : ParseState::kIgnored;
  }
};

class MemcachedProtocol : public DbClientProtocol<MemcachedParser> {
 public:
  MemcachedProtocol() : DbClientProtocol("memcached", kDefaultPort) {}

  Detection Detect(const Exchange& first, const ConnectionInfo& conn) const override {
    const Detection fallback = PortHint(conn);
    if (first.request.empty()) return fallback;
    if (memcached::IsBinaryProtocol(first.request)) return Detection::kNo;  // not supported
    std::vector<memcached::Command> commands;
    if (memcached::ParseCommands(first.request, &commands) == memcached::ParseResult::kInvalid ||
        commands.empty() || !commands[0].known) {
      return Detection::kNo;
    }
    if (!first.response.empty()) {
      const memcached::StitchResult stitched = memcached::Stitch(std::move(commands), first.response);
      if (stitched.response == memcached::ParseResult::kInvalid) return Detection::kNo;
      return stitched.calls[0].has_reply || !stitched.calls[0].command.ExpectsReply() ? Detection::kYes
                                                                                      : Detection::kMaybe;
    }
    // A storage command whose data block length checked out is memcached; a lone "get k" line
    // could be a Redis inline command.
    if (commands[0].kind == memcached::Kind::kStorage && commands[0].complete) return Detection::kYes;
    return fallback;
  }
};

}  // namespace

std::unique_ptr<Protocol> MakeMemcachedProtocol() { return std::make_unique<MemcachedProtocol>(); }

}  // namespace loupe
