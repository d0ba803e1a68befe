#include "userspace/conn/conn_tracker.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "userspace/conn/address.h"
#include "userspace/kernel_red/red_key.h"
#include "userspace/loader/capture_event.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/protocols/registry.h"

namespace loupe {
namespace {

// ---------------------------------------------------------------------------------------------
// Raw events, laid out exactly as the kernel submits them: the header, then for EXCHANGE the
// captured request bytes immediately followed by the captured response bytes.

struct Endpoint {
  uint16_t family = AF_INET;
  uint8_t local[16] = {};
  uint8_t remote[16] = {};
  uint16_t local_port = 8080;
  uint16_t remote_port = 40000;
};

void SetIpv4(const char* text, uint8_t out[16]) {
  std::memset(out, 0, 16);
  ASSERT_EQ(inet_pton(AF_INET, text, out), 1) << text;
}

void SetIpv6(const char* text, uint8_t out[16]) {
  ASSERT_EQ(inet_pton(AF_INET6, text, out), 1) << text;
}

struct ConnSpec {
  uint64_t conn_id = 1;
  uint32_t tgid = 4242;
  uint8_t role = LOUPE_ROLE_SERVER;
  std::string comm = "testsrv";
  Endpoint endpoint;
};

ConnSpec DefaultConn(uint64_t conn_id) {
  ConnSpec spec;
  spec.conn_id = conn_id;
  SetIpv4("127.0.0.1", spec.endpoint.local);
  SetIpv4("127.0.0.2", spec.endpoint.remote);
  return spec;
}

// The totals the kernel keeps for one exchange.
struct Totals {
  uint64_t seq = 1;
  uint64_t req_start_ns = 1'000'000;
  uint64_t req_end_ns = 1'100'000;
  uint64_t resp_start_ns = 1'500'000;
  uint64_t resp_end_ns = 1'600'000;
  uint64_t req_bytes = 0;
  uint64_t resp_bytes = 0;
  uint64_t first_resp_chunk_bytes = 0;
  uint32_t resp_chunks = 1;
  uint32_t req_tid = 4343;
};

// 8-byte aligned storage, as ring-buffer records are.
struct RawEvent {
  std::vector<uint64_t> storage;
  size_t size = 0;
  const void* data() const { return storage.data(); }
};

// What the kernel keeps of a response once the next request begins: its final totals.
loupe_prev_response PrevOf(const Totals& final_totals) {
  loupe_prev_response prev{};
  prev.seq = final_totals.seq;
  prev.resp_end_ns = final_totals.resp_end_ns;
  prev.resp_bytes = final_totals.resp_bytes;
  prev.resp_chunks = final_totals.resp_chunks;
  return prev;
}

RawEvent MakeRaw(uint32_t kind, const ConnSpec& conn, const Totals& totals,
                 std::string_view request, std::string_view response,
                 const loupe_prev_response& prev, uint32_t phase) {
  loupe_event_header h{};
  h.kind = kind;
  h.tgid = conn.tgid;
  h.conn_id = conn.conn_id;
  h.totals.seq = totals.seq;
  h.totals.req_start_ns = totals.req_start_ns;
  h.totals.req_end_ns = totals.req_end_ns;
  h.totals.resp_start_ns = totals.resp_start_ns;
  h.totals.resp_end_ns = totals.resp_end_ns;
  h.totals.req_bytes = totals.req_bytes;
  h.totals.resp_bytes = totals.resp_bytes;
  h.totals.first_resp_chunk_bytes = totals.first_resp_chunk_bytes;
  h.totals.resp_chunks = totals.resp_chunks;
  h.totals.req_tid = totals.req_tid;
  std::memcpy(h.tuple.local_addr, conn.endpoint.local, 16);
  std::memcpy(h.tuple.remote_addr, conn.endpoint.remote, 16);
  h.tuple.local_port = conn.endpoint.local_port;
  h.tuple.remote_port = conn.endpoint.remote_port;
  h.tuple.family = conn.endpoint.family;
  h.tuple.role = conn.role;
  h.fd = 7;
  h.req_len = static_cast<uint16_t>(request.size());
  h.resp_len = static_cast<uint16_t>(response.size());
  h.phase = phase;
  std::memcpy(h.comm, conn.comm.data(), std::min(conn.comm.size(), sizeof(h.comm)));
  h.prev = prev;

  RawEvent raw;
  raw.size = sizeof(h) + request.size() + response.size();
  raw.storage.assign((raw.size + 7) / 8, 0);
  auto* bytes = reinterpret_cast<char*>(raw.storage.data());
  std::memcpy(bytes, &h, sizeof(h));
  if (!request.empty()) std::memcpy(bytes + sizeof(h), request.data(), request.size());
  if (!response.empty()) {
    std::memcpy(bytes + sizeof(h) + request.size(), response.data(), response.size());
  }
  return raw;
}

// An EXCHANGE as the kernel emits it when the first response chunk arrives: the response totals
// cover that chunk only, and `prev` holds the final totals of the response before (seq 0: none).
RawEvent MakeExchange(const ConnSpec& conn, Totals totals, std::string_view request,
                      std::string_view first_chunk, const loupe_prev_response& prev = {}) {
  totals.req_bytes = std::max<uint64_t>(totals.req_bytes, request.size());
  totals.resp_bytes = first_chunk.size();
  totals.first_resp_chunk_bytes = first_chunk.size();
  totals.resp_chunks = 1;
  return MakeRaw(LOUPE_EV_EXCHANGE, conn, totals, request, first_chunk, prev,
                 LOUPE_PHASE_RESPONSE);
}

// A CLOSE: `totals` are those of the connection's current exchange (final when `phase` is
// RESPONSE), `prev` whatever the kernel kept when that exchange's request began.
// In phase REQUEST the kernel appends the unanswered request's prefix.
RawEvent MakeClose(const ConnSpec& conn, const Totals& totals,
                   const loupe_prev_response& prev = {},
                   uint32_t phase = LOUPE_PHASE_RESPONSE,
                   std::string_view unanswered_request = {}) {
  return MakeRaw(LOUPE_EV_CLOSE, conn, totals, unanswered_request, {}, prev, phase);
}

// The CLOSE the kernel emits for a connection still open when its process exited.
RawEvent MakeExitClose(const ConnSpec& conn, const Totals& totals,
                       const loupe_prev_response& prev = {},
                       uint32_t phase = LOUPE_PHASE_RESPONSE,
                       std::string_view unanswered_request = {}) {
  RawEvent raw = MakeClose(conn, totals, prev, phase, unanswered_request);
  reinterpret_cast<loupe_event_header*>(raw.storage.data())->flags |= LOUPE_EVF_EXIT;
  return raw;
}

// The totals of a request that has not had a response byte yet.
Totals Unanswered(uint64_t seq) {
  Totals totals;
  totals.seq = seq;
  totals.resp_start_ns = 0;
  totals.resp_end_ns = 0;
  totals.resp_chunks = 0;
  return totals;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 bytes.

std::string Request(const std::string& path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: example.test\r\n\r\n");
}

constexpr char kCompleteResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
// Headers only; the 100 body bytes come in later chunks.
constexpr char kHeadOfLongResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
constexpr uint64_t kLongResponseBytes = sizeof(kHeadOfLongResponse) - 1 + 100;

// ---------------------------------------------------------------------------------------------

struct SeenRecord {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint64_t conn_id = 0;
  Role role = Role::kServer;
  std::string protocol;
  std::string comm;
  std::string local_address;
  uint16_t local_port = 0;
  std::string remote_address;
  uint16_t remote_port = 0;
  std::optional<loupe_red_key> kernel_red_key;
  Record record;

  std::string Attr(std::string_view key) const {
    for (const SpanAttribute& a : record.attributes) {
      if (a.key == key) return a.value;
    }
    return "<missing>";
  }
};

class RecordingSink : public RecordSink {
 public:
  void OnRecord(const RecordContext& c, Record record) override {
    SeenRecord seen;
    seen.tgid = c.tgid;
    seen.tid = c.tid;
    seen.conn_id = c.conn_id;
    seen.role = c.role;
    seen.protocol = std::string(c.protocol);
    seen.comm = std::string(c.comm);
    seen.local_address = std::string(c.local_address);
    seen.local_port = c.local_port;
    seen.remote_address = std::string(c.remote_address);
    seen.remote_port = c.remote_port;
    if (c.aggregation_key != nullptr) seen.kernel_red_key = FromExchangeKey(*c.aggregation_key);
    seen.record = std::move(record);
    records.push_back(std::move(seen));
  }
  void OnConnectionClassified(uint32_t tgid, std::string_view comm) override {
    classified.emplace_back(tgid, std::string(comm));
  }
  std::vector<SeenRecord> records;
  std::vector<std::pair<uint32_t, std::string>> classified;
};

// Sum of the samples of family `name` whose labels include all of `labels`. Fails the test when
// the family does not exist, so a misspelt metric name cannot pass as zero (a labelled family
// with no child yet is absent from Collect(): pass must_exist = false to accept that as zero).
// `metrics`' pending counts are flushed first, as the agent's event loop does after each drain.
double MetricValue(AgentMetrics& metrics, prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {},
                   bool must_exist = true) {
  metrics.FlushPending();
  bool found_family = false;
  double sum = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    found_family = true;
    for (const prometheus::ClientMetric& metric : family.metric) {
      size_t matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched != labels.size()) continue;
      sum += family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  if (must_exist) {
    EXPECT_TRUE(found_family) << "no metric family " << name;
  }
  return sum;
}

class ConnTrackerTest : public ::testing::Test {
 protected:
  ConnTrackerTest() : metrics_(registry_) {}

  void MakeTracker(ConnTrackerOptions options = {},
                   std::vector<const Protocol*> protocols = RegisteredProtocols()) {
    options_ = options;
    tracker_ = std::make_unique<ConnTracker>(options, std::move(protocols), &sink_, &metrics_);
    tracker_->set_exchange_key_source(&kernel_red_keys_);  // as the agent does with --metrics_only
  }

  void SetUp() override { MakeTracker(); }

  void Feed(const RawEvent& raw) {
    std::optional<CaptureEvent> event = DecodeCaptureEvent(raw.data(), raw.size);
    ASSERT_TRUE(event.has_value());
    tracker_->OnEvent(*event);
  }

  // MetricValue over this fixture's registry and metrics.
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {},
                bool must_exist = true) {
    return MetricValue(metrics_, registry_, name, labels, must_exist);
  }
  double Finalized(const std::string& reason) {
    return Metric("loupe_exchanges_finalized_total", {{"reason", reason}});
  }
  double FinalizedTotal() { return Metric("loupe_exchanges_finalized_total"); }

  prometheus::Registry registry_;
  AgentMetrics metrics_;
  RecordingSink sink_;
  KernelRedKeySource kernel_red_keys_;
  ConnTrackerOptions options_;
  std::unique_ptr<ConnTracker> tracker_;
};

TEST_F(ConnTrackerTest, CompleteSingleChunkResponseIsRecordedImmediately) {
  const ConnSpec conn = DefaultConn(11);
  Totals t;
  t.req_start_ns = 5'000;
  t.req_end_ns = 6'000;
  t.resp_start_ns = 9'000;
  t.resp_end_ns = 12'345;
  t.req_tid = 777;
  Feed(MakeExchange(conn, t, Request("/users/42"), kCompleteResponse));

  ASSERT_EQ(sink_.records.size(), 1u);
  const SeenRecord& seen = sink_.records[0];
  EXPECT_EQ(seen.record.instrument, &instruments::kHttpServer);
  EXPECT_EQ(seen.record.span_name, "GET /users/{id}");
  EXPECT_EQ(seen.record.start_ns, 5'000u);
  EXPECT_EQ(seen.record.end_ns, 12'345u);
  EXPECT_EQ(seen.Attr("http.response.status_code"), "200");
  EXPECT_EQ(seen.protocol, "http1");
  EXPECT_EQ(seen.tgid, conn.tgid);
  EXPECT_EQ(seen.tid, 777u);
  EXPECT_EQ(seen.conn_id, 11u);
  EXPECT_EQ(seen.role, Role::kServer);
  EXPECT_EQ(seen.comm, "testsrv");
  EXPECT_EQ(seen.local_address, "127.0.0.1");
  EXPECT_EQ(seen.local_port, 8080);
  EXPECT_EQ(seen.remote_address, "127.0.0.2");
  EXPECT_EQ(seen.remote_port, 40000);

  EXPECT_EQ(Finalized("complete"), 1);
  EXPECT_EQ(FinalizedTotal(), 1);
  EXPECT_EQ(Metric("loupe_exchanges_parsed_total", {{"protocol", "http1"}}), 1);
  EXPECT_EQ(Metric("loupe_records_total", {{"instrument", "http_server"}}), 1);
  EXPECT_EQ(Metric("loupe_events_read_total", {{"kind", "exchange"}}), 1);
  EXPECT_EQ(Metric("loupe_connections_tracked"), 1);
  EXPECT_EQ(tracker_->size(), 1u);

  // Nothing is pending: the next exchange's `prev` for it, a sweep or a close reports it no more.
  t.resp_bytes = sizeof(kCompleteResponse) - 1;
  Totals next = t;
  next.seq = 2;
  next.req_start_ns = 20'000;
  next.req_end_ns = 21'000;
  next.resp_start_ns = 22'000;
  next.resp_end_ns = 23'000;
  Feed(MakeExchange(conn, next, Request("/next"), kCompleteResponse, PrevOf(t)));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/next");
  tracker_->Sweep(next.resp_start_ns + options_.pending_timeout_ns + 1);
  Feed(MakeClose(conn, next, PrevOf(t)));
  EXPECT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(Finalized("complete"), 2);
  EXPECT_EQ(FinalizedTotal(), 2);
  EXPECT_EQ(tracker_->size(), 0u);
  EXPECT_EQ(Metric("loupe_connections_tracked"), 0);
}

// --metrics_only: the kernel flags exchanges whose key it could count
// (bpf/red_aggregate.bpf.h); a record that may teach the key carries it.
RawEvent Flagged(RawEvent raw) {
  reinterpret_cast<loupe_event_header*>(raw.storage.data())->flags |= LOUPE_EVF_RED_CANDIDATE;
  return raw;
}

TEST_F(ConnTrackerTest, FlaggedExchangeWithOneRecordCarriesItsKernelKey) {
  const ConnSpec conn = DefaultConn(21);
  Feed(Flagged(MakeExchange(conn, Totals{}, Request("/a"), kCompleteResponse)));
  ASSERT_EQ(sink_.records.size(), 1u);
  ASSERT_TRUE(sink_.records[0].kernel_red_key.has_value());
  const loupe_red_key& key = *sink_.records[0].kernel_red_key;
  EXPECT_EQ(key.request_hash, KernelRequestHash(Request("/a")));
  EXPECT_EQ(key.status, 200);
  EXPECT_EQ(key.tgid, conn.tgid);
  EXPECT_EQ(key.server_port, 8080);
}

TEST_F(ConnTrackerTest, NoKernelKeyWithoutTheFlagOrForTwoPipelinedRequests) {
  Feed(MakeExchange(DefaultConn(22), Totals{}, Request("/a"), kCompleteResponse));
  const std::string two = Request("/a") + Request("/b");
  Feed(Flagged(MakeExchange(DefaultConn(23), Totals{}, two,
                            std::string(kCompleteResponse) + kCompleteResponse)));
  ASSERT_EQ(sink_.records.size(), 3u);
  for (const SeenRecord& seen : sink_.records) EXPECT_FALSE(seen.kernel_red_key.has_value());
}

TEST_F(ConnTrackerTest, PrevEndFinalizesThePendingExchangeAndKeepsItsKey) {
  const ConnSpec conn = DefaultConn(24);
  Totals first;
  Feed(Flagged(MakeExchange(conn, first, Request("/long"), kHeadOfLongResponse)));
  EXPECT_TRUE(sink_.records.empty()) << "the body is still to come";

  Totals final_totals = first;
  final_totals.resp_end_ns = 9'999'000;
  final_totals.resp_bytes = kLongResponseBytes;
  final_totals.resp_chunks = 2;
  Totals second = first;
  second.seq = 2;
  // The next exchange is counted in the kernel: only its header comes, with `prev`.
  Feed(MakeRaw(LOUPE_EV_PREV_END, conn, second, {}, {}, PrevOf(final_totals),
               LOUPE_PHASE_RESPONSE));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].record.end_ns, 9'999'000u);
  EXPECT_TRUE(sink_.records[0].kernel_red_key.has_value());
  EXPECT_EQ(Finalized("next_exchange"), 1);
  EXPECT_EQ(Metric("loupe_events_read_total", {{"kind", "prev_end"}}), 1);
}

TEST_F(ConnTrackerTest, PrevEndForAConnectionNeverSeenIsIgnored) {
  Totals t;
  t.seq = 5;
  Feed(MakeRaw(LOUPE_EV_PREV_END, DefaultConn(25), t, {}, {}, PrevOf(t), LOUPE_PHASE_RESPONSE));
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(tracker_->size(), 0u);
}

TEST_F(ConnTrackerTest, SinkHearsOfEachConnectionOnceWhenItIsClassified) {
  const ConnSpec conn = DefaultConn(11);
  Totals second;
  second.seq = 2;
  Feed(MakeExchange(conn, Totals{}, Request("/a"), kCompleteResponse));
  Feed(MakeExchange(conn, second, Request("/b"), kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 2u);
  ASSERT_EQ(sink_.classified.size(), 1u);
  EXPECT_EQ(sink_.classified[0].first, sink_.records[0].tgid);
  EXPECT_EQ(sink_.classified[0].second, sink_.records[0].comm);
  EXPECT_FALSE(sink_.classified[0].second.empty());
}

TEST_F(ConnTrackerTest, MultiChunkResponseTakesItsEndTimeFromTheNextExchangesPrev) {
  const ConnSpec conn = DefaultConn(12);
  Totals t;
  t.seq = 3;
  Feed(MakeExchange(conn, t, Request("/download"), kHeadOfLongResponse));
  EXPECT_TRUE(sink_.records.empty()) << "Content-Length says more bytes follow";
  EXPECT_EQ(FinalizedTotal(), 0);

  Totals final_totals = t;
  final_totals.resp_end_ns = 9'999'999;
  final_totals.resp_bytes = kLongResponseBytes;
  final_totals.resp_chunks = 3;
  Totals next;
  next.seq = 4;
  next.req_start_ns = 10'000'000;
  next.req_end_ns = 10'100'000;
  next.resp_start_ns = 10'200'000;
  next.resp_end_ns = 10'300'000;
  Feed(MakeExchange(conn, next, Request("/after"), kCompleteResponse, PrevOf(final_totals)));

  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/download");
  EXPECT_EQ(sink_.records[0].record.start_ns, t.req_start_ns);
  EXPECT_EQ(sink_.records[0].record.end_ns, 9'999'999u);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/after");
  EXPECT_EQ(sink_.records[1].record.end_ns, next.resp_end_ns);
  EXPECT_EQ(Finalized("next_exchange"), 1);
  EXPECT_EQ(Finalized("complete"), 1);
  EXPECT_EQ(FinalizedTotal(), 2);
  EXPECT_EQ(Metric("loupe_events_read_total", {{"kind", "exchange"}}), 2);

  // Exactly once: the same `prev` again (on a further exchange), a late sweep and the close add
  // nothing for /download.
  Totals third = next;
  third.seq = 5;
  Feed(MakeExchange(conn, third, Request("/third"), kCompleteResponse, PrevOf(final_totals)));
  tracker_->Sweep(third.resp_end_ns + options_.pending_timeout_ns * 10);
  Feed(MakeClose(conn, third, PrevOf(next)));
  ASSERT_EQ(sink_.records.size(), 3u);
  EXPECT_EQ(sink_.records[2].Attr("url.path"), "/third");
  EXPECT_EQ(FinalizedTotal(), 3);
}

TEST_F(ConnTrackerTest, PendingExchangeIsFinalizedByClose) {
  const ConnSpec conn = DefaultConn(13);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/close-me"), kHeadOfLongResponse));
  ASSERT_TRUE(sink_.records.empty());
  EXPECT_EQ(tracker_->size(), 1u);

  Totals closing = t;
  closing.resp_end_ns = 7'777'777;
  closing.resp_bytes = kLongResponseBytes;
  closing.resp_chunks = 2;
  Feed(MakeClose(conn, closing));

  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].record.end_ns, 7'777'777u);
  EXPECT_EQ(Finalized("close"), 1);
  EXPECT_EQ(FinalizedTotal(), 1);
  EXPECT_EQ(tracker_->size(), 0u) << "a closed connection is forgotten";
  EXPECT_EQ(Metric("loupe_connections_evicted_total", {}, false), 0)
      << "a close is not an eviction";
  EXPECT_EQ(Metric("loupe_events_read_total", {{"kind", "close"}}), 1);
}

TEST_F(ConnTrackerTest, PrevForAnotherSeqDoesNotOverwriteTotals) {
  const ConnSpec conn = DefaultConn(14);
  Totals t;
  t.seq = 5;
  t.resp_end_ns = 1'600'000;
  Feed(MakeExchange(conn, t, Request("/x"), kHeadOfLongResponse));
  // Exchange 6 was lost (ring buffer full): exchange 7 carries 6's totals, not 5's.
  Totals lost = t;
  lost.seq = 6;
  lost.resp_end_ns = 99'000'000;
  lost.resp_bytes = kLongResponseBytes;
  lost.resp_chunks = 4;
  Totals next = t;
  next.seq = 7;
  next.resp_end_ns = 120'000'000;
  Feed(MakeExchange(conn, next, Request("/y"), kCompleteResponse, PrevOf(lost)));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/x");
  EXPECT_EQ(sink_.records[0].record.end_ns, 1'600'000u)
      << "totals of another exchange must not be applied";
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/y");
  EXPECT_EQ(Finalized("next_exchange"), 1);
  EXPECT_EQ(Finalized("complete"), 1);
}

TEST_F(ConnTrackerTest, PrevWithFewerChunksThanKnownIsIgnored) {
  const ConnSpec conn = DefaultConn(18);
  Totals t;
  t.seq = 2;
  t.resp_end_ns = 1'600'000;
  Feed(MakeExchange(conn, t, Request("/x"), kHeadOfLongResponse));
  // Same seq, but no chunk counted: not the totals of the response userspace already has a chunk
  // of, so they cannot be newer.
  Totals stale = t;
  stale.resp_end_ns = 55'000'000;
  stale.resp_bytes = kLongResponseBytes;
  stale.resp_chunks = 0;
  Totals next = t;
  next.seq = 3;
  Feed(MakeExchange(conn, next, Request("/y"), kCompleteResponse, PrevOf(stale)));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/x");
  EXPECT_EQ(sink_.records[0].record.end_ns, 1'600'000u);
  EXPECT_EQ(Finalized("next_exchange"), 1);
}

TEST_F(ConnTrackerTest, NextExchangeFinalizesThePreviousOneExactlyOnce) {
  const ConnSpec conn = DefaultConn(15);
  Totals first;
  first.seq = 1;
  Feed(MakeExchange(conn, first, Request("/first"), kHeadOfLongResponse));
  ASSERT_TRUE(sink_.records.empty());

  Totals second;
  second.seq = 2;
  second.req_start_ns = 3'000'000;
  second.req_end_ns = 3'100'000;
  second.resp_start_ns = 3'200'000;
  second.resp_end_ns = 3'300'000;
  Feed(MakeExchange(conn, second, Request("/second"), kCompleteResponse));

  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/first");
  EXPECT_EQ(sink_.records[0].record.end_ns, first.resp_end_ns)
      << "with no prev, the first chunk's end is the best known end";
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/second");
  EXPECT_EQ(Finalized("next_exchange"), 1);
  EXPECT_EQ(Finalized("complete"), 1);

  tracker_->Sweep(second.resp_start_ns + options_.pending_timeout_ns * 100);
  Feed(MakeClose(conn, second));
  EXPECT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(FinalizedTotal(), 2);
}

TEST_F(ConnTrackerTest, PendingExchangeTimesOutOnSweep) {
  const ConnSpec conn = DefaultConn(16);
  Totals t;
  t.resp_start_ns = 50'000'000;
  Feed(MakeExchange(conn, t, Request("/slow"), kHeadOfLongResponse));

  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns - 1);
  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns);
  EXPECT_TRUE(sink_.records.empty()) << "not past the timeout yet";

  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns + 1);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/slow");
  EXPECT_EQ(Finalized("timeout"), 1);
  EXPECT_EQ(tracker_->size(), 1u) << "timing out an exchange does not forget the connection";

  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns * 2);
  // The next exchange's late `prev` for /slow finds nothing pending.
  Totals final_totals = t;
  final_totals.resp_end_ns = t.resp_start_ns + options_.pending_timeout_ns * 3;
  final_totals.resp_bytes = kLongResponseBytes;
  final_totals.resp_chunks = 2;
  Totals next = t;
  next.seq = t.seq + 1;
  next.resp_start_ns = final_totals.resp_end_ns + 1'000;
  next.resp_end_ns = next.resp_start_ns + 1'000;
  Feed(MakeExchange(conn, next, Request("/next"), kCompleteResponse, PrevOf(final_totals)));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/next");
  EXPECT_EQ(Finalized("timeout"), 1);
  EXPECT_EQ(Finalized("complete"), 1);
  EXPECT_EQ(FinalizedTotal(), 2);
}

TEST_F(ConnTrackerTest, CustomPendingTimeoutIsHonoured) {
  ConnTrackerOptions options;
  options.pending_timeout_ns = 1'000;
  MakeTracker(options);
  const ConnSpec conn = DefaultConn(17);
  Totals t;
  t.resp_start_ns = 10'000;
  Feed(MakeExchange(conn, t, Request("/a"), kHeadOfLongResponse));
  tracker_->Sweep(11'000);
  EXPECT_TRUE(sink_.records.empty());
  tracker_->Sweep(11'001);
  EXPECT_EQ(sink_.records.size(), 1u);
}

TEST_F(ConnTrackerTest, CloseForUnknownConnectionIsIgnored) {
  const ConnSpec conn = DefaultConn(99);
  Totals t;
  Feed(MakeClose(conn, t));
  EXPECT_EQ(tracker_->size(), 0u) << "close must not create connections";
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(FinalizedTotal(), 0);
  EXPECT_EQ(Metric("loupe_events_read_total", {{"kind", "close"}}), 1);
  EXPECT_EQ(Metric("loupe_events_dropped_total"), 0)
      << "a close for a connection userspace never tracked is not a lost event";
  EXPECT_EQ(Metric("loupe_connections_tracked"), 0);
}

// The agent started mid-connection (or forgot it): the first EXCHANGE seen carries `prev` for an
// exchange userspace never had. It is parsed as usual and the stray totals go nowhere.
TEST_F(ConnTrackerTest, PrevForAnExchangeNeverSeenIsIgnored) {
  const ConnSpec conn = DefaultConn(98);
  Totals unseen;
  unseen.seq = 4;
  unseen.resp_end_ns = 800'000;
  unseen.resp_bytes = kLongResponseBytes;
  unseen.resp_chunks = 3;
  Totals t;
  t.seq = 5;
  Feed(MakeExchange(conn, t, Request("/first-seen"), kCompleteResponse, PrevOf(unseen)));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/first-seen");
  EXPECT_EQ(sink_.records[0].record.end_ns, t.resp_end_ns);
  EXPECT_EQ(Finalized("complete"), 1);
  EXPECT_EQ(FinalizedTotal(), 1);
  EXPECT_EQ(tracker_->size(), 1u);
}

// Bytes that no registered protocol may claim.
std::string Garbage(uint8_t salt) {
  std::string bytes;
  for (int i = 0; i < 64; ++i) bytes.push_back(static_cast<char>(0xf0 ^ ((i * 37 + salt) & 0x0f)));
  return bytes;
}

TEST_F(ConnTrackerTest, UnclassifiedBytesAreCountedAndDetectionGivesUp) {
  ConnTrackerOptions options;
  options.detection_attempts = 2;
  MakeTracker(options);
  const ConnSpec conn = DefaultConn(20);
  Totals t;
  for (uint64_t seq = 1; seq <= 2; ++seq) {
    t.seq = seq;
    Feed(MakeExchange(conn, t, Garbage(static_cast<uint8_t>(seq)), Garbage(9)));
  }
  EXPECT_EQ(Metric("loupe_exchanges_unclassified_total"), 2);

  // Detection has given up: even a perfect HTTP exchange is not parsed on this connection.
  t.seq = 3;
  Feed(MakeExchange(conn, t, Request("/late"), kCompleteResponse));
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(Metric("loupe_exchanges_unclassified_total"), 3);

  // Another connection is detected independently.
  Feed(MakeExchange(DefaultConn(21), t, Request("/other"), kCompleteResponse));
  EXPECT_EQ(sink_.records.size(), 1u);
}

TEST_F(ConnTrackerTest, DetectionRetriesUntilAttemptsRunOut) {
  ConnTrackerOptions options;
  options.detection_attempts = 3;
  MakeTracker(options);
  const ConnSpec conn = DefaultConn(22);
  Totals t;
  for (uint64_t seq = 1; seq <= 2; ++seq) {
    t.seq = seq;
    Feed(MakeExchange(conn, t, Garbage(static_cast<uint8_t>(seq)), Garbage(3)));
  }
  t.seq = 3;
  Feed(MakeExchange(conn, t, Request("/third"), kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/third");
  EXPECT_EQ(Metric("loupe_exchanges_unclassified_total"), 2);
}

TEST_F(ConnTrackerTest, InvalidBytesOnAnHttpConnectionAreParseFailures) {
  const ConnSpec conn = DefaultConn(23);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/ok"), kCompleteResponse));
  t.seq = 2;
  Feed(MakeExchange(conn, t, Garbage(1), Garbage(2)));
  EXPECT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(Metric("loupe_parse_failures_total", {{"protocol", "http1"}}), 1);
}

TEST_F(ConnTrackerTest, PipelinedRequestsWithoutResponsesAreCountedUnreported) {
  const ConnSpec conn = DefaultConn(24);
  Totals t;
  const std::string two = Request("/one") + Request("/two");
  Feed(MakeExchange(conn, t, two, kCompleteResponse));
  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns + 1);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/one");
  EXPECT_EQ(Metric("loupe_requests_unreported_total", {{"protocol", "http1"}}),
            1);
}

// A CHUNK as the kernel emits it in stream mode (bpf/stream.bpf.h): the header (its `prev`
// ends the exchange userspace may hold), then where the bytes sit in their direction's stream.
RawEvent MakeChunk(const ConnSpec& conn, uint8_t direction, uint64_t offset,
                   std::string_view data, uint64_t skipped, uint64_t ts,
                   const loupe_prev_response& prev = {}) {
  RawEvent header = MakeRaw(LOUPE_EV_CHUNK, conn, Totals{}, {}, {}, prev, LOUPE_PHASE_STREAM);
  loupe_chunk chunk{};
  chunk.offset = offset;
  chunk.ts_ns = ts;
  chunk.skipped = skipped;
  chunk.len = static_cast<uint32_t>(data.size());
  chunk.tid = 5151;
  chunk.direction = direction;
  RawEvent raw;
  raw.size = sizeof(loupe_event_header) + sizeof(chunk) + data.size();
  raw.storage.assign((raw.size + 7) / 8, 0);
  auto* bytes = reinterpret_cast<char*>(raw.storage.data());
  std::memcpy(bytes, header.storage.data(), sizeof(loupe_event_header));
  std::memcpy(bytes + sizeof(loupe_event_header), &chunk, sizeof(chunk));
  if (!data.empty()) {
    std::memcpy(bytes + sizeof(loupe_event_header) + sizeof(chunk), data.data(), data.size());
  }
  return raw;
}

TEST_F(ConnTrackerTest, StreamChunksEndThePendingExchangeAndReportEveryPipelinedRequest) {
  const ConnSpec conn = DefaultConn(31);
  Totals t;
  // One exchange on the record path, waiting for its long response to end...
  Feed(MakeExchange(conn, t, Request("/first"), kHeadOfLongResponse));
  EXPECT_TRUE(sink_.records.empty());
  // ...then the kernel streams the connection: the first chunk's prev ends it.
  Totals done = t;
  done.resp_bytes = kLongResponseBytes;
  done.resp_end_ns = 1'700'000;
  const std::string three = Request("/a") + Request("/b") + Request("/c");
  Feed(MakeChunk(conn, LOUPE_CHUNK_REQUEST, 0, three, 0, 2'000'000, PrevOf(done)));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/first");
  // Responses: a head whose body went by sendfile (skipped), then two in one write.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  Feed(MakeChunk(conn, LOUPE_CHUNK_RESPONSE, 0, head, 5, 2'100'000));
  const std::string two = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" +
                          std::string(kCompleteResponse);
  Feed(MakeChunk(conn, LOUPE_CHUNK_RESPONSE, head.size() + 5, two, 0, 2'200'000));
  ASSERT_EQ(sink_.records.size(), 4u);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/a");
  EXPECT_EQ(sink_.records[1].record.end_ns, 2'100'000u);
  EXPECT_EQ(sink_.records[2].Attr("http.response.status_code"), "404");
  EXPECT_EQ(sink_.records[3].Attr("url.path"), "/c");
  EXPECT_EQ(sink_.records[3].tid, 5151u);
  EXPECT_EQ(Finalized("stream"), 3);
  // The close's totals are the final stream offsets: nothing missing, nothing unanswered.
  Totals closing = t;
  closing.req_bytes = three.size();
  closing.resp_bytes = head.size() + 5 + two.size();
  Feed(MakeClose(conn, closing, {}, LOUPE_PHASE_STREAM));
  EXPECT_EQ(sink_.records.size(), 4u);
  EXPECT_EQ(Metric("loupe_requests_unreported_total", {}, false), 0);
  EXPECT_EQ(Metric("loupe_requests_unanswered_total", {}, false), 0);
  EXPECT_EQ(tracker_->size(), 0u);
}

TEST_F(ConnTrackerTest, LostStreamRecordsAreGapsAndEveryAnsweredRequestIsCounted) {
  const ConnSpec conn = DefaultConn(32);
  Feed(MakeChunk(conn, LOUPE_CHUNK_REQUEST, 0, Request("/a") + "GET /b HT", 0, 1));
  // Records lost (ring full): the next chunk starts 40 bytes further, inside a head.
  const size_t after = Request("/a").size() + 9 + 40;
  Feed(MakeChunk(conn, LOUPE_CHUNK_REQUEST, after, "\r\n", 0, 2));
  for (int i = 0; i < 3; ++i) {
    Feed(MakeChunk(conn, LOUPE_CHUNK_RESPONSE, i * 38,
                   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 3 + i));
  }
  Totals closing;
  closing.req_bytes = after + 2;
  closing.resp_bytes = 3 * 38;
  Feed(MakeClose(conn, closing, {}, LOUPE_PHASE_STREAM));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(Metric("loupe_requests_unreported_total",
                   {{"protocol", "http1"}, {"role", "server"}, {"reason", "request_not_captured"}}),
            2);
  EXPECT_EQ(Metric("loupe_stream_bytes_unparsed_total",
                   {{"direction", "request"}, {"reason", "lost"}}),
            9 + 40 + 2);
}

TEST_F(ConnTrackerTest, StreamOfAnUnknownProtocolIsCountedAsUnparsedBytes) {
  const ConnSpec conn = DefaultConn(33);
  Feed(MakeChunk(conn, LOUPE_CHUNK_REQUEST, 0, Garbage(3), 7, 1));
  EXPECT_EQ(Metric("loupe_stream_bytes_unparsed_total", {{"reason", "no_parser"}}),
            Garbage(3).size() + 7);
  EXPECT_TRUE(sink_.records.empty());
}

TEST_F(ConnTrackerTest, FullTableEvictsLeastRecentlyUsedConnection) {
  ConnTrackerOptions options;
  options.max_connections = 2;
  MakeTracker(options);
  Totals t;
  Feed(MakeExchange(DefaultConn(1), t, Request("/c1"), kCompleteResponse));
  // Connection 2 has an exchange pending when it is evicted.
  Feed(MakeExchange(DefaultConn(2), t, Request("/c2"), kHeadOfLongResponse));
  t.seq = 2;
  Feed(MakeExchange(DefaultConn(1), t, Request("/c1b"), kCompleteResponse));  // 1 is now newest
  EXPECT_EQ(sink_.records.size(), 2u);

  Feed(MakeExchange(DefaultConn(3), t, Request("/c3"), kCompleteResponse));
  EXPECT_EQ(tracker_->size(), 2u);
  EXPECT_EQ(Metric("loupe_connections_evicted_total", {{"reason", "table_full"}}),
            1);
  EXPECT_EQ(Metric("loupe_connections_tracked"), 2);
  // The evicted connection's pending exchange was reported, not lost.
  std::vector<std::string> paths;
  for (const SeenRecord& r : sink_.records) paths.push_back(r.Attr("url.path"));
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/c2"), 1);
  EXPECT_EQ(sink_.records.size(), 4u);

  // Connection 2 was forgotten with /c2: its next exchange, carrying /c2's final totals in `prev`,
  // starts it afresh and does not report /c2 a second time.
  Totals c2_final;
  c2_final.resp_end_ns = 5'000'000;
  c2_final.resp_bytes = kLongResponseBytes;
  c2_final.resp_chunks = 2;
  Feed(MakeExchange(DefaultConn(2), t, Request("/c2b"), kCompleteResponse, PrevOf(c2_final)));
  paths.clear();
  for (const SeenRecord& r : sink_.records) paths.push_back(r.Attr("url.path"));
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/c2"), 1);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/c2b"), 1);
  EXPECT_EQ(sink_.records.size(), 5u);
  EXPECT_EQ(tracker_->size(), 2u);
  EXPECT_EQ(Metric("loupe_connections_evicted_total", {{"reason", "table_full"}}),
            2);
}

TEST_F(ConnTrackerTest, IdleConnectionsAreForgottenBySweep) {
  ConnTrackerOptions options;
  options.idle_timeout_ns = 1'000'000'000;
  MakeTracker(options);
  Totals old_t;
  old_t.resp_start_ns = 1'000;
  Feed(MakeExchange(DefaultConn(1), old_t, Request("/old"), kCompleteResponse));
  Totals new_t;
  new_t.resp_start_ns = 900'000'000;
  Feed(MakeExchange(DefaultConn(2), new_t, Request("/new"), kCompleteResponse));

  tracker_->Sweep(old_t.resp_start_ns + options.idle_timeout_ns);
  EXPECT_EQ(tracker_->size(), 2u) << "exactly at the timeout is not yet idle";
  tracker_->Sweep(old_t.resp_start_ns + options.idle_timeout_ns + 1);
  EXPECT_EQ(tracker_->size(), 1u);
  EXPECT_EQ(Metric("loupe_connections_evicted_total", {{"reason", "idle"}}), 1);
  EXPECT_EQ(Metric("loupe_connections_tracked"), 1);

  tracker_->Sweep(new_t.resp_start_ns + options.idle_timeout_ns + 1);
  EXPECT_EQ(tracker_->size(), 0u);
  EXPECT_EQ(Metric("loupe_connections_evicted_total", {{"reason", "idle"}}), 2);
}

TEST_F(ConnTrackerTest, ClientRoleAndIpv6Addresses) {
  ConnSpec conn = DefaultConn(30);
  conn.role = LOUPE_ROLE_CLIENT;
  conn.endpoint.family = AF_INET6;
  SetIpv6("2001:db8::1", conn.endpoint.local);
  SetIpv6("2001:db8::2", conn.endpoint.remote);
  conn.endpoint.local_port = 51000;
  conn.endpoint.remote_port = 443;
  Totals t;
  Feed(MakeExchange(conn, t, "GET /api HTTP/1.1\r\n\r\n", kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 1u);
  const SeenRecord& seen = sink_.records[0];
  EXPECT_EQ(seen.role, Role::kClient);
  EXPECT_EQ(seen.record.instrument, &instruments::kHttpClient);
  EXPECT_EQ(seen.local_address, "2001:db8::1");
  EXPECT_EQ(seen.remote_address, "2001:db8::2");
  EXPECT_EQ(seen.local_port, 51000);
  EXPECT_EQ(seen.remote_port, 443);
  // The parser learned which side is the server: the remote one.
  EXPECT_EQ(seen.Attr("network.peer.address"), "2001:db8::2");
  EXPECT_EQ(seen.Attr("server.port"), "443");
  EXPECT_EQ(Metric("loupe_records_total", {{"instrument", "http_client"}}), 1);
}

TEST_F(ConnTrackerTest, Ipv4MappedIpv6AddressesPrintAsIpv4) {
  ConnSpec conn = DefaultConn(31);
  conn.endpoint.family = AF_INET6;
  SetIpv6("::ffff:192.0.2.7", conn.endpoint.local);
  SetIpv6("::ffff:198.51.100.9", conn.endpoint.remote);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/"), kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].local_address, "192.0.2.7");
  EXPECT_EQ(sink_.records[0].remote_address, "198.51.100.9");
  EXPECT_EQ(sink_.records[0].Attr("client.address"), "198.51.100.9");
}

TEST_F(ConnTrackerTest, CommFillingTheWholeFieldIsNotOverrun) {
  ConnSpec conn = DefaultConn(32);
  conn.comm = "abcdefghijklmnop";  // 16 bytes: no NUL in the kernel's field
  Totals t;
  Feed(MakeExchange(conn, t, Request("/"), kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].comm, "abcdefghijklmnop");
}

TEST(FormatAddressTest, FormatsEachFamily) {
  uint8_t addr[16] = {};
  SetIpv4("203.0.113.5", addr);
  EXPECT_EQ(FormatAddress(AF_INET, addr), "203.0.113.5");
  SetIpv6("::ffff:203.0.113.5", addr);
  EXPECT_EQ(FormatAddress(AF_INET6, addr), "203.0.113.5");
  SetIpv6("::1", addr);
  EXPECT_EQ(FormatAddress(AF_INET6, addr), "::1");
  SetIpv6("fe80::1:2", addr);
  EXPECT_EQ(FormatAddress(AF_INET6, addr), "fe80::1:2");
  // Not the mapped prefix (0xffff at the wrong place): stays IPv6.
  SetIpv6("::fffe:c000:0201", addr);
  EXPECT_EQ(FormatAddress(AF_INET6, addr), "::fffe:c000:201");
}

// Every request must be reported exactly once, whatever mix of single- and multi-chunk responses,
// EXCHANGE records lost to a full ring buffer (the pending response's end then comes from the
// close, a mismatched `prev` or a timeout), sweeps, closes (after a response or after a request
// that got none) and interleaving across connections the kernel produces. A record ends either
// when its first response chunk did or when the response really did, never at another
// exchange's time.
TEST_F(ConnTrackerTest, EveryRequestIsReportedExactlyOnceInAnyOrder) {
  constexpr int kConns = 4;
  constexpr int kExchangesPerConn = 6;
  struct Expected {
    uint64_t first_chunk_end_ns = 0;
    uint64_t final_end_ns = 0;
  };
  int multi_chunk_records = 0;
  int multi_chunk_with_final_end = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    RecordingSink sink;
    prometheus::Registry registry;
    AgentMetrics metrics(registry);
    ConnTrackerOptions options;
    options.pending_timeout_ns = 50'000;
    options.max_connections = 3;  // smaller than kConns: evictions happen too
    ConnTracker tracker(options, RegisteredProtocols(), &sink, &metrics);
    std::mt19937 rng(seed);
    auto chance = [&rng](int percent) {
      return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
    };

    // Each connection's events in kernel order; connections are interleaved randomly.
    std::vector<std::vector<RawEvent>> streams(kConns);
    std::map<std::string, Expected> expected;
    uint64_t clock = 1'000;
    for (int c = 0; c < kConns; ++c) {
      const ConnSpec conn = DefaultConn(100 + c);
      loupe_prev_response prev{};  // what the kernel keeps of the last finished response
      loupe_prev_response prev_before_last{};
      Totals last;
      last.seq = 0;
      for (int s = 1; s <= kExchangesPerConn; ++s) {
        const std::string path = absl::StrCat("/c", c, "/s", s);
        Totals t;
        t.seq = s;
        t.req_start_ns = clock;
        t.req_end_ns = clock + 10;
        t.resp_start_ns = clock + 20;
        t.resp_end_ns = clock + 30;
        clock += 1'000;
        const bool multi_chunk = chance(50);
        Totals final_totals = t;
        final_totals.resp_bytes = sizeof(kCompleteResponse) - 1;
        if (multi_chunk) {
          final_totals.resp_end_ns = t.resp_end_ns + 500;
          final_totals.resp_bytes = kLongResponseBytes;
          final_totals.resp_chunks = std::uniform_int_distribution<uint32_t>(2, 5)(rng);
        }
        if (chance(90)) {
          streams[c].push_back(MakeExchange(conn, t, Request(path),
                                            multi_chunk ? kHeadOfLongResponse : kCompleteResponse,
                                            prev));
          expected[path] = Expected{t.resp_end_ns, final_totals.resp_end_ns};
        }  // else: lost to a full ring buffer, so never reported
        prev_before_last = prev;
        prev = PrevOf(final_totals);
        last = final_totals;
      }
      if (chance(60)) {
        if (chance(30)) {
          // A request began but no response came before the close.
          Totals unanswered;
          unanswered.seq = last.seq + 1;
          unanswered.req_start_ns = clock;
          unanswered.req_end_ns = clock;
          unanswered.resp_start_ns = 0;
          unanswered.resp_end_ns = 0;
          unanswered.resp_chunks = 0;
          streams[c].push_back(MakeClose(conn, unanswered, prev, LOUPE_PHASE_REQUEST));
        } else {
          streams[c].push_back(MakeClose(conn, last, prev_before_last));
        }
      }
    }
    std::vector<size_t> next(kConns, 0);
    uint64_t sweep_clock = 0;
    for (;;) {
      std::vector<int> live;
      for (int c = 0; c < kConns; ++c) {
        if (next[c] < streams[c].size()) live.push_back(c);
      }
      if (live.empty()) break;
      const int c = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng)];
      const RawEvent& raw = streams[c][next[c]++];
      std::optional<CaptureEvent> event = DecodeCaptureEvent(raw.data(), raw.size);
      ASSERT_TRUE(event.has_value());
      tracker.OnEvent(*event);
      if (chance(10)) {
        sweep_clock += std::uniform_int_distribution<uint64_t>(0, 30'000)(rng);
        tracker.Sweep(sweep_clock);
      }
    }
    tracker.Sweep(UINT64_MAX / 2);  // what the agent does at shutdown

    std::map<std::string, int> seen;
    for (const SeenRecord& r : sink.records) {
      const std::string path = r.Attr("url.path");
      ++seen[path];
      auto it = expected.find(path);
      if (it == expected.end()) {
        ADD_FAILURE() << "seed " << seed << ": unexpected record " << path;
        continue;
      }
      const Expected& e = it->second;
      EXPECT_TRUE(r.record.end_ns == e.first_chunk_end_ns || r.record.end_ns == e.final_end_ns)
          << "seed " << seed << " path " << path << " end " << r.record.end_ns;
      if (e.final_end_ns != e.first_chunk_end_ns) {
        ++multi_chunk_records;
        if (r.record.end_ns == e.final_end_ns) ++multi_chunk_with_final_end;
      }
    }
    for (const auto& entry : expected) {
      EXPECT_EQ(seen[entry.first], 1) << "seed " << seed << " path " << entry.first;
    }
    EXPECT_EQ(sink.records.size(), expected.size()) << "seed " << seed;
    EXPECT_EQ(MetricValue(metrics, registry, "loupe_exchanges_finalized_total"),
              static_cast<double>(expected.size()))
        << "seed " << seed;
    EXPECT_EQ(tracker.size(), 0u) << "seed " << seed;
    if (HasFailure()) break;
  }
  // The streams exercised both ways a multi-chunk record can end.
  EXPECT_GT(multi_chunk_with_final_end, 0);
  EXPECT_LT(multi_chunk_with_final_end, multi_chunk_records);
}

// The next request began but the connection closed before its response: the kernel's CLOSE
// carries that unanswered request in `totals` and the pending response's final totals in `prev`.
TEST_F(ConnTrackerTest, CloseAfterAnUnansweredRequestTakesPendingTotalsFromPrev) {
  const ConnSpec conn = DefaultConn(19);
  Totals t;
  t.seq = 1;
  Feed(MakeExchange(conn, t, Request("/long"), kHeadOfLongResponse));
  ASSERT_TRUE(sink_.records.empty());

  Totals final_totals = t;
  final_totals.resp_end_ns = 8'888'888;
  final_totals.resp_bytes = kLongResponseBytes;
  final_totals.resp_chunks = 3;
  Totals unanswered;
  unanswered.seq = 2;
  unanswered.req_start_ns = 9'000'000;
  unanswered.req_end_ns = 9'000'000;
  unanswered.resp_start_ns = 0;
  unanswered.resp_end_ns = 0;
  unanswered.resp_chunks = 0;
  Feed(MakeClose(conn, unanswered, PrevOf(final_totals), LOUPE_PHASE_REQUEST));

  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/long");
  EXPECT_EQ(sink_.records[0].record.end_ns, 8'888'888u)
      << "the close carried the response's final totals in prev";
  EXPECT_EQ(Finalized("close"), 1);
  EXPECT_EQ(tracker_->size(), 0u);
}


TEST_F(ConnTrackerTest, ProcessExitFinalizesWithTheKernelsTotalsAndSeesTheCut) {
  const ConnSpec conn = DefaultConn(20);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/page"), kHeadOfLongResponse));
  ASSERT_TRUE(sink_.records.empty());

  // The process read the head, never the body, and exited: the totals still say head only.
  Totals head_only = t;
  head_only.resp_bytes = sizeof(kHeadOfLongResponse) - 1;
  Feed(MakeExitClose(conn, head_only));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_TRUE(sink_.records[0].record.is_error);
  EXPECT_EQ(sink_.records[0].record.error_type, "response_cut");
  EXPECT_EQ(Finalized("process_exit"), 1);
  EXPECT_EQ(Finalized("close"), 0);
  EXPECT_EQ(tracker_->size(), 0u);
}

TEST_F(ConnTrackerTest, WholeResponseAtExitIsNotCut) {
  const ConnSpec conn = DefaultConn(21);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/page"), kHeadOfLongResponse));
  Totals whole = t;
  whole.resp_bytes = kLongResponseBytes;
  whole.resp_chunks = 2;
  Feed(MakeExitClose(conn, whole));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_FALSE(sink_.records[0].record.is_error);
  EXPECT_EQ(Finalized("process_exit"), 1);
}

TEST_F(ConnTrackerTest, ShortResponseFollowedByANextRequestIsNotCut) {
  // The peer sent a next request, so it had the whole response: a short count there means
  // bytes moved by a syscall the capture does not see, not a cut.
  const ConnSpec conn = DefaultConn(22);
  Totals t;
  t.seq = 1;
  Feed(MakeExchange(conn, t, Request("/page"), kHeadOfLongResponse));
  Totals head_only = t;
  head_only.resp_bytes = sizeof(kHeadOfLongResponse) - 1;
  Feed(MakeClose(conn, Unanswered(2), PrevOf(head_only), LOUPE_PHASE_REQUEST));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_FALSE(sink_.records[0].record.is_error);
}

TEST_F(ConnTrackerTest, TimedOutShortResponseIsNotCut) {
  const ConnSpec conn = DefaultConn(23);
  Totals t;
  Feed(MakeExchange(conn, t, Request("/page"), kHeadOfLongResponse));
  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns + 1);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_FALSE(sink_.records[0].record.is_error);
  EXPECT_EQ(Finalized("timeout"), 1);
}

TEST_F(ConnTrackerTest, UnansweredRequestAtCloseIsReportedAsNoResponse) {
  const ConnSpec conn = DefaultConn(24);
  Totals t;
  t.seq = 1;
  Feed(MakeExchange(conn, t, Request("/answered"), kCompleteResponse));
  ASSERT_EQ(sink_.records.size(), 1u);

  Feed(MakeClose(conn, Unanswered(2), {}, LOUPE_PHASE_REQUEST, Request("/lost")));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/lost");
  EXPECT_TRUE(sink_.records[1].record.is_error);
  EXPECT_EQ(sink_.records[1].record.error_type, "no_response");
  EXPECT_EQ(Finalized("close"), 1);
  EXPECT_EQ(tracker_->size(), 0u);
}

TEST_F(ConnTrackerTest, FirstRequestUnansweredAtExitIsReported) {
  // The connection never carried a response: userspace first hears of it in the CLOSE.
  const ConnSpec conn = DefaultConn(25);
  Feed(MakeExitClose(conn, Unanswered(1), {}, LOUPE_PHASE_REQUEST, Request("/first")));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/first");
  EXPECT_EQ(sink_.records[0].record.error_type, "no_response");
  EXPECT_EQ(Finalized("process_exit"), 1);
  EXPECT_EQ(tracker_->size(), 0u);
}

TEST_F(ConnTrackerTest, PendingAndUnansweredAtOneCloseAreBothReported) {
  const ConnSpec conn = DefaultConn(26);
  Totals t;
  t.seq = 1;
  Feed(MakeExchange(conn, t, Request("/long"), kHeadOfLongResponse));
  Totals whole = t;
  whole.resp_bytes = kLongResponseBytes;
  whole.resp_chunks = 2;
  Feed(MakeClose(conn, Unanswered(2), PrevOf(whole), LOUPE_PHASE_REQUEST, Request("/lost")));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].Attr("url.path"), "/long");
  EXPECT_FALSE(sink_.records[0].record.is_error);
  EXPECT_EQ(sink_.records[1].Attr("url.path"), "/lost");
  EXPECT_EQ(sink_.records[1].record.error_type, "no_response");
}


// ---------------------------------------------------------------------------------------------
// The tracker's own rules with injected protocols: fakes whose detection and parsing are known,
// so no real protocol's bytes are involved.

// A line protocol: a record per exchange whose response ends with "\n" (or is final).
class FakeParser : public ConnectionParser {
 public:
  ParseState Parse(const Exchange& exchange, std::vector<Record>* out) override {
    if (!exchange.final && !exchange.response.ends_with("\n")) {
      return ParseState::kNeedsMoreData;
    }
    Record record;
    record.instrument = &instruments::kDbClient;
    record.span_name = std::string(exchange.request.substr(0, exchange.request.find('\n')));
    record.start_ns = exchange.request_start_ns;
    record.end_ns = exchange.response_end_ns;
    out->push_back(std::move(record));
    return ParseState::kOk;
  }
};

// Says kYes to requests starting with `yes_prefix`, kMaybe to those starting with
// `maybe_prefix` (when not empty); has no stream parser. Counts its detection calls.
class FakeProtocol : public Protocol {
 public:
  FakeProtocol(std::string name, std::string yes_prefix, std::string maybe_prefix = "")
      : name_(std::move(name)),
        yes_prefix_(std::move(yes_prefix)),
        maybe_prefix_(std::move(maybe_prefix)) {}

  std::string_view name() const override { return name_; }
  Detection Detect(const Exchange& first, const ConnectionInfo& /*conn*/) const override {
    ++detect_calls;
    if (first.request.starts_with(yes_prefix_)) return Detection::kYes;
    if (!maybe_prefix_.empty() && first.request.starts_with(maybe_prefix_)) {
      return Detection::kMaybe;
    }
    return Detection::kNo;
  }
  std::unique_ptr<ConnectionParser> NewConnection(const ConnectionInfo& /*conn*/) const override {
    return std::make_unique<FakeParser>();
  }

  mutable int detect_calls = 0;

 private:
  std::string name_;
  std::string yes_prefix_;
  std::string maybe_prefix_;
};

TEST_F(ConnTrackerTest, InjectedProtocolClassifiesAndItsRecordsReachTheSink) {
  FakeProtocol fake("fake", "FAKE ");
  MakeTracker({}, {&fake});
  Totals t;
  Feed(MakeExchange(DefaultConn(40), t, "FAKE get k\n", "VALUE 1\n"));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].protocol, "fake");
  EXPECT_EQ(sink_.records[0].conn_id, 40u);
  EXPECT_EQ(sink_.records[0].tid, t.req_tid);
  EXPECT_EQ(sink_.records[0].record.span_name, "FAKE get k");
  EXPECT_EQ(sink_.records[0].record.start_ns, t.req_start_ns);
  EXPECT_EQ(sink_.records[0].record.end_ns, t.resp_end_ns);
  EXPECT_EQ(sink_.classified, (std::vector<std::pair<uint32_t, std::string>>{{4242, "testsrv"}}));
  EXPECT_EQ(Metric("loupe_exchanges_parsed_total", {{"protocol", "fake"}}), 1);
  EXPECT_EQ(Finalized("complete"), 1);

  // Only the injected protocols are tried: HTTP/1 is not among them.
  Feed(MakeExchange(DefaultConn(41), t, Request("/"), kCompleteResponse));
  EXPECT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(Metric("loupe_exchanges_unclassified_total"), 1);
}

TEST_F(ConnTrackerTest, InjectedProtocolIsAskedOnlyUntilDetectionGivesUp) {
  FakeProtocol fake("fake", "FAKE ");
  ConnTrackerOptions options;
  options.detection_attempts = 3;
  MakeTracker(options, {&fake});
  const ConnSpec conn = DefaultConn(42);
  Totals t;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    t.seq = seq;
    Feed(MakeExchange(conn, t, "HELLO\n", "HI\n"));
  }
  EXPECT_EQ(fake.detect_calls, 3);
  EXPECT_EQ(Metric("loupe_exchanges_unclassified_total"), 5);
  // Given up: even the protocol's own bytes are no longer looked at on this connection.
  t.seq = 6;
  Feed(MakeExchange(conn, t, "FAKE get k\n", "VALUE 1\n"));
  EXPECT_EQ(fake.detect_calls, 3);
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_TRUE(sink_.classified.empty());
}

TEST_F(ConnTrackerTest, DetectionTakesTheFirstYesElseTheFirstMaybe) {
  FakeProtocol maybe_first("maybe_first", "NEVER", "FA");
  FakeProtocol yes_second("yes_second", "FAKE ");
  FakeProtocol maybe_third("maybe_third", "NEVER", "FA");
  MakeTracker({}, {&maybe_first, &yes_second, &maybe_third});
  Totals t;
  Feed(MakeExchange(DefaultConn(43), t, "FAKE get k\n", "VALUE 1\n"));
  Feed(MakeExchange(DefaultConn(44), t, "FAX\n", "OK\n"));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[0].protocol, "yes_second");
  EXPECT_EQ(maybe_third.detect_calls, 1);  // the kYes ended the first detection
  EXPECT_EQ(sink_.records[1].protocol, "maybe_first");
}

TEST_F(ConnTrackerTest, InjectedProtocolsUnfinishedExchangeReachesTheSinkOnceAtTimeout) {
  FakeProtocol fake("fake", "FAKE ");
  MakeTracker({}, {&fake});
  Totals t;
  Feed(MakeExchange(DefaultConn(45), t, "FAKE get k\n", "VALUE"));
  EXPECT_TRUE(sink_.records.empty());
  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns);
  EXPECT_TRUE(sink_.records.empty());
  tracker_->Sweep(t.resp_start_ns + options_.pending_timeout_ns + 1);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].record.span_name, "FAKE get k");
  EXPECT_EQ(Finalized("timeout"), 1);
  tracker_->Sweep(t.resp_start_ns + 10 * options_.pending_timeout_ns);
  EXPECT_EQ(sink_.records.size(), 1u);
}

TEST_F(ConnTrackerTest, StreamOfAProtocolWithoutStreamParserIsCountedAsUnparsedBytes) {
  FakeProtocol fake("fake", "FAKE ");
  MakeTracker({}, {&fake});
  const ConnSpec conn = DefaultConn(46);
  Totals t;
  Feed(MakeExchange(conn, t, "FAKE get k\n", "VALUE 1\n"));
  ASSERT_EQ(sink_.records.size(), 1u);
  Feed(MakeChunk(conn, LOUPE_CHUNK_REQUEST, 0, "FAKE get j\n", 4, 2'000'000));
  EXPECT_EQ(Metric("loupe_stream_bytes_unparsed_total",
                   {{"direction", "request"}, {"reason", "no_parser"}}),
            11 + 4);
  EXPECT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(fake.detect_calls, 1);  // the connection kept its protocol
}

}  // namespace
}  // namespace loupe
