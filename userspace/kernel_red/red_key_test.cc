#include "userspace/kernel_red/red_key.h"

#include <cmath>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "userspace/metrics/red_metrics.h"

namespace loupe {
namespace {

TEST(KernelRedBucketTest, BoundsAreTheDurationBucketsInNanoseconds) {
  const std::vector<double>& bounds = DurationBuckets();
  ASSERT_EQ(bounds.size() + 1, static_cast<size_t>(LOUPE_RED_BUCKETS));
  for (size_t i = 0; i < bounds.size(); ++i) {
    const auto ns = static_cast<uint64_t>(std::llround(bounds[i] * 1e9));
    EXPECT_EQ(KernelRedBucket(ns), i) << "a duration equal to a bound belongs to it (le)";
    EXPECT_EQ(KernelRedBucket(ns + 1), i + 1);
  }
  EXPECT_EQ(KernelRedBucket(0), 0u);
  EXPECT_EQ(KernelRedBucket(UINT64_MAX), static_cast<uint32_t>(LOUPE_RED_BUCKETS - 1));
}

TEST(KernelResponseStatusTest, AcceptsFinalStatusLinesTheParserReadsAlike) {
  EXPECT_EQ(KernelResponseStatus("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(KernelResponseStatus("HTTP/1.0 404 Not Found\r\n"), 404);
  EXPECT_EQ(KernelResponseStatus("HTTP/1.1 503\r\nServer: x\r\n"), 503);
  EXPECT_EQ(KernelResponseStatus("HTTP/1.1 599 \r\n"), 599);
}

TEST(KernelResponseStatusTest, RejectsEverythingElse) {
  for (const char* line :
       {"HTTP/1.1 100 Continue\r\n", "HTTP/1.1 101 Switching\r\n", "HTTP/1.1 600 Odd\r\n",
        "HTTP/1.2 200 OK\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n",
        "HTTP/1.1 200", "http/1.1 200 OK\r\n", "HTTP/1.1  200 OK\r\n", "HTTP/1.1 2a0 OK\r\n",
        "HTTP/1.1 199 OK\r\n", ""}) {
    EXPECT_FALSE(KernelResponseStatus(line).has_value()) << line;
  }
}

TEST(KernelRequestHashTest, PinnedValuesTheKernelMustMatch) {
  // bpf/red_aggregate.bpf.h computes the same function; the end-to-end test
  // (tests/e2e/metrics_only_test.py) proves the two agree on a live kernel. These values pin
  // the algorithm so that one side cannot change alone unnoticed.
  EXPECT_EQ(KernelRequestHash("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0x3779cef46e58ecd0ULL);
  EXPECT_EQ(KernelRequestHash("x"), 0x789da3517c78826cULL);
}

TEST(KernelRequestHashTest, EveryByteAndTheLengthCount) {
  const std::string base = "GET /users/1 HTTP/1.1\r\nHost: example\r\n\r\n";
  const uint64_t h = KernelRequestHash(base);
  EXPECT_EQ(KernelRequestHash(base), h);
  for (size_t i = 0; i < base.size(); ++i) {
    std::string changed = base;
    changed[i] ^= 1;
    EXPECT_NE(KernelRequestHash(changed), h) << "byte " << i;
  }
  EXPECT_NE(KernelRequestHash(std::string("GET\0", 4)), KernelRequestHash("GET"));
  // Bytes past LOUPE_REQ_CAP - 1 are never captured, so they cannot count.
  const std::string long_a = std::string(LOUPE_REQ_CAP - 1, 'a') + "xyz";
  const std::string long_b = std::string(LOUPE_REQ_CAP - 1, 'a') + "uvw";
  EXPECT_EQ(KernelRequestHash(long_a), KernelRequestHash(long_b));
}

loupe_event_header Header(uint8_t role, uint64_t req_bytes) {
  loupe_event_header h{};
  h.tgid = 42;
  h.tuple.role = role;
  h.tuple.local_port = 8080;
  h.tuple.remote_port = 50123;
  h.tuple.family = 2;
  const uint8_t local[4] = {127, 0, 0, 1};
  const uint8_t remote[4] = {10, 1, 2, 3};
  std::memcpy(h.tuple.local_addr, local, 4);
  std::memcpy(h.tuple.remote_addr, remote, 4);
  h.totals.req_bytes = req_bytes;
  return h;
}

TEST(KernelRedKeyForTest, ServerKeyUsesTheLocalPortAndNoAddress) {
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  const auto key = KernelRedKeyFor(Header(LOUPE_ROLE_SERVER, request.size()), request,
                                   "HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->tgid, 42u);
  EXPECT_EQ(key->role, LOUPE_ROLE_SERVER);
  EXPECT_EQ(key->server_port, 8080);
  EXPECT_EQ(key->status, 204);
  EXPECT_EQ(key->request_hash, KernelRequestHash(request));
  const uint8_t zero[16] = {};
  EXPECT_EQ(std::memcmp(key->server_addr, zero, 16), 0);
}

TEST(KernelRedKeyForTest, ClientKeyUsesThePeer) {
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  const auto key = KernelRedKeyFor(Header(LOUPE_ROLE_CLIENT, request.size()), request,
                                   "HTTP/1.1 200 OK\r\n\r\n");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->server_port, 50123);
  EXPECT_EQ(key->server_addr[0], 10);
  EXPECT_EQ(key->server_addr[3], 3);
}

TEST(KernelRedKeyForTest, NoKeyUnlessTheWholeRequestWasCaptured) {
  const std::string request = "POST /upload HTTP/1.1\r\nContent-Length: 5000\r\n\r\n";
  EXPECT_FALSE(KernelRedKeyFor(Header(LOUPE_ROLE_SERVER, request.size() + 5000), request,
                               "HTTP/1.1 200 OK\r\n\r\n")
                   .has_value());
  EXPECT_FALSE(KernelRedKeyFor(Header(LOUPE_ROLE_SERVER, 0), "", "HTTP/1.1 200 OK\r\n\r\n")
                   .has_value());
  EXPECT_FALSE(KernelRedKeyFor(Header(LOUPE_ROLE_SERVER, request.size()), request,
                               "HTTP/1.1 100 Continue\r\n\r\n")
                   .has_value());
}

TEST(KernelRedKeySourceTest, OnlyFlaggedExchangesGetTheirKernelKeyOpaquely) {
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\n\r\n";
  loupe_event_header header = Header(LOUPE_ROLE_SERVER, request.size());
  const KernelRedKeySource source;
  EXPECT_FALSE(source.KeyOf(header, request, response).has_value()) << "not flagged";
  header.flags |= LOUPE_EVF_RED_CANDIDATE;
  const std::optional<ExchangeKey> key = source.KeyOf(header, request, response);
  ASSERT_TRUE(key.has_value());
  const loupe_red_key expected = *KernelRedKeyFor(header, request, response);
  const loupe_red_key back = FromExchangeKey(*key);
  EXPECT_EQ(std::memcmp(&back, &expected, sizeof(back)), 0);
  EXPECT_FALSE(source.KeyOf(header, request, "HTTP/1.1 100 Continue\r\n\r\n").has_value());
}

}  // namespace
}  // namespace loupe
