#include "userspace/protocols/mysql/mysql_parse.h"

#include <string>

#include "gtest/gtest.h"
#include "userspace/protocols/mysql/mysql_stitch.h"

namespace loupe::mysql {
namespace {

using namespace std::string_literals;

std::string Packet(uint8_t seq, std::string_view payload) {
  const size_t n = payload.size();
  return std::string{static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16), static_cast<char>(seq)} +
         std::string(payload);
}

TEST(SplitPackets, CutPacketsAreIncomplete) {
  const std::string bytes = Packet(0, "\x03SELECT 1") + Packet(0, "\x0e");
  const std::vector<mysql::Packet> whole = SplitPackets(bytes);
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_TRUE(whole[0].complete && whole[1].complete);
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    if (cut == 13) continue;  // the boundary between the packets
    const std::vector<mysql::Packet> part = SplitPackets(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(part.empty()) << cut;
    EXPECT_FALSE(part.back().complete) << cut;
  }
}

TEST(SummarizeResponse, OkErrAndResultSets) {
  EXPECT_EQ(SummarizeResponse(SplitPackets(Packet(1, "\0\0\0\2\0\0\0"s)), false).kind, ResponseKind::kOk);
  const ResponseSummary err = SummarizeResponse(SplitPackets(Packet(1, "\xff\x7a\x04#42S02Table 'x' doesn't exist")), false);
  EXPECT_EQ(err.kind, ResponseKind::kErr);
  EXPECT_EQ(err.error_code, 1146);
  EXPECT_TRUE(err.complete);
  // One column, EOF, one row, EOF.
  const std::string rs = Packet(1, "\x01") + Packet(2, "\x03" "def") + Packet(3, "\xfe\0\0\2\0"s) +
                         Packet(4, "\x01" "1") + Packet(5, "\xfe\0\0\2\0"s);
  EXPECT_TRUE(SummarizeResponse(SplitPackets(rs), false).complete);
  for (size_t cut = 0; cut < rs.size(); ++cut) {
    EXPECT_FALSE(SummarizeResponse(SplitPackets(std::string_view(rs).substr(0, cut)), false).complete) << cut;
  }
  // CLIENT_DEPRECATE_EOF: no EOF after the columns, an OK with a 0xfe header at the end.
  const std::string deprecated = Packet(1, "\x01") + Packet(2, "\x03" "def") + Packet(3, "\xfe\0\0\2\0\0\0"s);
  EXPECT_TRUE(SummarizeResponse(SplitPackets(deprecated), false).complete);
}

TEST(ParseGreeting, ReadsVersion) {
  std::string version;
  EXPECT_TRUE(ParseGreeting(Packet(0, "\x0a" "5.5.5-10.11.19-MariaDB\0rest"s), &version));
  EXPECT_EQ(version, "5.5.5-10.11.19-MariaDB");
  EXPECT_FALSE(ParseGreeting("HTTP/1.1 200 OK\r\n", &version));
}

TEST(QueryText, SkipsEmptyQueryAttributes) {
  EXPECT_EQ(QueryText(std::string_view("\0\1SELECT 1", 10)), "SELECT 1");
  EXPECT_EQ(QueryText("SELECT 1"), "SELECT 1");
}

}  // namespace
}  // namespace loupe::mysql
