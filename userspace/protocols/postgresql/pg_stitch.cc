#include "userspace/protocols/postgresql/pg_stitch.h"

#include <algorithm>

#include "userspace/protocols/postgresql/pg_parse.h"
#include "userspace/protocols/sql/sql_sanitizer.h"

namespace loupe::pg {

namespace {

// Looks a name up first among this request's own definitions (latest wins), then in the cache.
const std::string* Lookup(const std::vector<std::pair<std::string, std::string>>& local,
                          const StatementCache& cache, const std::string& name) {
  for (auto it = local.rbegin(); it != local.rend(); ++it) {
    if (it->first == name) return &it->second;
  }
  return cache.Get(name);
}

}  // namespace

RequestPlan PlanRequest(const std::vector<Message>& messages, const StatementCache& statements,
                        const StatementCache& portals) {
  RequestPlan plan;
  int group = 0;
  for (const Message& m : messages) {
    if (!m.complete) plan.truncated = true;
    size_t pos = 0;
    switch (m.type) {
      case 'Q': {
        // A cut query text is still sanitized: SanitizeSql hides unterminated literals.
        std::string_view text = m.body;
        if (!text.empty() && text.back() == '\0') text.remove_suffix(1);
        plan.calls.push_back({SanitizeSql(text), true, group, plan.expected_ready});
        ++plan.expected_ready;
        ++group;
        break;
      }
      case 'P': {
        std::string_view name;
        if (!ReadCString(m.body, &pos, &name)) break;
        std::string_view text;
        if (!ReadCString(m.body, &pos, &text)) text = m.body.substr(pos);
        plan.new_statements.emplace_back(std::string(name), SanitizeSql(text));
        break;
      }
      case 'B': {
        std::string_view portal;
        std::string_view statement;
        if (!ReadCString(m.body, &pos, &portal) || !ReadCString(m.body, &pos, &statement)) break;
        const std::string* sql = Lookup(plan.new_statements, statements, std::string(statement));
        plan.new_portals.emplace_back(std::string(portal), sql != nullptr ? *sql : "");
        break;
      }
      case 'E': {
        std::string_view portal;
        const std::string* sql = nullptr;
        if (ReadCString(m.body, &pos, &portal)) {
          sql = Lookup(plan.new_portals, portals, std::string(portal));
        } else if (!plan.new_portals.empty()) {
          sql = &plan.new_portals.back().second;  // cut inside the name: the last Bind's portal
        }
        plan.calls.push_back({sql != nullptr ? *sql : "", false, group, plan.expected_ready});
        break;
      }
      case 'C': {
        std::string_view name;
        if (m.body.size() > 1 && m.body[0] == 'S') {
          pos = 1;
          if (ReadCString(m.body, &pos, &name)) plan.closed_statements.emplace_back(name);
        }
        break;
      }
      case 'S':
        ++plan.expected_ready;
        ++group;
        break;
      default:
        break;
    }
  }
  return plan;
}

void Commit(const RequestPlan& plan, StatementCache* statements, StatementCache* portals) {
  for (const auto& [name, sql] : plan.new_statements) statements->Put(name, sql);
  for (const auto& [name, sql] : plan.new_portals) portals->Put(name, sql);
  for (const auto& name : plan.closed_statements) statements->Erase(name);
}

StitchResult StitchResponse(const RequestPlan& plan, const std::vector<Message>& backend) {
  StitchResult result;
  result.outcomes.resize(plan.calls.size());
  size_t current = 0;  // first call without an outcome
  int ready_seen = 0;
  int aborted_group = -1;  // Sync group an error aborted: its later Executes are not run

  auto finish_current = [&]() {
    if (current < result.outcomes.size()) result.outcomes[current].completed = true;
    ++current;
  };
  auto current_is_simple = [&]() { return current < plan.calls.size() && plan.calls[current].simple; };

  for (const Message& m : backend) {
    if (!m.complete) break;
    // Nothing but asynchronous messages can follow CopyInResponse before the client's data.
    if (result.copy_in && m.type != 'N' && m.type != 'S' && m.type != 'A') result.copy_in = false;
    switch (m.type) {
      case 'C':
      case 'I':
      case 's': {
        std::string verb;
        if (m.type == 'C') {
          const size_t end = m.body.find_first_of(std::string_view(" \0", 2));
          verb = std::string(m.body.substr(0, end));
        }
        if (current >= plan.calls.size()) {
          if (m.type == 'C') result.extra_verbs.push_back(verb);
          break;
        }
        Outcome& o = result.outcomes[current];
        if (o.command_verb.empty()) o.command_verb = verb;
        if (!plan.calls[current].simple) finish_current();
        break;
      }
      case 'E': {
        if (current >= plan.calls.size()) break;
        Outcome& o = result.outcomes[current];
        if (o.sqlstate.empty()) o.sqlstate = ErrorSqlState(m.body);
        if (o.sqlstate.empty()) o.sqlstate = "_OTHER";
        if (!plan.calls[current].simple) {
          aborted_group = plan.calls[current].sync_group;
          finish_current();
        }
        break;
      }
      case 'G':  // CopyInResponse: the server now waits for the client's CopyData.
        if (current < plan.calls.size()) {
          result.copy_in = true;
          result.copy_in_call = current;
        }
        break;
      case 'Z': {
        ++ready_seen;
        // A simple Query ends at its own ReadyForQuery, not at one owed to a Sync before it.
        if (current_is_simple() && ready_seen > plan.calls[current].ready_before) {
          finish_current();
        } else if (aborted_group >= 0) {
          while (current < plan.calls.size() && plan.calls[current].sync_group == aborted_group) {
            result.outcomes[current].skipped = true;
            ++current;
          }
        }
        aborted_group = -1;
        break;
      }
      default:
        break;
    }
  }
  result.ready_seen = ready_seen;
  if (plan.expected_ready > 0) {
    result.complete = ready_seen >= plan.expected_ready;
  } else {
    result.complete = current >= plan.calls.size();
  }
  return result;
}

PendingCopy MakePendingCopy(const RequestPlan& plan, const StitchResult& stitched, uint64_t request_start_ns) {
  PendingCopy pending;
  for (size_t i = stitched.copy_in_call; i < plan.calls.size(); ++i) {
    if (pending.calls.size() >= PendingCopy::kMaxCalls) {
      ++pending.dropped;
      continue;
    }
    Call call = plan.calls[i];
    if (call.start_ns == 0) call.start_ns = request_start_ns;
    call.ready_before = std::max(0, call.ready_before - stitched.ready_seen);
    pending.calls.push_back(std::move(call));
  }
  pending.ready_owed = plan.expected_ready > stitched.ready_seen ? plan.expected_ready - stitched.ready_seen : 0;
  return pending;
}

bool ContinuesCopy(const std::vector<Message>& frontend) {
  if (frontend.empty()) return false;
  const char type = frontend[0].type;
  return type == 'd' || type == 'c' || type == 'f';
}

void PrependPendingCopy(const PendingCopy& pending, RequestPlan* plan) {
  int next_group = 0;
  for (const Call& call : pending.calls) next_group = std::max(next_group, call.sync_group + 1);
  for (Call& call : plan->calls) {
    call.sync_group += next_group;
    call.ready_before += pending.ready_owed;
  }
  plan->calls.insert(plan->calls.begin(), pending.calls.begin(), pending.calls.end());
  plan->expected_ready += pending.ready_owed;
}

}  // namespace loupe::pg
