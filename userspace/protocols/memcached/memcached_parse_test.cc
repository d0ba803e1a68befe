#include "userspace/protocols/memcached/memcached_parse.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe::memcached {
namespace {

using namespace std::string_literals;

TEST(ParseCommands, StorageUsesTheDataBlockLength) {
  std::vector<Command> cmds;
  // The data block contains "\r\nget x\r\n": it must not be read as a command.
  const std::string req = "set k 0 0 9\r\n\r\nget x\r\n\r\ndelete k noreply\r\n";
  ASSERT_EQ(ParseCommands(req, &cmds), ParseResult::kComplete);
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0].name, "set");
  EXPECT_EQ(cmds[0].kind, Kind::kStorage);
  EXPECT_EQ(cmds[1].name, "delete");
  EXPECT_TRUE(cmds[1].noreply);
  EXPECT_FALSE(cmds[1].ExpectsReply());
  for (size_t cut = 1; cut < 24; ++cut) {
    std::vector<Command> part;
    EXPECT_EQ(ParseCommands(std::string_view(req).substr(0, cut), &part), ParseResult::kIncomplete) << cut;
  }
}

TEST(ParseCommands, RejectsOtherProtocols) {
  std::vector<Command> cmds;
  EXPECT_EQ(ParseCommands("GET / HTTP/1.1\r\n", &cmds), ParseResult::kInvalid);
  EXPECT_EQ(ParseCommands("*1\r\n$4\r\nPING\r\n", &cmds), ParseResult::kInvalid);
  EXPECT_EQ(ParseCommands("set k 0 0 2\r\nabcd\r\n", &cmds), ParseResult::kInvalid);  // block longer than said
  EXPECT_TRUE(IsBinaryProtocol("\x80\x00\x00\x01"s));
}

TEST(ParseReply, RetrievalAndErrors) {
  Command get;
  get.name = "get";
  get.kind = Kind::kRetrieval;
  const std::string values = "VALUE a 0 5\r\nEND\r\n\r\nVALUE b 1 1\r\nx\r\nEND\r\n";
  size_t pos = 0;
  Reply reply;
  ASSERT_EQ(ParseReply(values, &pos, get, &reply), ParseResult::kComplete);
  EXPECT_EQ(pos, values.size());  // "END\r\n" inside a data block is data
  for (size_t cut = 0; cut < values.size(); ++cut) {
    size_t p = 0;
    Reply r;
    EXPECT_EQ(ParseReply(std::string_view(values).substr(0, cut), &p, get, &r), ParseResult::kIncomplete) << cut;
  }
  Command del;
  del.name = "delete";
  for (const auto& [line, error] : std::vector<std::pair<std::string, std::string>>{
           {"ERROR\r\n", "ERROR"}, {"CLIENT_ERROR bad data chunk\r\n", "CLIENT_ERROR"},
           {"SERVER_ERROR out of memory\r\n", "SERVER_ERROR"}, {"NOT_FOUND\r\n", ""}, {"42\r\n", ""}}) {
    size_t p = 0;
    Reply r;
    ASSERT_EQ(ParseReply(line, &p, del, &r), ParseResult::kComplete) << line;
    EXPECT_EQ(r.error_type, error);
  }
  size_t p = 0;
  Reply r;
  EXPECT_EQ(ParseReply("+OK\r\n", &p, del, &r), ParseResult::kInvalid);
}

TEST(ParseAnyReply, TellsTheKindFromTheFirstLine) {
  const std::string replies = "STORED\r\nVALUE k 0 7\r\nEND\r\nxy\r\nEND\r\nSTAT pid 1\r\nEND\r\n42\r\nERROR\r\n";
  size_t pos = 0;
  int n = 0;
  while (pos < replies.size()) {
    ASSERT_EQ(ParseAnyReply(replies, &pos), ParseResult::kComplete) << pos;
    ++n;
  }
  EXPECT_EQ(n, 5);  // "END\r\nxy" inside the VALUE's data block is data
  for (size_t cut = 9; cut < 35; ++cut) {  // the VALUE reply spans [8, 35)
    size_t p = 8;
    EXPECT_EQ(ParseAnyReply(std::string_view(replies).substr(0, cut), &p), ParseResult::kIncomplete) << cut;
    EXPECT_EQ(p, 8u);
  }
  size_t p = 0;
  EXPECT_EQ(ParseAnyReply("+OK\r\n", &p), ParseResult::kInvalid);
}

}  // namespace
}  // namespace loupe::memcached
