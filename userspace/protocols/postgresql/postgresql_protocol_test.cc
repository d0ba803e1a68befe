#include "userspace/protocols/postgresql/postgresql_protocol.h"

#include <map>
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

ConnectionInfo ClientConn() { return testing_fixture::ClientConn(15432); }

// Runs a whole captured conversation through one parser, checking on the way that every
// reportable exchange needs more data for each of its cut prefixes.
std::vector<Record> RunConversation(const std::string& dir, bool check_prefixes = true) {
  const std::vector<WireExchange> exchanges = LoadConversation(dir);
  EXPECT_FALSE(exchanges.empty()) << dir;
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  uint64_t seq = 0;
  for (const auto& wire : exchanges) {
    // Which exchanges are reportable is asked of a scratch parser; the prefixes are then fed to
    // the real one, which they must leave unchanged (the counts below would be off otherwise).
    std::vector<Record> probe;
    auto scratch = protocol->NewConnection(ClientConn());
    const ParseState whole = scratch->Parse(MakeExchange(wire, true), &probe);
    if (check_prefixes && whole == ParseState::kOk) testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire);
    const ParseState state = Feed(*parser, wire, seq++, &records);
    EXPECT_NE(state, ParseState::kInvalid) << wire.name;
  }
  return records;
}

TEST(PostgresqlProtocol, PsqlSessionReportsEachQueryWithErrors) {
  const std::vector<Record> records = RunConversation("postgresql/psql_session");
  std::string names;
  for (const Record& r : records) names += r.span_name + ";";
  ASSERT_EQ(records.size(), 8u) << names;  // psql sends BEGIN; SELECT 1; COMMIT; one by one
  EXPECT_EQ(records[0].span_name, "INSERT orders");
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "INSERT INTO orders (id, name, price) VALUES (?, ?, ?);");
  EXPECT_EQ(AttributeOr(records[0], "db.namespace"), "shop");
  EXPECT_EQ(records[1].span_name, "SELECT orders");
  EXPECT_EQ(AttributeOr(records[1], "db.query.text"), "SELECT id, name FROM orders WHERE name = ? AND id IN (?);");
  EXPECT_EQ(records[2].span_name, "UPDATE orders");
  EXPECT_FALSE(records[2].is_error);

  // SELEC 1: syntax error; the typo is not used as an operation name.
  EXPECT_TRUE(records[3].is_error);
  EXPECT_EQ(records[3].error_type, "42601");
  EXPECT_EQ(AttributeOr(records[3], "db.response.status_code"), "42601");
  EXPECT_EQ(Label(records[3], "db_operation_name"), "");
  EXPECT_EQ(records[3].span_name, "postgresql");

  EXPECT_TRUE(records[4].is_error);
  EXPECT_EQ(records[4].error_type, "42P01");
  EXPECT_EQ(records[4].span_name, "SELECT missing_table");
  EXPECT_EQ(Label(records[4], "error_type"), "42P01");

  EXPECT_EQ(records[5].span_name, "BEGIN");
  EXPECT_EQ(records[6].span_name, "SELECT");
  EXPECT_EQ(records[7].span_name, "COMMIT");
  for (const Record& r : records) {
    EXPECT_EQ(r.instrument, &instruments::kDbClient);
    EXPECT_EQ(r.span_kind(), SpanKind::kClient);
    EXPECT_EQ(r.protocol, "postgresql");
    EXPECT_EQ(Label(r, "db_system_name"), "postgresql");
    EXPECT_EQ(Label(r, "server_port"), "15432");
    EXPECT_EQ(r.incoming_context, std::nullopt);
    EXPECT_EQ(AllRecordText(r).find("alice"), std::string::npos) << AllRecordText(r);
  }
}

TEST(PostgresqlProtocol, CleartextPasswordNeverReachesARecord) {
  const std::vector<Record> records = RunConversation("postgresql/cleartext_multi");
  ASSERT_EQ(records.size(), 1u);  // a multi-statement simple query is one call
  EXPECT_EQ(Label(records[0], "db_operation_name"), "BEGIN");
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "BEGIN; SELECT count(*) FROM orders; COMMIT");
  for (const Record& r : records) {
    EXPECT_EQ(AllRecordText(r).find("Sup3rSecretPw"), std::string::npos);
    EXPECT_EQ(AllRecordText(r).find("clearuser"), std::string::npos);
  }
}

// pgbench's TPC-B-like script: BEGIN, 3 UPDATEs, SELECT, INSERT, END per transaction; the
// capture ran 2 transactions, so each statement must appear exactly twice.
void ExpectPgbenchCounts(const std::vector<Record>& records) {
  std::map<std::string, int> by_span;
  for (const Record& r : records) {
    ++by_span[r.span_name];
    EXPECT_FALSE(r.is_error) << r.span_name;
    EXPECT_NE(AttributeOr(r, "db.query.text"), "") << r.span_name;
  }
  EXPECT_EQ(by_span["BEGIN"], 2);
  EXPECT_EQ(by_span["UPDATE pgbench_accounts"], 2);
  EXPECT_EQ(by_span["SELECT pgbench_accounts"], 2);
  EXPECT_EQ(by_span["UPDATE pgbench_tellers"], 2);
  EXPECT_EQ(by_span["UPDATE pgbench_branches"], 2);
  EXPECT_EQ(by_span["INSERT pgbench_history"], 2);
  EXPECT_EQ(by_span["END"], 2);
}

TEST(PostgresqlProtocol, PgbenchExtendedCountsExactly) {
  const std::vector<Record> records = RunConversation("postgresql/pgbench_extended/c2");
  ExpectPgbenchCounts(records);
}

TEST(PostgresqlProtocol, PgbenchPreparedUsesRememberedStatements) {
  const std::vector<Record> records = RunConversation("postgresql/pgbench_prepared/c2");
  ExpectPgbenchCounts(records);
  for (const Record& r : records) {
    if (r.span_name == "UPDATE pgbench_accounts") {
      EXPECT_EQ(AttributeOr(r, "db.query.text"), "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;");
    }
  }
}

TEST(PostgresqlProtocol, PgbenchSetupConnectionParses) {
  for (const char* dir : {"postgresql/pgbench_extended/c1", "postgresql/pgbench_prepared/c1"}) {
    const std::vector<Record> records = RunConversation(dir);
    EXPECT_FALSE(records.empty()) << dir;
  }
}

// psql running COPY loupe_copy FROM STDIN with 2000 rows (8.9 KB of CopyData: past the 1 KiB
// request prefix), then with 3 rows, COPY loupe_copy TO STDOUT (19 KB answer), a COPY FROM STDIN
// whose second row is bad, and a SELECT. Each FROM STDIN is two exchanges: the Query answered by
// CopyInResponse (03, 05, 08), then the data answered by CommandComplete or ErrorResponse.
TEST(PostgresqlProtocol, CopyIsOneCallSpanningBothExchanges) {
  const std::vector<WireExchange> wire = LoadConversation("postgresql/copy_session");
  ASSERT_EQ(wire.size(), 11u);
  const std::vector<Record> records = RunConversation("postgresql/copy_session");
  std::string names;
  for (const Record& r : records) names += r.span_name + (r.is_error ? "!" + r.error_type : "") + ";";
  EXPECT_EQ(names, "COPY loupe_copy;COPY loupe_copy;COPY loupe_copy;COPY loupe_copy!22P02;SELECT loupe_copy;");
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(Label(records[i], "db_operation_name"), "COPY") << i;
    EXPECT_EQ(Label(records[i], "db_collection_name"), "loupe_copy") << i;
  }
  EXPECT_EQ(AttributeOr(records[0], "db.query.text"), "COPY loupe_copy FROM STDIN;");
  EXPECT_EQ(AttributeOr(records[2], "db.query.text"), "COPY loupe_copy TO STDOUT;");
  // A FROM STDIN call lasts from its Query to the answer to its data.
  const struct {
    size_t record, query, data;
  } spans[] = {{0, 2, 3}, {1, 4, 5}, {3, 7, 8}};
  for (const auto& s : spans) {
    EXPECT_EQ(records[s.record].start_ns, MakeExchange(wire[s.query], true, s.query).request_start_ns) << s.record;
    EXPECT_EQ(records[s.record].end_ns, MakeExchange(wire[s.data], true, s.data).response_end_ns) << s.record;
  }
  EXPECT_EQ(records[2].start_ns, MakeExchange(wire[6], true, 6).request_start_ns);
  EXPECT_EQ(records[2].end_ns, MakeExchange(wire[6], true, 6).response_end_ns);
  for (const Record& r : records) EXPECT_EQ(AllRecordText(r).find("not-a-number"), std::string::npos);
}

TEST(PostgresqlProtocol, CopyDataExchangesNeedMoreDataWhenCut) {
  const std::vector<WireExchange> wire = LoadConversation("postgresql/copy_session");
  ASSERT_EQ(wire.size(), 11u);
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> records;
  for (size_t i = 0; i < wire.size(); ++i) {
    // The Query waiting for CopyInResponse, and the data waiting for its answer (with the COPY
    // pending in the parser): every cut must wait and change nothing.
    if (i == 2 || i == 3 || i == 4 || i == 5 || i == 7 || i == 8) {
      testing_fixture::ExpectPrefixesNeedMoreData(*parser, wire[i]);
    }
    EXPECT_NE(Feed(*parser, wire[i], i, &records), ParseState::kInvalid) << wire[i].name;
  }
  EXPECT_EQ(records.size(), 5u);
  EXPECT_EQ(parser->TakeUnreportedRequests(), 0u);
}

TEST(PostgresqlProtocol, CopyQueryIsNotReportedUntilItsDataIsAnswered) {
  const std::vector<WireExchange> wire = LoadConversation("postgresql/copy_session");
  ASSERT_EQ(wire.size(), 11u);
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> out;
  // CopyInResponse ends the exchange at once (the server waits): no need to wait for final.
  EXPECT_EQ(parser->Parse(MakeExchange(wire[2], false, 2), &out), ParseState::kIgnored);
  EXPECT_TRUE(out.empty());
  // The cut data request is only decided once final; its CommandComplete finishes the COPY.
  EXPECT_EQ(parser->Parse(MakeExchange(wire[3], false, 3), &out), ParseState::kNeedsMoreData);
  ASSERT_EQ(parser->Parse(MakeExchange(wire[3], true, 3), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "COPY loupe_copy");
  EXPECT_EQ(AttributeOr(out[0], "db.query.text"), "COPY loupe_copy FROM STDIN;");
  EXPECT_EQ(parser->TakeUnreportedRequests(), 0u);

  // Without the Query (the agent attached mid-COPY) the data's answer is a COPY of unknown text.
  auto late = protocol->NewConnection(ClientConn());
  out.clear();
  ASSERT_EQ(late->Parse(MakeExchange(wire[3], true, 3), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Label(out[0], "db_operation_name"), "COPY");
  EXPECT_EQ(AttributeOr(out[0], "db.query.text"), "");
}

TEST(PostgresqlProtocol, CopyAbandonedForAnotherQueryIsCountedUnreported) {
  const std::vector<WireExchange> wire = LoadConversation("postgresql/copy_session");
  ASSERT_EQ(wire.size(), 11u);
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(MakeExchange(wire[4], true, 4), &out), ParseState::kIgnored);
  // A Query instead of CopyData: the COPY's outcome is unknown; the SELECT is reported alone.
  ASSERT_EQ(parser->Parse(MakeExchange(wire[9], true, 9), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "SELECT loupe_copy");
  EXPECT_EQ(parser->TakeUnreportedRequests(), 1u);
  // CopyData with nothing pending (e.g. rows the server discarded after an error) is no call.
  out.clear();
  EXPECT_EQ(parser->Parse(MakeExchange(wire[5], true, 5), &out), ParseState::kIgnored);
  EXPECT_TRUE(out.empty());
}

TEST(PostgresqlProtocol, CallUnansweredAtCloseFailsWithNoResponse) {
  testing_fixture::ExpectUnansweredCallFails(*MakePostgresqlProtocol(), ClientConn(), "postgresql/psql_session");
}

TEST(PostgresqlProtocol, ServerRoleIsIgnored) {
  testing_fixture::ExpectServerRoleIgnored(*MakePostgresqlProtocol(), ClientConn(), "postgresql/psql_session");
}

TEST(PostgresqlProtocol, GarbageIsInvalid) {
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  for (std::string garbage : {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "\x16\x03\x01\x02\x00\x01"s,
                              std::string("*1\r\n$4\r\nPING\r\n"), "Q\0\0\0\x01zz"s}) {
    WireExchange wire{"garbage", garbage, "C\0\0\0\x04"};
    std::vector<Record> out;
    EXPECT_EQ(parser->Parse(MakeExchange(wire, true), &out), ParseState::kInvalid) << garbage;
    EXPECT_TRUE(out.empty());
  }
}

TEST(PostgresqlProtocol, FinalCutResponseStillReports) {
  // A big result whose prefix lacks ReadyForQuery: reported once final, without error.
  const auto protocol = MakePostgresqlProtocol();
  auto parser = protocol->NewConnection(ClientConn());
  const std::vector<WireExchange> session = LoadConversation("postgresql/psql_session");
  WireExchange wire = session[5];  // the SELECT
  wire.response.resize(20);
  Exchange ex = MakeExchange(wire, false);
  ex.response_bytes = 4096;
  std::vector<Record> out;
  EXPECT_EQ(parser->Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  ASSERT_EQ(parser->Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "SELECT orders");
  EXPECT_FALSE(out[0].is_error);
}

TEST(PostgresqlProtocol, DetectsItsOwnFirstExchangesOnly) {
  const auto protocol = MakePostgresqlProtocol();
  ConnectionInfo conn = ClientConn();
  for (const char* dir : {"postgresql/psql_session", "postgresql/cleartext_multi", "postgresql/pgbench_extended/c2"}) {
    const auto wire = LoadConversation(dir);
    ASSERT_FALSE(wire.empty());
    EXPECT_EQ(protocol->Detect(MakeExchange(wire[0], false), conn), Detection::kYes) << dir;
  }
  // Mid-stream: a simple query with its answer.
  EXPECT_EQ(protocol->Detect(MakeExchange(LoadConversation("postgresql/psql_session")[6], false), conn), Detection::kYes);
  WireExchange http{"http", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"};
  EXPECT_EQ(protocol->Detect(MakeExchange(http, true), conn), Detection::kNo);
  WireExchange tls{"tls", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s, ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(tls, false), conn), Detection::kNo);
  conn.server_port = 5432;
  WireExchange unknown{"unknown", "\x01\x02\x03", ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(unknown, false), conn), Detection::kNo);
  WireExchange nothing{"nothing", "", ""};
  EXPECT_EQ(protocol->Detect(MakeExchange(nothing, false), conn), Detection::kMaybe);
}

}  // namespace
}  // namespace loupe
