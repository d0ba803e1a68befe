// Matching PostgreSQL requests (simple Query, extended Parse/Bind/Execute/Sync batches) with the
// responses that answer them. One call is one simple Query or one Execute.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/protocols/postgresql/pg_types.h"
#include "userspace/protocols/sql/statement_cache.h"

namespace loupe::pg {

// Statement or portal name → sanitized SQL, bounded: past the limit the oldest name is forgotten
// (its Executes are then reported without query text).
using StatementCache = ::loupe::StatementCache<std::string>;

// One reportable call found in a request.
struct Call {
  std::string query;   // sanitized SQL; "" when the statement was prepared before we saw it
  bool simple = false; // simple Query (completes at ReadyForQuery) vs Execute
  int sync_group = 0;  // Executes before the same Sync share a group
  int ready_before = 0;  // ReadyForQuery messages that answer earlier requests or Syncs
  // When the call began in an earlier request (continued past CopyInResponse): that request's
  // start. 0: the call began in the request being parsed.
  uint64_t start_ns = 0;
};

// What a request (a sequence of frontend messages) asks for, and the cache changes it implies.
// The cache is only changed by Commit(), so that a "needs more data" answer changes nothing.
struct RequestPlan {
  std::vector<Call> calls;
  int expected_ready = 0;  // ReadyForQuery messages that end the response (one per Sync/Query)
  bool truncated = false;  // the request prefix ended inside a message
  std::vector<std::pair<std::string, std::string>> new_statements;
  std::vector<std::pair<std::string, std::string>> new_portals;  // portal → sanitized SQL
  std::vector<std::string> closed_statements;
};

RequestPlan PlanRequest(const std::vector<Message>& messages, const StatementCache& statements,
                        const StatementCache& portals);
void Commit(const RequestPlan& plan, StatementCache* statements, StatementCache* portals);

// A call's outcome as seen in the response.
struct Outcome {
  bool completed = false;
  bool skipped = false;       // not run: an earlier error in its Sync group aborted it
  std::string sqlstate;       // from ErrorResponse
  std::string command_verb;   // first word of the CommandComplete tag, e.g. "INSERT"
};

struct StitchResult {
  std::vector<Outcome> outcomes;  // one per plan call
  // CommandCompletes past the known calls (when the request prefix was cut): their verbs.
  std::vector<std::string> extra_verbs;
  bool complete = false;  // the whole response is visible
  int ready_seen = 0;     // ReadyForQuery messages seen
  // The response ended with CopyInResponse answering call `copy_in_call`: the server now waits
  // for the client's CopyData, which is the next request. That call and the ones after it are
  // unfinished (their outcomes say nothing yet).
  bool copy_in = false;
  size_t copy_in_call = 0;
};

StitchResult StitchResponse(const RequestPlan& plan, const std::vector<Message>& backend);

// COPY ... FROM STDIN spans two exchanges: the Query (or Execute) answered by CopyInResponse,
// then the client's CopyData... CopyDone (or CopyFail) answered by CommandComplete "COPY n" (or
// ErrorResponse) and ReadyForQuery. The calls a CopyInResponse left unfinished wait here and are
// put before the next request's own calls. The server runs one COPY at a time per connection.
struct PendingCopy {
  static constexpr size_t kMaxCalls = 64;  // calls of one request prefix; past it, dropped
  std::vector<Call> calls;  // the COPY's call first; each has its start_ns set
  int ready_owed = 0;       // ReadyForQuery messages the earlier request still waits for
  size_t dropped = 0;       // unfinished calls past kMaxCalls: not reported
};

// The unfinished calls of a request whose response ended with CopyInResponse.
PendingCopy MakePendingCopy(const RequestPlan& plan, const StitchResult& stitched, uint64_t request_start_ns);

// True when a request continues a COPY FROM STDIN (starts with CopyData, CopyDone or CopyFail).
bool ContinuesCopy(const std::vector<Message>& frontend);

// Puts the pending calls before the plan's own (whose Sync groups move past theirs) and adds the
// ReadyForQuery messages they still wait for.
void PrependPendingCopy(const PendingCopy& pending, RequestPlan* plan);

}  // namespace loupe::pg
