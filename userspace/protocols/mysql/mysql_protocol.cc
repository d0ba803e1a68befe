#include "userspace/protocols/mysql/mysql_protocol.h"

#include <cctype>
#include <string>
#include <vector>

#include "userspace/protocols/mysql/mysql_parse.h"
#include "userspace/protocols/mysql/mysql_stitch.h"
#include "userspace/protocols/sql/db_client_protocol.h"
#include "userspace/protocols/sql/sql_sanitizer.h"
#include "userspace/protocols/sql/sql_statement.h"
#include "userspace/protocols/sql/statement_cache.h"

namespace loupe {
namespace {

constexpr uint16_t kDefaultPort = 3306;

using mysql::ResponseKind;

class MysqlParser : public DbClientParser {
 public:
  explicit MysqlParser(const ConnectionInfo& conn) : DbClientParser("mysql", conn) {}

 private:
  ParseState ParseClientExchange(const Exchange& ex, std::vector<Record>* out) override {
    if (ex.request.empty()) {
      std::string version;
      if (mysql::ParseGreeting(ex.response, &version)) {
        mariadb_ = version.find("MariaDB") != std::string::npos;
      }
      return ParseState::kIgnored;
    }
    const std::vector<mysql::Packet> packets = mysql::SplitPackets(ex.request);
    if (packets.empty() || packets[0].payload.empty()) {
      return ex.final ? ParseState::kInvalid : ParseState::kNeedsMoreData;
    }
    if (packets[0].seq != 0) {
      // Handshake response or an authentication round: secrets. Only the schema is read.
      if (packets[0].seq == 1 && packets[0].complete) {
        const std::string db = mysql::HandshakeDatabase(packets[0].payload);
        if (!db.empty()) set_db_namespace(db);
      }
      return ParseState::kIgnored;
    }
    mysql::RequestCommands commands;
    if (!mysql::SplitCommands(packets, &commands)) return ParseState::kInvalid;
    if (!commands.has_command) {
      // Only reply-less commands so far; a cut request may hold the one that gets the answer.
      if (ex.request.size() < ex.request_bytes && !ex.final) return ParseState::kNeedsMoreData;
      for (uint32_t id : commands.closed_statements) statements_.Erase(id);
      return ParseState::kIgnored;
    }

    const uint8_t command = commands.command;
    const bool reported = command == mysql::kComQuery || command == mysql::kComStmtPrepare ||
                          command == mysql::kComStmtExecute || command == mysql::kComInitDb;
    if (!reported) {
      for (uint32_t id : commands.closed_statements) statements_.Erase(id);
      return ParseState::kIgnored;
    }

    const mysql::ResponseSummary response =
        mysql::SummarizeResponse(mysql::SplitPackets(ex.response), command == mysql::kComStmtPrepare);
    if (!response.complete && !ex.final) return ParseState::kNeedsMoreData;
    CountUnreported(commands.pipelined_after);
    for (uint32_t id : commands.closed_statements) statements_.Erase(id);

    const bool is_err = response.kind == ResponseKind::kErr || response.error_code != 0;
    if (command == mysql::kComInitDb) {
      if (response.kind == ResponseKind::kOk && commands.argument_complete) {
        set_db_namespace(std::string(commands.argument.substr(0, 64)));
      }
      return ParseState::kIgnored;
    }

    std::string query;
    if (command == mysql::kComStmtExecute) {
      if (commands.argument.size() >= 4) {
        uint32_t id = 0;
        for (int i = 0; i < 4; ++i) id |= static_cast<uint32_t>(static_cast<unsigned char>(commands.argument[i])) << (8 * i);
        if (const std::string* sql = statements_.Get(id)) query = *sql;
      }
    } else {
      query = SanitizeSql(mysql::QueryText(commands.argument), SqlDialect::kMySql);
    }
    if (command == mysql::kComStmtPrepare && !is_err) {
      if (response.kind == ResponseKind::kPrepareOk) statements_.Put(response.statement_id, query);
      return ParseState::kIgnored;  // the record comes with each execution
    }

    DbCall call = NewCall(ex);
    if (mariadb_) call.system = "mariadb";
    call.query_text = query;
    call.operation = SqlOperation(query);
    call.collection = SqlCollection(query);
    if (is_err) {
      call.status_code = mysql::ErrorCodeString(response.error_code);
      call.error_type = call.status_code;
    } else if (ClosedUnanswered(ex)) {
      call.error_type = std::string(kNoResponseErrorType);
    }
    out->push_back(ToRecord(call));
    return ParseState::kOk;
  }

  bool mariadb_ = false;
  StatementCache<uint32_t> statements_;
};

bool KnownCommand(uint8_t c) {
  switch (c) {
    case mysql::kComQuit: case mysql::kComInitDb: case mysql::kComQuery: case mysql::kComFieldList:
    case mysql::kComStatistics: case mysql::kComPing: case mysql::kComChangeUser:
    case mysql::kComStmtPrepare: case mysql::kComStmtExecute: case mysql::kComStmtSendLongData:
    case mysql::kComStmtClose: case mysql::kComStmtReset: case mysql::kComSetOption:
    case mysql::kComStmtFetch: case mysql::kComResetConnection:
      return true;
    default:
      return false;
  }
}

class MysqlProtocol : public DbClientProtocol<MysqlParser> {
 public:
  MysqlProtocol() : DbClientProtocol("mysql", kDefaultPort) {}

  Detection Detect(const Exchange& first, const ConnectionInfo& conn) const override {
    const Detection fallback = PortHint(conn);
    if (first.request.empty()) {
      std::string version;
      return mysql::ParseGreeting(first.response, &version) ? Detection::kYes : fallback;
    }
    const std::vector<mysql::Packet> packets = mysql::SplitPackets(first.request);
    if (packets.empty() || packets[0].payload.empty()) return Detection::kNo;
    // Packet lengths must add up to exactly what was sent.
    uint64_t total = 0;
    for (const auto& p : packets) total += mysql::kHeaderBytes + p.length;
    const bool whole = first.request.size() == first.request_bytes;
    if (whole ? total != first.request_bytes : total < first.request.size()) return Detection::kNo;

    const mysql::Packet& p = packets[0];
    bool valid = false;
    if (p.seq == 0) {
      const uint8_t command = static_cast<uint8_t>(p.payload[0]);
      valid = KnownCommand(command);
      if (valid && (command == mysql::kComQuery || command == mysql::kComStmtPrepare)) {
        const std::string_view text = mysql::QueryText(p.payload.substr(1));
        valid = !text.empty() && (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '(' ||
                                  text[0] == '/' || text[0] == ' ' || text[0] == '\n');
      }
    } else if (p.seq == 1 && p.payload.size() >= 32) {
      // HandshakeResponse41: protocol-4.1 capability and a zero filler (MariaDB keeps its
      // extended capabilities in the filler's last 4 bytes, so only 19 are checked).
      const uint32_t caps = static_cast<unsigned char>(p.payload[0]) | (static_cast<unsigned char>(p.payload[1]) << 8);
      valid = (caps & mysql::kClientProtocol41) != 0 && p.payload.substr(9, 19) == std::string(19, '\0');
    }
    if (!valid) return Detection::kNo;
    if (first.response.empty()) return Detection::kYes;
    const std::vector<mysql::Packet> reply = mysql::SplitPackets(first.response);
    if (reply.empty() || reply[0].payload.empty()) return Detection::kMaybe;
    return reply[0].seq == static_cast<uint8_t>(p.seq + 1) ? Detection::kYes : Detection::kNo;
  }
};

}  // namespace

std::unique_ptr<Protocol> MakeMysqlProtocol() { return std::make_unique<MysqlProtocol>(); }

}  // namespace loupe
