#include "userspace/protocols/http1/http1_stream.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "userspace/core/record.h"

namespace loupe::http1 {
namespace {

using D = StreamDirection;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(LOUPE_HTTP1_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Endpoints Server() {
  Endpoints e;
  e.role = Role::kServer;
  e.server_address = "127.0.0.1";
  e.server_port = 8080;
  e.client_address = "127.0.0.1";
  e.client_port = 40000;
  return e;
}

Endpoints Client() {
  Endpoints e = Server();
  e.role = Role::kClient;
  return e;
}

std::vector<std::string> Statuses(const StreamOutput& out) {
  std::vector<std::string> statuses;
  for (const Record& r : out.records) {
    statuses.emplace_back(MetricLabel(r, "http_response_status_code"));
  }
  return statuses;
}

// Feeds `bytes` in pieces of `piece` bytes (0: whole), at increasing timestamps.
void Feed(Http1Stream& s, D d, std::string_view bytes, size_t piece, uint64_t* ts,
          StreamOutput* out) {
  if (piece == 0) piece = bytes.size();
  for (size_t i = 0; i < bytes.size(); i += piece) {
    s.OnData(d, bytes.substr(i, piece), (*ts)++, 7, out);
  }
}

std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

// The request/response fixtures of the exchange parser, as streams: the same statuses however
// the bytes are cut (whole, every piece size up to 7, and byte by byte).
struct FixtureCase {
  const char* name;
  std::vector<std::string> statuses;
};

TEST(Http1StreamTest, FixturesGiveTheirStatusesHoweverTheBytesAreCut) {
  const std::vector<FixtureCase> cases = {
      {"get_200", {"200"}},        {"not_found", {"404"}},   {"server_error", {"500"}},
      {"chunked", {"200"}},        {"continue", {"201"}},    {"head", {"200"}},
      {"no_content", {"204"}},     {"not_modified", {"304"}}, {"post_body", {"401"}},
      {"query", {"200"}},          {"traceparent", {"200"}}, {"keepalive_1_0", {"200"}},
      {"pipelined", {"200", "404", "201"}},  // the exchange record saw only the first
  };
  for (const FixtureCase& c : cases) {
    const std::string request = ReadFixture(std::string(c.name) + ".request");
    const std::string response = ReadFixture(std::string(c.name) + ".response");
    for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{7}}) {
      SCOPED_TRACE(std::string(c.name) + " piece " + std::to_string(piece));
      Http1Stream s(Server(), false);
      StreamOutput out;
      uint64_t ts = 100;
      Feed(s, D::kRequest, request, piece, &ts, &out);
      Feed(s, D::kResponse, response, piece, &ts, &out);
      EXPECT_EQ(Statuses(out), c.statuses);
      s.OnClose(&out);
      EXPECT_EQ(Statuses(out), c.statuses);
      const StreamCounts counts = s.TakeCounts();
      EXPECT_EQ(counts.request_not_captured + counts.response_not_captured + counts.unanswered,
                0u);
    }
  }
}

TEST(Http1StreamTest, OneHugePipelinedWriteAnsweredInPartIsCountedExactly) {
  // The finding: 10,001 requests in one write, the server answers 1,000 and closes.
  Http1Stream s(Server(), false);
  StreamOutput out;
  uint64_t ts = 1;
  const std::string requests = Repeat("GET /i HTTP/1.1\r\nHost: h\r\n\r\n", 10001);
  Feed(s, D::kRequest, requests, 1024, &ts, &out);  // nginx reads 1 KiB at a time
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n";
  for (int i = 0; i < 1000; ++i) {
    s.OnData(D::kResponse, response, ts++, 7, &out);
    s.OnGap(D::kResponse, 17, /*lost=*/false, ts++, &out);  // the body went by sendfile
  }
  EXPECT_EQ(out.records.size(), 1000u);
  s.OnClose(&out);
  EXPECT_EQ(out.records.size(), 1000u);
  const StreamCounts counts = s.TakeCounts();
  EXPECT_EQ(counts.unanswered, 9001u);  // read but never handled: nginx does not log them
  EXPECT_EQ(counts.request_not_captured, 0u);
  EXPECT_EQ(counts.response_not_captured, 0u);
  EXPECT_EQ(MetricLabel(out.records[999], "http_route"), "/i");
}

TEST(Http1StreamTest, PipelinedBodiesOfEveryFramingByteByByte) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  uint64_t ts = 1;
  const std::string requests =
      "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"
      "GET /c HTTP/1.1\r\n\r\n"
      "PUT /d HTTP/1.1\r\nContent-Length: 14\r\n\r\nGET /x HTTP/1.1";  // a body that looks like a request
  const std::string responses =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nok\r\n0\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  Feed(s, D::kRequest, requests, 1, &ts, &out);
  Feed(s, D::kResponse, responses, 1, &ts, &out);
  EXPECT_EQ(Statuses(out), (std::vector<std::string>{"200", "201", "404", "204"}));
  s.OnClose(&out);
  EXPECT_EQ(out.records.size(), 4u);
  EXPECT_EQ(s.TakeCounts().unanswered, 0u);
}

TEST(Http1StreamTest, TimestampsFollowTheChunksOfEachMessage) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  s.OnData(D::kRequest, "GET /a HTTP/1.1\r\n\r\nGET /b HT", 100, 7, &out);
  s.OnData(D::kRequest, "TP/1.1\r\n\r\n", 110, 8, &out);
  s.OnData(D::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 200, 7, &out);
  s.OnGap(D::kResponse, 2, false, 210, &out);
  s.OnData(D::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 300, 7, &out);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[0].start_ns, 100u);
  EXPECT_EQ(out.records[0].end_ns, 210u);
  EXPECT_EQ(out.records[1].start_ns, 100u);  // its head began in the first read
  EXPECT_EQ(out.records[1].end_ns, 300u);
  EXPECT_EQ(out.thread_ids, (std::vector<uint32_t>{7, 7}));
}

TEST(Http1StreamTest, GapOutsideABodyLosesSyncAndCountsWhatFollows) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  s.OnData(D::kRequest, "GET /a HTTP/1.1\r\n\r\nGET /b", 1, 7, &out);
  s.OnGap(D::kRequest, 500, /*lost=*/false, 2, &out);  // past the kernel's per-syscall budget
  s.OnData(D::kRequest, "GET /c HTTP/1.1\r\n\r\n", 3, 7, &out);
  for (int i = 0; i < 3; ++i) {
    s.OnData(D::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 10 + i, 7, &out);
  }
  s.OnClose(&out);
  EXPECT_EQ(out.records.size(), 1u);  // /a
  const StreamCounts counts = s.TakeCounts();
  EXPECT_EQ(counts.request_not_captured, 2u);  // answered, not describable
  EXPECT_EQ(counts.bytes_unparsed[0][static_cast<int>(StreamLoss::kTruncated)],
            6u + 500u + 19u);
  EXPECT_EQ(counts.unanswered, 0u);
}

TEST(Http1StreamTest, LostResponseRecordsLeaveTheRestResponseNotCaptured) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  s.OnData(D::kRequest, Repeat("GET / HTTP/1.1\r\n\r\n", 3), 1, 7, &out);
  s.OnData(D::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2, 7, &out);
  s.OnGap(D::kResponse, 80, /*lost=*/true, 3, &out);
  s.OnClose(&out);
  EXPECT_EQ(out.records.size(), 1u);
  const StreamCounts counts = s.TakeCounts();
  EXPECT_EQ(counts.response_not_captured, 2u);
  EXPECT_EQ(counts.bytes_unparsed[1][static_cast<int>(StreamLoss::kLost)], 80u);
}

TEST(Http1StreamTest, ResponseCutAtCloseAndBodyUntilClose) {
  Http1Stream cut(Server(), false);
  StreamOutput out;
  cut.OnData(D::kRequest, "GET / HTTP/1.1\r\n\r\n", 1, 7, &out);
  cut.OnData(D::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2, 7, &out);
  cut.OnClose(&out);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].error_type, kResponseCutErrorType);

  Http1Stream until_close(Server(), false);
  StreamOutput out2;
  until_close.OnData(D::kRequest, "GET / HTTP/1.0\r\n\r\n", 1, 7, &out2);
  until_close.OnData(D::kResponse, "HTTP/1.0 200 OK\r\n\r\nabc", 2, 7, &out2);
  until_close.OnGap(D::kResponse, 1 << 20, false, 3, &out2);
  EXPECT_TRUE(out2.records.empty());
  until_close.OnClose(&out2);
  ASSERT_EQ(out2.records.size(), 1u);
  EXPECT_FALSE(out2.records[0].is_error);
  EXPECT_EQ(out2.records[0].end_ns, 3u);
}

TEST(Http1StreamTest, UnansweredClientCallsFailAndServerOnesAreCounted) {
  Http1Stream client(Client(), false);
  StreamOutput out;
  client.OnData(D::kRequest, Repeat("GET / HTTP/1.1\r\n\r\n", 2), 1, 7, &out);
  client.OnClose(&out);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[1].error_type, kNoResponseErrorType);
  EXPECT_EQ(client.TakeCounts().unanswered, 0u);

  Http1Stream server(Server(), false);
  StreamOutput out2;
  server.OnData(D::kRequest, Repeat("GET / HTTP/1.1\r\n\r\n", 2), 1, 7, &out2);
  server.OnClose(&out2);
  EXPECT_TRUE(out2.records.empty());
  EXPECT_EQ(server.TakeCounts().unanswered, 2u);
}

TEST(Http1StreamTest, QueueIsBoundedAndItsOverflowCounted) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  const int n = static_cast<int>(kMaxQueued) + 476;
  s.OnData(D::kRequest, Repeat("GET / HTTP/1.1\r\n\r\n", n), 1, 7, &out);
  EXPECT_EQ(s.queued(), static_cast<size_t>(n));
  s.OnData(D::kResponse, Repeat("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", n), 2, 7, &out);
  s.OnClose(&out);
  EXPECT_EQ(out.records.size(), kMaxQueued);
  EXPECT_EQ(s.TakeCounts().request_not_captured, 476u);
}

TEST(Http1StreamTest, UpgradeAndOversizedHeadStopParsing) {
  Http1Stream up(Server(), false);
  StreamOutput out;
  up.OnData(D::kRequest, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1, 7, &out);
  up.OnData(D::kResponse, "HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi", 2, 7, &out);
  up.OnData(D::kRequest, "\x81\x02yo", 3, 7, &out);
  up.OnClose(&out);
  EXPECT_EQ(Statuses(out), (std::vector<std::string>{"101"}));
  const StreamCounts counts = up.TakeCounts();
  EXPECT_EQ(counts.bytes_unparsed[1][static_cast<int>(StreamLoss::kUpgraded)], 4u);
  EXPECT_EQ(counts.bytes_unparsed[0][static_cast<int>(StreamLoss::kUpgraded)], 4u);

  Http1Stream big(Server(), false);
  StreamOutput out2;
  big.OnData(D::kRequest, "GET / HTTP/1.1\r\nCookie: " + std::string(kMaxHead, 'a'), 1, 7, &out2);
  EXPECT_GT(big.TakeCounts().bytes_unparsed[0][static_cast<int>(StreamLoss::kHeadTooLarge)],
            kMaxHead);
}

TEST(Http1StreamTest, GarbageLosesSyncAsInvalid) {
  Http1Stream s(Server(), false);
  StreamOutput out;
  s.OnData(D::kRequest, "\x16\x03\x01\x02\x00 not http\r\n\r\n", 1, 7, &out);
  s.OnData(D::kResponse, "SSH-2.0-OpenSSH\r\n", 2, 7, &out);
  s.OnClose(&out);
  EXPECT_TRUE(out.records.empty());
  const StreamCounts counts = s.TakeCounts();
  EXPECT_GT(counts.bytes_unparsed[0][static_cast<int>(StreamLoss::kInvalid)], 0u);
  EXPECT_GT(counts.bytes_unparsed[1][static_cast<int>(StreamLoss::kInvalid)], 0u);
}

}  // namespace
}  // namespace loupe::http1
