#include "userspace/protocols/redis/redis_protocol.h"

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

ConnectionInfo ClientConn() { return testing_fixture::ClientConn(16379); }

std::vector<Record> RunConversation(const std::string& dir) {
  const std::vector<WireExchange> exchanges = LoadConversation(dir);
  EXPECT_FALSE(exchanges.empty()) << dir;
  const auto protocol = MakeRedisProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  uint64_t seq = 0;
  for (const auto& wire : exchanges) {
    std::vector<Record> probe;
    auto scratch = protocol->NewConnection(ClientConn());
    if (scratch->Parse(MakeExchange(wire, true), &probe) == ParseState::kOk) {
      // A RESP3 push after the reply is out-of-band: the answer is whole before it.
      const size_t push = wire.response.find("\r\n>");
      testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire, push == std::string::npos ? push : push + 2);
    }
    EXPECT_NE(Feed(*parser, wire, seq++, &records), ParseState::kInvalid) << wire.name;
  }
  EXPECT_EQ(parser->TakeUnreportedRequests(), 0u);
  return records;
}

std::string Names(const std::vector<Record>& records) {
  std::string names;
  for (const Record& r : records) names += r.span_name + (r.is_error ? "!" + r.error_type : "") + ";";
  return names;
}

TEST(RedisProtocol, Resp2SessionWithPipelineAndErrors) {
  const std::vector<Record> records = RunConversation("redis/resp2_session");
  // AUTH (twice) is never reported; the pipeline of 5 commands gives 5 records.
  EXPECT_EQ(Names(records),
            "SELECT;SET;GET;HGETALL!WRONGTYPE;redis!ERR;GET;INCR;GET;LPUSH!WRONGTYPE;LRANGE;MGET;PING;SET;QUIT;");
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(AttributeOr(records[1], "db.query.text"), "SET ? ?");
  EXPECT_EQ(AttributeOr(records[1], "db.namespace"), "2");  // after SELECT 2
  EXPECT_EQ(AttributeOr(records[3], "db.response.status_code"), "WRONGTYPE");
  EXPECT_EQ(Label(records[3], "error_type"), "WRONGTYPE");
  // NOSUCHC is not a Redis command: client-chosen text is neither a label value nor exported.
  EXPECT_EQ(Label(records[4], "db_operation_name"), "_OTHER");
  EXPECT_EQ(AttributeOr(records[4], "db.operation.name"), "_OTHER");
  EXPECT_EQ(AttributeOr(records[4], "db.query.text", "(none)"), "(none)");
  EXPECT_EQ(Label(records[4], "error_type"), "ERR");
  for (const Record& r : records) {
    EXPECT_EQ(Label(r, "db_system_name"), "redis");
    const std::string text = AllRecordText(r);
    EXPECT_EQ(text.find("redispw"), std::string::npos);
    EXPECT_EQ(text.find("wrongpassword"), std::string::npos);
    EXPECT_EQ(text.find("user:42"), std::string::npos);  // keys are never kept
    EXPECT_EQ(text.find("hello"), std::string::npos);
    EXPECT_EQ(text.find("NOSUCHC"), std::string::npos);
  }
}

// A raw-socket client against Redis 7.0: a 3 KB SET (past the 1 KiB request prefix), its GET, five
// pipelined SETs of 400 bytes in one write (2.2 KB) and an unknown command.
TEST(RedisProtocol, LargeValuesCountOnlyCommandsTheRepliesProve) {
  const std::vector<WireExchange> exchanges = LoadConversation("redis/large_values");
  ASSERT_EQ(exchanges.size(), 4u);
  const auto protocol = MakeRedisProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  std::vector<uint64_t> unreported;
  uint64_t seq = 0;
  for (const auto& wire : exchanges) {
    testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire);
    EXPECT_EQ(Feed(*parser, wire, seq++, &records), ParseState::kOk) << wire.name;
    unreported.push_back(parser->TakeUnreportedRequests());
  }
  // 01: the cut SET's one +OK shows nothing else was sent. 03: two SETs and a cut third are
  // visible, five +OKs came back.
  EXPECT_EQ(unreported, (std::vector<uint64_t>{0, 0, 2, 0}));
  EXPECT_EQ(Names(records), "SET;GET;SET;SET;SET;redis!ERR;");
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(Label(records[5], "db_operation_name"), "_OTHER");
  for (const Record& r : records) EXPECT_EQ(AllRecordText(r).find("LOUPENOSUCHCMD"), std::string::npos);

  // The same SET with more response bytes than its first chunk: more was answered, so sent.
  Exchange ex = MakeExchange(exchanges[0], true);
  ex.response_bytes += 5;
  std::vector<Record> out;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 1u);
  // Its reply missing when the exchange ends: cannot tell, one is assumed.
  ex = MakeExchange(exchanges[0], true);
  ex.response = {};
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 1u);
}

TEST(RedisProtocol, Resp3SessionWithHelloAuthAndPush) {
  const std::vector<Record> records = RunConversation("redis/resp3_session");
  EXPECT_EQ(Names(records), "HSET;HGETALL;SADD;SMEMBERS;GET;EXISTS;SET;INCRBYFLOAT;CLIENT;GET;SET;QUIT;");
  for (const Record& r : records) EXPECT_EQ(AllRecordText(r).find("redispw"), std::string::npos);
}

TEST(RedisProtocol, CutPipelineReportsEveryVisibleCommand) {
  const auto protocol = MakeRedisProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  WireExchange wire = LoadConversation("redis/resp2_session")[7];  // the 5-command pipeline
  Exchange ex = MakeExchange(wire, true);
  ex.response = ex.response.substr(0, 12);  // ":1\r\n$5\r\nhello\r\n" cut: one reply visible
  std::vector<Record> out;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(Names(out), "INCR;GET;LPUSH;LRANGE;MGET;");  // statuses unknown past the first
  EXPECT_EQ(parser->TakeUnreportedRequests(), 0u);

  // The request itself cut after two commands: the three replies past them are counted.
  ex = MakeExchange(wire, true);
  ex.request = ex.request.substr(0, 35);
  out.clear();
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(Names(out), "INCR;GET;");
  EXPECT_EQ(parser->TakeUnreportedRequests(), 3u);
}

TEST(RedisProtocol, CallUnansweredAtCloseFailsWithNoResponse) {
  testing_fixture::ExpectUnansweredCallFails(*MakeRedisProtocol(), ClientConn(), "redis/resp2_session");
}

TEST(RedisProtocol, ServerRoleIsIgnored) {
  testing_fixture::ExpectServerRoleIgnored(*MakeRedisProtocol(), ClientConn(), "redis/resp2_session");
}

TEST(RedisProtocol, GarbageIsInvalid) {
  const auto protocol = MakeRedisProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  for (const std::string& junk : {"\x16\x03\x01\x00\x05\x01\x02"s, std::string("*x\r\n"),
                                  std::string("*1\r\n$3\r\nGET\r\n")}) {
    WireExchange wire{"junk", junk, "VALUE x\r\n"};
    std::vector<Record> out;
    EXPECT_EQ(parser->Parse(MakeExchange(wire, true), &out), ParseState::kInvalid) << junk;
    EXPECT_TRUE(out.empty());
  }
}

TEST(RedisProtocol, Detection) {
  const auto protocol = MakeRedisProtocol();
  ConnectionInfo conn = ClientConn();
  const auto session = LoadConversation("redis/resp2_session");
  EXPECT_EQ(protocol->Detect(MakeExchange(session[0], false), conn), Detection::kYes);
  EXPECT_EQ(protocol->Detect(MakeExchange(session[8], false), conn), Detection::kYes);  // inline PING + "+PONG"
  WireExchange inline_no_reply{"inline", "PING\r\n", ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(inline_no_reply, false), conn), Detection::kNo);
  WireExchange memcached{"memcached", "get k\r\n", "END\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(memcached, false), conn), Detection::kNo);
  WireExchange http{"http", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(http, true), conn), Detection::kNo);
  conn.server_port = 6379;
  EXPECT_EQ(protocol->Detect(MakeExchange(inline_no_reply, false), conn), Detection::kMaybe);
}

}  // namespace
}  // namespace loupe
