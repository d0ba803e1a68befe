// The kernel's HTTP/1 sniffing (kernel/http1_sniff.h) agrees with the userspace parser on the
// real messages of tests/fixtures/http1/.
#include "userspace/protocols/http1/kernel/http1_sniff.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every fixture file with this extension ("request" or "response").
std::vector<std::filesystem::path> Fixtures(const std::string& extension) {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(LOUPE_HTTP1_FIXTURES)) {
    if (entry.path().extension() == "." + extension) paths.push_back(entry.path());
  }
  return paths;
}

uint16_t SniffStatus(const std::string& bytes) {
  if (bytes.size() < LOUPE_HTTP1_STATUS_LINE_BYTES) return 0;
  return loupe_http1_status(bytes.data());
}

TEST(Http1SniffTest, StatusOfEveryFixtureResponseIsTheParsers) {
  const auto paths = Fixtures("response");
  ASSERT_GE(paths.size(), 10u);
  int sniffed = 0;
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    const std::string bytes = ReadFile(path);
    const ResponseHead head = ParseResponseHead(bytes);
    ASSERT_NE(head.state, HeadState::kInvalid);
    const bool final_status = head.status >= 200 && head.status <= 599;
    EXPECT_EQ(SniffStatus(bytes), final_status ? head.status : 0);
    if (final_status) ++sniffed;
  }
  EXPECT_GT(sniffed, 0);
}

TEST(Http1SniffTest, InterimResponseIsNotSniffed) {
  const std::string bytes = ReadFile(std::filesystem::path(LOUPE_HTTP1_FIXTURES) /
                                     "continue.response");
  EXPECT_EQ(ParseResponseHead(bytes).status, 100);
  EXPECT_EQ(SniffStatus(bytes), 0);
}

TEST(Http1SniffTest, EveryPrefixShorterThanTheStatusLineIsNotSniffed) {
  const std::string bytes = ReadFile(std::filesystem::path(LOUPE_HTTP1_FIXTURES) /
                                     "get_200.response");
  for (size_t n = 0; n < LOUPE_HTTP1_STATUS_LINE_BYTES; ++n) {
    EXPECT_EQ(SniffStatus(bytes.substr(0, n)), 0) << n;
  }
  EXPECT_EQ(SniffStatus(bytes.substr(0, LOUPE_HTTP1_STATUS_LINE_BYTES)), 200);
}

TEST(Http1SniffTest, EveryFixtureRequestStartsLikeHttp1) {
  const auto paths = Fixtures("request");
  ASSERT_GE(paths.size(), 10u);
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    const std::string bytes = ReadFile(path);
    const RequestHead head = ParseRequestHead(bytes);
    ASSERT_NE(head.state, HeadState::kInvalid);
    ASSERT_TRUE(IsKnownMethod(head.method)) << head.method;
    EXPECT_TRUE(loupe_http1_request_start(reinterpret_cast<const __u8*>(bytes.data()),
                                          static_cast<__u32>(bytes.size())));
  }
}

TEST(Http1SniffTest, OtherBytesDoNotStartLikeHttp1) {
  for (const std::string& bytes :
       {std::string("HTTP/1.1 200 OK\r\n"), std::string("CONNECT a:443 HTTP/1.1\r\n"),
        std::string("*3\r\n$3\r\nSET\r\n"), std::string("\x16\x03\x01\x02\x00", 5),
        std::string("GET"), std::string("get / HTTP/1.1\r\n"), std::string("GETX / HTTP/1.1\r\n")}) {
    EXPECT_FALSE(loupe_http1_request_start(reinterpret_cast<const __u8*>(bytes.data()),
                                           static_cast<__u32>(bytes.size())))
        << bytes;
  }
}

}  // namespace
}  // namespace loupe::http1
