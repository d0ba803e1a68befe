#include "userspace/protocols/postgresql/postgresql_protocol.h"

#include <optional>
#include <string>
#include <vector>

#include "userspace/protocols/postgresql/pg_parse.h"
#include "userspace/protocols/postgresql/pg_stitch.h"
#include "userspace/protocols/sql/db_client_protocol.h"
#include "userspace/protocols/sql/sql_statement.h"

namespace loupe {
namespace {

constexpr uint16_t kDefaultPort = 5432;

// A complete first message whose body has the exact shape of its type.
bool StronglyValidFrontend(const pg::Message& m) {
  if (!m.complete) return m.type == 'Q' || m.type == 'P' || m.type == 'B';
  size_t pos = 0;
  std::string_view a;
  std::string_view b;
  switch (m.type) {
    case 'Q':
      return m.body.size() >= 2 && m.body.find('\0') == m.body.size() - 1;
    case 'P': {
      if (!pg::ReadCString(m.body, &pos, &a) || !pg::ReadCString(m.body, &pos, &b)) return false;
      if (m.body.size() - pos < 2) return false;
      const size_t n = (static_cast<unsigned char>(m.body[pos]) << 8) | static_cast<unsigned char>(m.body[pos + 1]);
      return m.body.size() - pos - 2 == 4 * n;
    }
    case 'B':
      return pg::ReadCString(m.body, &pos, &a) && pg::ReadCString(m.body, &pos, &b);
    case 'E':
      return pg::ReadCString(m.body, &pos, &a) && m.body.size() - pos == 4;
    case 'S':
    case 'H':
    case 'X':
      return m.body.empty();
    default:
      return false;
  }
}

class PostgresqlParser : public DbClientParser {
 public:
  explicit PostgresqlParser(const ConnectionInfo& conn) : DbClientParser("postgresql", conn) {}

 private:
  ParseState ParseClientExchange(const Exchange& ex, std::vector<Record>* out) override {
    if (ex.request.empty()) return ParseState::kIgnored;  // server-initiated bytes (notices)

    switch (pg::ClassifyStartup(ex.request)) {
      case pg::StartupKind::kSslRequest:
      case pg::StartupKind::kGssEncRequest:
        if (ex.response.empty()) return ex.final ? ParseState::kIgnored : ParseState::kNeedsMoreData;
        if (ex.response[0] == 'S' || ex.response[0] == 'G') encrypted_ = true;
        return ParseState::kIgnored;
      case pg::StartupKind::kStartup:
        set_db_namespace(pg::StartupDatabase(ex.request));
        return ParseState::kIgnored;
      case pg::StartupKind::kCancel:
        return ParseState::kIgnored;
      case pg::StartupKind::kNone:
        break;
    }
    const unsigned char first = static_cast<unsigned char>(ex.request[0]);
    if (encrypted_ && first >= 0x14 && first <= 0x17) return ParseState::kIgnored;  // TLS record
    // Authentication (PasswordMessage, SASL): secrets, never looked into.
    if (ex.request[0] == 'p') return ParseState::kIgnored;

    std::vector<pg::Message> frontend;
    if (!pg::SplitMessages(ex.request, /*frontend=*/true, &frontend)) return ParseState::kInvalid;
    pg::RequestPlan plan = pg::PlanRequest(frontend, statements_, portals_);
    const bool continues_copy = pending_copy_.has_value() && pg::ContinuesCopy(frontend);
    if (continues_copy) pg::PrependPendingCopy(*pending_copy_, &plan);
    const bool request_cut = plan.truncated || ex.request.size() < ex.request_bytes;
    if (plan.calls.empty() && !request_cut) {
      pg::Commit(plan, &statements_, &portals_);
      AbandonPendingCopy();
      return ParseState::kIgnored;  // Parse/Describe/Sync/Close/Terminate only
    }

    std::vector<pg::Message> backend;
    if (!pg::SplitMessages(ex.response, /*frontend=*/false, &backend)) return ParseState::kInvalid;
    const pg::StitchResult stitched = pg::StitchResponse(plan, backend);
    // ReadyForQuery ends a response, so seeing all of them is enough even in a cut prefix; so
    // does CopyInResponse, after which the server waits for the client's data.
    const bool answered = stitched.complete || stitched.copy_in;
    if (!(answered && !request_cut) && !ex.final) {
      return ParseState::kNeedsMoreData;
    }

    pg::Commit(plan, &statements_, &portals_);
    if (!continues_copy) AbandonPendingCopy();
    pending_copy_.reset();
    // Calls from the COPY on are reported once the request that continues it is answered.
    const size_t finished = stitched.copy_in ? stitched.copy_in_call : plan.calls.size();
    if (stitched.copy_in) {
      pending_copy_ = pg::MakePendingCopy(plan, stitched, ex.request_start_ns);
      CountUnreported(pending_copy_->dropped);
    }
    size_t emitted = 0;
    const bool unanswered = ClosedUnanswered(ex);
    for (size_t i = 0; i < finished; ++i) {
      const pg::Outcome& o = stitched.outcomes[i];
      if (o.skipped) {
        CountUnreported(1);  // never run by the server; nothing to time
        continue;
      }
      const uint64_t start_ns = plan.calls[i].start_ns != 0 ? plan.calls[i].start_ns : ex.request_start_ns;
      out->push_back(MakeRecord(ex, start_ns, plan.calls[i].query, o.command_verb, o.sqlstate,
                                unanswered ? kNoResponseErrorType : o.sqlstate));
      ++emitted;
    }
    for (const std::string& verb : stitched.extra_verbs) {
      out->push_back(MakeRecord(ex, ex.request_start_ns, "", verb, "", ""));
      ++emitted;
    }
    // More requests may hide past a cut prefix: at least one, unless their answers were seen.
    if (request_cut && !answered) CountUnreported(1);
    return emitted > 0 ? ParseState::kOk : ParseState::kIgnored;
  }

  // A COPY FROM STDIN left waiting for data that never came (the client moved on to something
  // else): the server aborted it, and its outcome is unknown.
  void AbandonPendingCopy() {
    if (!pending_copy_.has_value()) return;
    CountUnreported(pending_copy_->calls.size());
    pending_copy_.reset();
  }

  Record MakeRecord(const Exchange& ex, uint64_t start_ns, const std::string& query, const std::string& verb,
                    const std::string& sqlstate, std::string_view error_type) const {
    DbCall call = NewCall(ex);
    call.start_ns = start_ns;
    call.query_text = query;
    call.operation = SqlOperation(query);
    if (call.operation.empty()) call.operation = verb;
    call.collection = SqlCollection(query);
    call.status_code = sqlstate;
    call.error_type = std::string(error_type);
    return ToRecord(call);
  }

  bool encrypted_ = false;
  pg::StatementCache statements_;
  pg::StatementCache portals_;
  std::optional<pg::PendingCopy> pending_copy_;
};

class PostgresqlProtocol : public DbClientProtocol<PostgresqlParser> {
 public:
  PostgresqlProtocol() : DbClientProtocol("postgresql", kDefaultPort) {}

  Detection Detect(const Exchange& first, const ConnectionInfo& conn) const override {
    const Detection fallback = PortHint(conn);
    if (first.request.empty()) return fallback;
    switch (pg::ClassifyStartup(first.request)) {
      case pg::StartupKind::kSslRequest:
      case pg::StartupKind::kGssEncRequest:
      case pg::StartupKind::kCancel:
        return first.request_bytes == (pg::ClassifyStartup(first.request) == pg::StartupKind::kCancel ? 16u : 8u)
                   ? Detection::kYes
                   : fallback;
      case pg::StartupKind::kStartup:
        return first.request.back() == '\0' || first.request.size() < first.request_bytes ? Detection::kYes
                                                                                            : fallback;
      case pg::StartupKind::kNone:
        break;
    }
    std::vector<pg::Message> frontend;
    if (!pg::SplitMessages(first.request, /*frontend=*/true, &frontend) || frontend.empty() ||
        !StronglyValidFrontend(frontend[0])) {
      return Detection::kNo;
    }
    if (first.response.empty()) return Detection::kYes;
    std::vector<pg::Message> backend;
    if (!pg::SplitMessages(first.response, /*frontend=*/false, &backend) || backend.empty()) {
      return Detection::kNo;
    }
    return Detection::kYes;
  }
};

}  // namespace

std::unique_ptr<Protocol> MakePostgresqlProtocol() { return std::make_unique<PostgresqlProtocol>(); }

}  // namespace loupe
