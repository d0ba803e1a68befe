#include "userspace/protocols/redis/redis_parse.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe::redis {
namespace {

using namespace std::string_literals;

TEST(ParseCommands, ArrayAndInlineForms) {
  std::vector<Command> cmds;
  ASSERT_EQ(ParseCommands("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\nget  k\r\n", &cmds), ParseResult::kComplete);
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[0].name, "SET");
  EXPECT_EQ(cmds[0].argc, 3u);
  EXPECT_EQ(cmds[1].name, "PING");
  EXPECT_EQ(cmds[1].argc, 1u);
  EXPECT_EQ(cmds[2].name, "GET");
  EXPECT_EQ(cmds[2].argc, 2u);
}

TEST(ParseCommands, CutCommandKeepsItsNameOnly) {
  std::vector<Command> cmds;
  EXPECT_EQ(ParseCommands("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel", &cmds), ParseResult::kIncomplete);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].name, "SET");
  EXPECT_FALSE(cmds[0].complete);
}

TEST(ParseCommands, RejectsNonRedis) {
  std::vector<Command> cmds;
  EXPECT_EQ(ParseCommands("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &cmds), ParseResult::kInvalid);
  EXPECT_EQ(ParseCommands("\x16\x03\x01\x00\x05hello"s, &cmds), ParseResult::kInvalid);
  EXPECT_EQ(ParseCommands("*2\r\n:1\r\n", &cmds), ParseResult::kInvalid);
}

struct ReplyCase {
  const char* name;
  std::string_view bytes;
  bool is_error;
  std::string_view prefix;
};

class ReplyTest : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(ReplyTest, ParsesWholeAndNeedsMoreForEveryPrefix) {
  const ReplyCase& c = GetParam();
  std::vector<Reply> replies;
  ASSERT_EQ(ParseReplies(c.bytes, &replies), ParseResult::kComplete);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].is_error, c.is_error);
  EXPECT_EQ(replies[0].error_prefix, c.prefix);
  for (size_t cut = 1; cut < c.bytes.size(); ++cut) {
    std::vector<Reply> part;
    const ParseResult r = ParseReplies(c.bytes.substr(0, cut), &part);
    // A cut after a whole push or attribute parses, but yields no reply yet.
    EXPECT_TRUE(r == ParseResult::kIncomplete || (r == ParseResult::kComplete && part.empty())) << cut;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Resp, ReplyTest,
    ::testing::Values(ReplyCase{"simple", "+OK\r\n", false, ""},
                      ReplyCase{"error", "-ERR unknown command 'X'\r\n", true, "ERR"},
                      ReplyCase{"wrongtype", "-WRONGTYPE Operation against a key\r\n", true, "WRONGTYPE"},
                      ReplyCase{"integer", ":-42\r\n", false, ""},
                      ReplyCase{"bulk", "$5\r\nhello\r\n", false, ""},
                      ReplyCase{"null_bulk", "$-1\r\n", false, ""},
                      ReplyCase{"array", "*2\r\n$1\r\na\r\n:1\r\n", false, ""},
                      ReplyCase{"null", "_\r\n", false, ""},
                      ReplyCase{"boolean", "#t\r\n", false, ""},
                      ReplyCase{"double", ",3.14\r\n", false, ""},
                      ReplyCase{"big_number", "(3492890328409238509324850943850943825024385\r\n", false, ""},
                      ReplyCase{"verbatim", "=15\r\ntxt:Some string\r\n", false, ""},
                      ReplyCase{"bulk_error", "!21\r\nSYNTAX invalid syntax\r\n", true, "SYNTAX"},
                      ReplyCase{"map", "%1\r\n+f\r\n+v\r\n", false, ""},
                      ReplyCase{"set", "~2\r\n+a\r\n+b\r\n", false, ""},
                      ReplyCase{"attribute_then_reply", "|1\r\n+ttl\r\n:3\r\n+OK\r\n", false, ""},
                      ReplyCase{"push_then_reply", ">2\r\n+invalidate\r\n*1\r\n+k\r\n:7\r\n", false, ""}),
    [](const ::testing::TestParamInfo<ReplyCase>& info) { return std::string(info.param.name); });

TEST(ParseReplies, RejectsNonResp) {
  std::vector<Reply> replies;
  EXPECT_EQ(ParseReplies("HTTP/1.1 200 OK\r\n", &replies), ParseResult::kInvalid);
  EXPECT_EQ(ParseReplies("VALUE k 0 1\r\na\r\nEND\r\n", &replies), ParseResult::kInvalid);
  EXPECT_EQ(ParseReplies("$5\r\nhelloXX", &replies), ParseResult::kInvalid);
}

TEST(ParseReplies, DepthIsBounded) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  std::vector<Reply> replies;
  EXPECT_EQ(ParseReplies(deep, &replies), ParseResult::kInvalid);
}

}  // namespace
}  // namespace loupe::redis
