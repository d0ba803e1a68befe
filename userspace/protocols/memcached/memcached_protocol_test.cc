#include "userspace/protocols/memcached/memcached_protocol.h"

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

ConnectionInfo ClientConn() { return testing_fixture::ClientConn(21211); }

std::string Names(const std::vector<Record>& records) {
  std::string names;
  for (const Record& r : records) names += r.span_name + (r.is_error ? "!" + r.error_type : "") + ";";
  return names;
}

TEST(MemcachedProtocol, TextSession) {
  const std::vector<WireExchange> exchanges = LoadConversation("memcached/text_session");
  ASSERT_FALSE(exchanges.empty());
  const auto protocol = MakeMemcachedProtocol();
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
  EXPECT_EQ(parser->TakeUnreportedRequests(), 0u);
  EXPECT_EQ(Names(records),
            "set;get;get;gets;add;replace;append;cas;set;incr;decr;incr!CLIENT_ERROR;touch;gat;delete;delete;"
            "memcached!ERROR;set!CLIENT_ERROR;version;verbosity;set;get;delete;get;flush_all;stats;");
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(AttributeOr(records[2], "db.query.text"), "get ? ? ?");
  EXPECT_EQ(AttributeOr(records[20], "db.query.text"), "set ? ? ? ? noreply");
  EXPECT_EQ(AttributeOr(records[16], "db.response.status_code"), "ERROR");
  for (const Record& r : records) {
    EXPECT_EQ(Label(r, "db_system_name"), "memcached");
    EXPECT_EQ(AllRecordText(r).find("user:1"), std::string::npos);
    EXPECT_EQ(AllRecordText(r).find("hello"), std::string::npos);
  }
}

// A raw-socket client against memcached 1.6: a 3 KB set (as memcslap sends them), its get, five
// pipelined 400-byte sets in one write (2.1 KB) and a 2 KB noreply set with a get behind it.
TEST(MemcachedProtocol, LargeValuesCountOnlyCommandsTheRepliesProve) {
  const std::vector<WireExchange> exchanges = LoadConversation("memcached/large_values");
  ASSERT_EQ(exchanges.size(), 5u);
  const auto protocol = MakeMemcachedProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  std::vector<uint64_t> unreported;
  uint64_t seq = 0;
  for (const auto& wire : exchanges) {
    std::vector<Record> probe;
    auto scratch = protocol->NewConnection(ClientConn());
    if (scratch->Parse(MakeExchange(wire, true), &probe) == ParseState::kOk) {
      testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire);
    }
    EXPECT_NE(Feed(*parser, wire, seq++, &records), ParseState::kInvalid) << wire.name;
    unreported.push_back(parser->TakeUnreportedRequests());
  }
  // 01: the cut set's single STORED shows nothing else was sent. 03: two sets and a cut third
  // are visible, five STOREDs came back. 04: the get behind the cut noreply set has its VALUE.
  EXPECT_EQ(unreported, (std::vector<uint64_t>{0, 0, 2, 1, 0}));
  EXPECT_EQ(Names(records), "set;get;set;set;set;set;");
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "set ? ? ? ?");
  EXPECT_EQ(AttributeOr(records[5], "db.query.text"), "set ? ? ? ? noreply");
}

TEST(MemcachedProtocol, CutRequestWithUnseenReplyTailCountsAtLeastOne) {
  const std::vector<WireExchange> exchanges = LoadConversation("memcached/large_values");
  ASSERT_EQ(exchanges.size(), 5u);
  const auto protocol = MakeMemcachedProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> out;
  // The big set's STORED, but more response bytes than the first chunk holds: something else
  // was answered, so something else was sent.
  Exchange ex = MakeExchange(exchanges[0], true);
  ex.response_bytes += 8;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 1u);
  // A cut reply after the known ones: one more, at least.
  WireExchange pipelined = exchanges[2];
  pipelined.response += "STO";
  ex = MakeExchange(pipelined, true);
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 3u);
  // The visible set's own reply is missing when the exchange ends: cannot tell, one is assumed.
  ex = MakeExchange(exchanges[0], true);
  ex.response = {};
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 1u);
}

TEST(MemcachedProtocol, BinaryProtocolIsNotSupported) {
  const auto protocol = MakeMemcachedProtocol();
  ConnectionInfo conn = ClientConn();
  conn.server_port = 11211;
  WireExchange binary{"binary", "\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00k"s,
                      "\x81\x00\x00\x00"s};
  EXPECT_EQ(protocol->Detect(MakeExchange(binary, true), conn), Detection::kNo);
  auto parser = protocol->NewConnection(conn);
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(MakeExchange(binary, true), &out), ParseState::kInvalid);
}

TEST(MemcachedProtocol, CallUnansweredAtCloseFailsWithNoResponse) {
  testing_fixture::ExpectUnansweredCallFails(*MakeMemcachedProtocol(), ClientConn(),
                                             "memcached/text_session");
}

TEST(MemcachedProtocol, NoreplyCommandAtCloseIsNoFailure) {
  const auto protocol = MakeMemcachedProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  WireExchange wire{"noreply", "set k 0 0 1 noreply\r\nv\r\n", ""};
  Exchange ex = MakeExchange(wire, /*final=*/true);
  ex.closed_with_totals = true;
  std::vector<Record> out;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_error) << "noreply asks for no answer";
}

TEST(MemcachedProtocol, GarbageAndServerRole) {
  const auto protocol = MakeMemcachedProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  WireExchange junk{"junk", "\x16\x03\x01\x00\x05hello"s, "STORED\r\n"};
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(MakeExchange(junk, true), &out), ParseState::kInvalid);
  WireExchange redis_reply{"redis", "get k\r\n", "$1\r\nv\r\n"};
  EXPECT_EQ(parser->Parse(MakeExchange(redis_reply, true), &out), ParseState::kInvalid);
  EXPECT_TRUE(out.empty());
  ConnectionInfo server = ClientConn();
  server.role = Role::kServer;
  auto server_parser = protocol->NewConnection(server);
  for (const auto& wire : LoadConversation("memcached/text_session")) {
    EXPECT_EQ(server_parser->Parse(MakeExchange(wire, true, 0, Role::kServer), &out), ParseState::kIgnored);
  }
  EXPECT_TRUE(out.empty());
}

TEST(MemcachedProtocol, Detection) {
  const auto protocol = MakeMemcachedProtocol();
  ConnectionInfo conn = ClientConn();
  const auto session = LoadConversation("memcached/text_session");
  EXPECT_EQ(protocol->Detect(MakeExchange(session[0], false), conn), Detection::kYes);  // set + STORED
  EXPECT_EQ(protocol->Detect(MakeExchange(session[1], false), conn), Detection::kYes);  // get + VALUE
  WireExchange lone_get{"get", "get k\r\n", ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(lone_get, false), conn), Detection::kNo);  // could be Redis inline
  WireExchange redis_inline{"redis", "get k\r\n", "$-1\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(redis_inline, false), conn), Detection::kNo);
  WireExchange http{"http", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(http, true), conn), Detection::kNo);
  conn.server_port = 11211;
  EXPECT_EQ(protocol->Detect(MakeExchange(lone_get, false), conn), Detection::kMaybe);
}

}  // namespace
}  // namespace loupe
