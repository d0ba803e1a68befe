#include "userspace/protocols/postgresql/pg_parse.h"

#include <string>

#include "gtest/gtest.h"
#include "userspace/protocols/postgresql/pg_stitch.h"

namespace loupe::pg {
namespace {

using namespace std::string_literals;

std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string Msg(char type, std::string_view body) {
  return std::string(1, type) + BigEndian32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

TEST(ClassifyStartup, RecognisesUntypedMessages) {
  EXPECT_EQ(ClassifyStartup(BigEndian32(8) + BigEndian32(kSslRequest)), StartupKind::kSslRequest);
  EXPECT_EQ(ClassifyStartup(BigEndian32(8) + BigEndian32(kGssEncRequest)), StartupKind::kGssEncRequest);
  EXPECT_EQ(ClassifyStartup(BigEndian32(16) + BigEndian32(kCancelRequest) + "12345678"), StartupKind::kCancel);
  const std::string startup_body = BigEndian32(kProtocolV3) + "user\0bob\0\0"s;
  EXPECT_EQ(ClassifyStartup(BigEndian32(4 + startup_body.size()) + startup_body), StartupKind::kStartup);
  EXPECT_EQ(ClassifyStartup(Msg('Q', "SELECT 1\0"s)), StartupKind::kNone);
  EXPECT_EQ(ClassifyStartup("\x16\x03\x01\x02\x00\x01\x00\x01"), StartupKind::kNone);
  EXPECT_EQ(ClassifyStartup("short"), StartupKind::kNone);
}

TEST(StartupDatabase, DatabaseThenUserFallback) {
  const std::string with_db = BigEndian32(kProtocolV3) + "user\0bob\0database\0shop\0\0"s;
  EXPECT_EQ(StartupDatabase(BigEndian32(4 + with_db.size()) + with_db), "shop");
  const std::string without_db = BigEndian32(kProtocolV3) + "user\0bob\0\0"s;
  EXPECT_EQ(StartupDatabase(BigEndian32(4 + without_db.size()) + without_db), "bob");
}

TEST(SplitMessages, MarksTheCutMessageIncomplete) {
  const std::string parse = Msg('P', "\0SELECT 1\0\0\0"s);
  const std::string bytes = parse + Msg('S', "");
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    if (cut == parse.size()) continue;  // a boundary: nothing is cut
    std::vector<Message> out;
    ASSERT_TRUE(SplitMessages(std::string_view(bytes).substr(0, cut), true, &out)) << cut;
    ASSERT_FALSE(out.empty());
    EXPECT_FALSE(out.back().complete) << cut;
  }
  std::vector<Message> whole;
  ASSERT_TRUE(SplitMessages(bytes, true, &whole));
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_TRUE(whole[0].complete && whole[1].complete);
}

TEST(SplitMessages, RejectsUnknownTypesAndBadLengths) {
  std::vector<Message> out;
  EXPECT_FALSE(SplitMessages("GET / HTTP/1.1\r\n\r\n", true, &out));
  EXPECT_FALSE(SplitMessages("Q\0\0\0\x02"s, true, &out));
  EXPECT_FALSE(SplitMessages("\x16\x03\x01\x00\x10"s, false, &out));
}

TEST(ErrorSqlState, ReadsTheCodeField) {
  EXPECT_EQ(ErrorSqlState("SERROR\0VERROR\0C42P01\0Mrelation does not exist\0\0"s), "42P01");
  EXPECT_EQ(ErrorSqlState("SERROR\0Mno code\0\0"s), "");
  EXPECT_EQ(ErrorSqlState("SERROR\0C426"s), "");  // cut inside the field
}

TEST(StitchResponse, ErrorAbortsTheRestOfItsSyncGroupOnly) {
  const std::string request = Msg('P', "a\0SELECT 1\0\0\0"s) + Msg('B', "\0a\0\0\0\0\0\0\0"s) +
                              Msg('E', "\0\0\0\0\0"s) + Msg('E', "\0\0\0\0\0"s) +
                              Msg('S', "") + Msg('E', "\0\0\0\0\0"s) + Msg('S', "");
  std::vector<Message> frontend;
  ASSERT_TRUE(SplitMessages(request, true, &frontend));
  StatementCache statements;
  StatementCache portals;
  const RequestPlan plan = PlanRequest(frontend, statements, portals);
  ASSERT_EQ(plan.calls.size(), 3u);
  EXPECT_EQ(plan.calls[0].query, "SELECT ?");
  EXPECT_EQ(plan.expected_ready, 2);

  const std::string response = Msg('1', "") + Msg('2', "") + Msg('E', "SERROR\0C22012\0\0"s) +
                               Msg('Z', "I") + Msg('2', "") + Msg('C', "SELECT 1\0"s) + Msg('Z', "I");
  std::vector<Message> backend;
  ASSERT_TRUE(SplitMessages(response, false, &backend));
  const StitchResult r = StitchResponse(plan, backend);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.outcomes[0].sqlstate, "22012");
  EXPECT_TRUE(r.outcomes[1].skipped);
  EXPECT_FALSE(r.outcomes[2].skipped);
  EXPECT_EQ(r.outcomes[2].command_verb, "SELECT");
  EXPECT_EQ(r.outcomes[2].sqlstate, "");
}

TEST(StitchResponse, CopyInResponseLeavesTheExtendedCopyPending) {
  // Parse/Bind/Execute of a COPY FROM STDIN, then Sync, all in one write (as pgx does): the
  // server answers CopyInResponse; the Sync's ReadyForQuery comes after the copy is done.
  const std::string request = Msg('P', "\0COPY t FROM STDIN\0\0\0"s) + Msg('B', "\0\0\0\0\0\0\0\0"s) +
                              Msg('E', "\0\0\0\0\0"s) + Msg('S', "");
  std::vector<Message> frontend;
  ASSERT_TRUE(SplitMessages(request, true, &frontend));
  StatementCache statements;
  StatementCache portals;
  RequestPlan plan = PlanRequest(frontend, statements, portals);
  ASSERT_EQ(plan.calls.size(), 1u);
  // SplitMessages keeps views into its input: the bytes live in named strings.
  const std::string copy_in = Msg('1', "") + Msg('2', "") + Msg('G', "\0\0\0"s);
  std::vector<Message> backend;
  ASSERT_TRUE(SplitMessages(copy_in, false, &backend));
  const StitchResult first = StitchResponse(plan, backend);
  EXPECT_TRUE(first.copy_in);
  EXPECT_EQ(first.copy_in_call, 0u);
  EXPECT_FALSE(first.complete);
  const PendingCopy pending = MakePendingCopy(plan, first, 7000);
  ASSERT_EQ(pending.calls.size(), 1u);
  EXPECT_EQ(pending.calls[0].start_ns, 7000u);
  EXPECT_EQ(pending.calls[0].query, "COPY t FROM STDIN");
  EXPECT_EQ(pending.ready_owed, 1);

  // The data, CopyDone and a simple Query pipelined behind it.
  const std::string data_request = Msg('d', "1\n") + Msg('c', "") + Msg('Q', "SELECT 1\0"s);
  std::vector<Message> data;
  ASSERT_TRUE(SplitMessages(data_request, true, &data));
  ASSERT_TRUE(ContinuesCopy(data));
  RequestPlan next = PlanRequest(data, statements, portals);
  PrependPendingCopy(pending, &next);
  ASSERT_EQ(next.calls.size(), 2u);
  EXPECT_EQ(next.expected_ready, 2);
  EXPECT_NE(next.calls[0].sync_group, next.calls[1].sync_group);
  const std::string answer_bytes = Msg('C', "COPY 1\0"s) + Msg('Z', "I") + Msg('C', "SELECT 1\0"s) + Msg('Z', "I");
  std::vector<Message> answer;
  ASSERT_TRUE(SplitMessages(answer_bytes, false, &answer));
  const StitchResult second = StitchResponse(next, answer);
  EXPECT_TRUE(second.complete);
  EXPECT_FALSE(second.copy_in);
  EXPECT_EQ(second.outcomes[0].command_verb, "COPY");
  EXPECT_EQ(second.outcomes[1].command_verb, "SELECT");
  EXPECT_TRUE(second.extra_verbs.empty());
}

TEST(StitchResponse, CopyInFollowedByAnythingButAsyncMessagesIsNotPending) {
  const std::string query = Msg('Q', "COPY t FROM STDIN\0"s);
  std::vector<Message> frontend;
  ASSERT_TRUE(SplitMessages(query, true, &frontend));
  const RequestPlan plan = PlanRequest(frontend, StatementCache(), StatementCache());
  const std::string with_notice = Msg('G', "\0\0\0"s) + Msg('N', "SNOTICE\0\0"s);
  std::vector<Message> backend;
  ASSERT_TRUE(SplitMessages(with_notice, false, &backend));
  EXPECT_TRUE(StitchResponse(plan, backend).copy_in);
  const std::string with_error = Msg('G', "\0\0\0"s) + Msg('E', "SERROR\0C22P02\0\0"s) + Msg('Z', "I");
  backend.clear();
  ASSERT_TRUE(SplitMessages(with_error, false, &backend));
  const StitchResult r = StitchResponse(plan, backend);
  EXPECT_FALSE(r.copy_in);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.outcomes[0].sqlstate, "22P02");
}

}  // namespace
}  // namespace loupe::pg
