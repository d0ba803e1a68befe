#include "userspace/protocols/http1/http1_message.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe::http1 {
namespace {

TEST(ParseRequestHeadTest, ParsesLineAndFields) {
  const std::string bytes =
      "POST /a?b=c HTTP/1.1\r\n"
      "host: example.com\r\n"
      "User-Agent: test/1\r\n"
      "Content-Length: 3\r\n"
      "\r\n"
      "xyz";
  const RequestHead head = ParseRequestHead(bytes);
  ASSERT_EQ(head.state, HeadState::kComplete);
  EXPECT_EQ(head.method, "POST");
  EXPECT_EQ(head.target, "/a?b=c");
  EXPECT_TRUE(head.target_complete);
  EXPECT_EQ(head.version_minor, 1);
  EXPECT_EQ(head.host, "example.com");
  EXPECT_EQ(head.user_agent, "test/1");
  EXPECT_EQ(head.content_length, 3u);
  EXPECT_EQ(head.head_size, bytes.size() - 3);
}

TEST(ParseRequestHeadTest, AcceptsBareLfAndFoldedLines) {
  const RequestHead head =
      ParseRequestHead("GET / HTTP/1.0\nX-Long: a\n  continued\nHost:  h  \n\n");
  ASSERT_EQ(head.state, HeadState::kComplete);
  EXPECT_EQ(head.version_minor, 0);
  EXPECT_EQ(head.host, "h");
}

TEST(ParseRequestHeadTest, SkipsLeadingEmptyLines) {
  const std::string bytes = "\r\nGET /x HTTP/1.1\r\n\r\n";
  const RequestHead head = ParseRequestHead(bytes);
  ASSERT_EQ(head.state, HeadState::kComplete);
  EXPECT_EQ(head.target, "/x");
  EXPECT_EQ(head.head_size, bytes.size());
}

TEST(ParseRequestHeadTest, ReportsWhatIsKnownWhenCut) {
  RequestHead head = ParseRequestHead("GET /users/12");
  EXPECT_EQ(head.state, HeadState::kTruncated);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/users/12");
  EXPECT_FALSE(head.target_complete);

  head = ParseRequestHead("GET /users/12 HTTP/1.1\r\nHost: a\r\nAcc");
  EXPECT_EQ(head.state, HeadState::kTruncated);
  EXPECT_TRUE(head.target_complete);
  EXPECT_EQ(head.host, "a");

  head = ParseRequestHead("GET /x HTTP/1.1\r");
  EXPECT_EQ(head.state, HeadState::kTruncated);
  EXPECT_EQ(head.version_minor, 1);

  head = ParseRequestHead("DELE");
  EXPECT_EQ(head.state, HeadState::kTruncated);
  EXPECT_TRUE(head.method.empty());
}

TEST(ParseRequestHeadTest, RejectsNonHttp) {
  EXPECT_EQ(ParseRequestHead("GET key\r\n").state, HeadState::kInvalid);          // Redis inline
  EXPECT_EQ(ParseRequestHead("GET /a HTTP/2.0\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET /a HTTP/1.1 x\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET /a HTTX").state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead(" GET /a HTTP/1.1\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET /a HTTP/1.1\r\nNoColon\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n").state,
            HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead(std::string("\x16\x03\x01\x02\x00", 5)).state, HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead(std::string(40, 'A')).state, HeadState::kInvalid);  // method too long
}

TEST(ParseRequestHeadTest, ContentLengthRules) {
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").content_length,
            5u);
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n").state,
            HeadState::kInvalid);
  EXPECT_EQ(
      ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").state,
      HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").state,
            HeadState::kInvalid);
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
                .state,
            HeadState::kInvalid);
  const RequestHead chunked = ParseRequestHead(
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 4\r\n\r\n");
  EXPECT_TRUE(chunked.chunked);
  EXPECT_FALSE(chunked.content_length.has_value());
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").state,
            HeadState::kInvalid);
}

TEST(ParseResponseHeadTest, ParsesStatusAndFraming) {
  ResponseHead head = ParseResponseHead(
      "HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, Close\r\n"
      "Content-Length: 10\r\n\r\n");
  ASSERT_EQ(head.state, HeadState::kComplete);
  EXPECT_EQ(head.status, 503);
  EXPECT_EQ(head.content_length, 10u);
  EXPECT_TRUE(head.connection_close);

  head = ParseResponseHead("HTTP/1.0 200\r\n\r\n");  // no reason phrase
  ASSERT_EQ(head.state, HeadState::kComplete);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.version_minor, 0);

  head = ParseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(head.chunked);

  // A non-chunked transfer coding means "until close", whatever Content-Length says.
  head = ParseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
  EXPECT_FALSE(head.chunked);
  EXPECT_FALSE(head.content_length.has_value());
}

TEST(ParseResponseHeadTest, KeepsStatusWhenHeadersAreCut) {
  const ResponseHead head = ParseResponseHead("HTTP/1.1 404 Not Found\r\nContent-Ty");
  EXPECT_EQ(head.state, HeadState::kTruncated);
  EXPECT_EQ(head.status, 404);
}

TEST(ParseResponseHeadTest, StatusLinePrefixesAreTruncatedNotInvalid) {
  const std::string line = "HTTP/1.1 200 OK\r\n";
  for (size_t n = 0; n < line.size(); ++n) {
    EXPECT_EQ(ParseResponseHead(line.substr(0, n)).state, HeadState::kTruncated) << n;
  }
}

TEST(ParseResponseHeadTest, RejectsNonHttp) {
  EXPECT_EQ(ParseResponseHead("HTTP/2 200\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 20x OK\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 2000 OK\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 099 Low\r\n\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseResponseHead("+OK\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ParseResponseHead("$5\r\nhello\r\n").state, HeadState::kInvalid);
}

TEST(ScanChunkedBodyTest, FindsTheEnd) {
  const std::string body = "4\r\nWiki\r\n5;name=v\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
  ChunkedScan scan = ScanChunkedBody(body + "HTTP/1.1 200 OK");
  ASSERT_EQ(scan.state, HeadState::kComplete);
  EXPECT_EQ(scan.size, body.size());

  scan = ScanChunkedBody("0\r\nExpires: never\r\n\r\n");
  ASSERT_EQ(scan.state, HeadState::kComplete);
  EXPECT_EQ(scan.size, 21u);
}

TEST(ScanChunkedBodyTest, EveryPrefixIsTruncated) {
  const std::string body = "a\r\n0123456789\r\n0\r\n\r\n";
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_EQ(ScanChunkedBody(body.substr(0, n)).state, HeadState::kTruncated) << n;
  }
}

TEST(ScanChunkedBodyTest, RejectsMalformed) {
  EXPECT_EQ(ScanChunkedBody("zz\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ScanChunkedBody("3\r\nabcX\r\n").state, HeadState::kInvalid);
  EXPECT_EQ(ScanChunkedBody("fffffffffffffffff\r\n").state, HeadState::kInvalid);
}

TEST(MethodTest, KnownMethodsPassThrough) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                        "PATCH"}) {
    EXPECT_TRUE(IsKnownMethod(m)) << m;
    EXPECT_EQ(NormalizeMethod(m), m);
  }
  EXPECT_EQ(NormalizeMethod("get"), "_OTHER");
  EXPECT_EQ(NormalizeMethod("PROPFIND"), "_OTHER");
  EXPECT_EQ(NormalizeMethod(""), "_OTHER");
}

TEST(NoBodyTest, FollowsRfc9112) {
  EXPECT_TRUE(ResponseHasNoBody("HEAD", 200));
  EXPECT_TRUE(ResponseHasNoBody("GET", 204));
  EXPECT_TRUE(ResponseHasNoBody("GET", 304));
  EXPECT_TRUE(ResponseHasNoBody("GET", 101));
  EXPECT_TRUE(ResponseHasNoBody("CONNECT", 200));
  EXPECT_FALSE(ResponseHasNoBody("CONNECT", 407));
  EXPECT_FALSE(ResponseHasNoBody("GET", 200));
  EXPECT_FALSE(ResponseHasNoBody("POST", 500));
}

}  // namespace
}  // namespace loupe::http1
