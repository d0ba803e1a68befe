#include "userspace/protocols/mysql/mysql_protocol.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "userspace/protocols/sql/wire_fixture.h"

namespace loupe {
namespace {

using namespace std::string_literals;

using testing_fixture::AllRecordText;
using testing_fixture::AttributeOr;
using testing_fixture::Feed;
using testing_fixture::Label;
using testing_fixture::LoadConversation;
using testing_fixture::MakeExchange;
using testing_fixture::WireExchange;

ConnectionInfo ClientConn() { return testing_fixture::ClientConn(13306); }

std::vector<Record> RunConversation(const std::string& dir, uint64_t* unreported = nullptr) {
  const std::vector<WireExchange> exchanges = LoadConversation(dir);
  EXPECT_FALSE(exchanges.empty()) << dir;
  const auto protocol = MakeMysqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  uint64_t seq = 0;
  for (const auto& wire : exchanges) {
    std::vector<Record> probe;
    auto scratch = protocol->NewConnection(ClientConn());
    if (scratch->Parse(MakeExchange(wire, true), &probe) == ParseState::kOk) {
      testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire);
    }
    EXPECT_NE(Feed(*parser, wire, seq++, &records), ParseState::kInvalid) << wire.name;
  }
  if (unreported != nullptr) *unreported = parser->TakeUnreportedRequests();
  return records;
}

TEST(MysqlProtocol, CliSessionWithErrors) {
  const std::vector<Record> records = RunConversation("mysql/cli_session");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].span_name, "SELECT orders");
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "SELECT id, name FROM orders WHERE name = ? AND id IN (?)");
  EXPECT_EQ(records[1].span_name, "UPDATE orders");
  EXPECT_EQ(AttributeOr(records[1], "db.query.text"), "UPDATE orders SET price = ? WHERE id = ?");
  EXPECT_FALSE(records[1].is_error);
  EXPECT_TRUE(records[2].is_error);
  EXPECT_EQ(records[2].error_type, "1146");
  EXPECT_EQ(AttributeOr(records[2], "db.response.status_code"), "1146");
  EXPECT_EQ(records[2].span_name, "SELECT missing_table");
  EXPECT_EQ(records[3].error_type, "1064");
  for (const Record& r : records) {
    EXPECT_EQ(Label(r, "db_system_name"), "mariadb");  // from the greeting
    EXPECT_EQ(AttributeOr(r, "db.namespace"), "shop"); // from the handshake response
    EXPECT_EQ(r.protocol, "mysql");
    EXPECT_EQ(AllRecordText(r).find("book"), std::string::npos);
  }
}

TEST(MysqlProtocol, PreparedStatementsUseRememberedSql) {
  uint64_t unreported = 0;
  const std::vector<Record> records = RunConversation("mysql/prepared", &unreported);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].span_name, "SELECT orders");
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "SELECT id, name FROM orders WHERE id = ? AND name = ?");
  EXPECT_FALSE(records[0].is_error);
  EXPECT_EQ(records[1].span_name, "INSERT orders");
  EXPECT_EQ(AttributeOr(records[1], "db.query.text"), "INSERT INTO orders (id, name, price) VALUES (?, ?, ?)");
  EXPECT_EQ(records[1].error_type, "1062");  // duplicate key
  // COM_STMT_CLOSE glued before COM_QUERY in one request.
  EXPECT_EQ(records[2].span_name, "SELECT orders");
  EXPECT_EQ(unreported, 0u);
}

TEST(MysqlProtocol, AuthenticationNeverReachesARecord) {
  const std::vector<WireExchange> session = LoadConversation("mysql/cli_session");
  ASSERT_GE(session.size(), 2u);
  // The scrambled password sits right after "app\0" and its length byte in the handshake.
  const std::string& handshake = session[1].request;
  const size_t user = handshake.find("app\0"s);
  ASSERT_NE(user, std::string::npos);
  const std::string token = handshake.substr(user + 5, 20);
  const auto protocol = MakeMysqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(MakeExchange(session[1], true), &out), ParseState::kIgnored);
  EXPECT_TRUE(out.empty());
  for (const Record& r : RunConversation("mysql/cli_session")) {
    EXPECT_EQ(AllRecordText(r).find(token), std::string::npos);
    EXPECT_EQ(AllRecordText(r).find("MyS3cretPw"), std::string::npos);
  }
}

TEST(MysqlProtocol, CallUnansweredAtCloseFailsWithNoResponse) {
  testing_fixture::ExpectUnansweredCallFails(*MakeMysqlProtocol(), ClientConn(), "mysql/cli_session");
}

TEST(MysqlProtocol, ServerRoleIsIgnored) {
  testing_fixture::ExpectServerRoleIgnored(*MakeMysqlProtocol(), ClientConn(), "mysql/cli_session");
}

TEST(MysqlProtocol, GarbageIsInvalid) {
  const auto protocol = MakeMysqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  WireExchange junk{"junk", "\x05\x00\x00\x00"s, ""};  // empty payload at seq 0
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(MakeExchange(junk, true), &out), ParseState::kInvalid);
  WireExchange tiny{"tiny", "ab", ""};
  EXPECT_EQ(parser->Parse(MakeExchange(tiny, true), &out), ParseState::kInvalid);
  EXPECT_TRUE(out.empty());
}

TEST(MysqlProtocol, FinalCutResultSetReportsOk) {
  const auto protocol = MakeMysqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  WireExchange wire = LoadConversation("mysql/cli_session")[2];
  wire.response.resize(30);
  Exchange ex = MakeExchange(wire, false);
  ex.response_bytes = 5000;
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_error);
  EXPECT_EQ(Label(out[0], "db_system_name"), "mysql");  // no greeting seen on this connection
}

TEST(MysqlProtocol, Detection) {
  const auto protocol = MakeMysqlProtocol();
  ConnectionInfo conn = ClientConn();
  const auto cli = LoadConversation("mysql/cli_session");
  EXPECT_EQ(protocol->Detect(MakeExchange(cli[0], false), conn), Detection::kYes);  // greeting
  EXPECT_EQ(protocol->Detect(MakeExchange(cli[1], false), conn), Detection::kYes);  // handshake response
  EXPECT_EQ(protocol->Detect(MakeExchange(cli[2], false), conn), Detection::kYes);  // mid-stream query
  const auto prepared = LoadConversation("mysql/prepared");
  EXPECT_EQ(protocol->Detect(MakeExchange(prepared[4], false), conn), Detection::kYes);  // COM_STMT_PREPARE
  WireExchange http{"http", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(http, true), conn), Detection::kNo);
  WireExchange tls{"tls", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s, ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(tls, false), conn), Detection::kNo);
  conn.server_port = 3306;
  WireExchange nothing{"nothing", "", ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(nothing, false), conn), Detection::kMaybe);
}

}  // namespace
}  // namespace loupe
