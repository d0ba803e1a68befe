// Userspace hot path on recorded events: raw ring-buffer records, laid out exactly as
// bpf/capture.bpf.c writes them (an EXCHANGE carries the previous exchange's final response
// totals in `prev`; CLOSE is header-only), go through DecodeCaptureEvent -> ConnTracker::OnEvent -> HTTP/1
// parse -> Pipeline -> RedMetrics. Every benchmark reports exchanges as items, so items/s is
// exchanges per second on one core. docs/performance.md records the results. Each benchmark also
// reports allocs_per_item: heap allocations per exchange (operator new calls, counted below).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/allocation_count.h"
#include "bpf/shared/loupe_abi.h"
#include "prometheus/registry.h"
#include "userspace/conn/conn_tracker.h"
#include "userspace/core/clock.h"
#include "userspace/daemon/pipeline.h"
#include "userspace/loader/capture_event.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"
#include "userspace/protocols/registry.h"

namespace loupe {
namespace {

// Counts the allocations made while it lives (the timed loop) and reports them per iteration.
class AllocationCounter {
 public:
  explicit AllocationCounter(benchmark::State& state)
      : state_(state), start_(bench::AllocationCount()) {}
  ~AllocationCounter() {
    state_.counters["allocs_per_item"] =
        benchmark::Counter(static_cast<double>(bench::AllocationCount() - start_),
                           benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  uint64_t start_;
};

constexpr uint32_t kTgid = 4242;
constexpr uint16_t kServerPort = 8080;
constexpr uint64_t kStepNs = 50'000;  // 50 us between the timestamps of one exchange

// ---- wire bytes ------------------------------------------------------------------------------

std::string GetRequest(std::string_view path) {
  return std::string("GET ") + std::string(path) +
         " HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
}

// nginx's answer for a small static file, headers and body in one write.
std::string NginxResponse(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) +
         (status == 200 ? " OK" : " Not Found") +
         "\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
         "Content-Type: text/html\r\nContent-Length: " +
         std::to_string(body.size()) +
         "\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\n"
         "ETag: \"65920080-11\"\r\nAccept-Ranges: bytes\r\n\r\n" +
         std::string(body);
}

std::string ChunkedResponse() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
         "\r\n1b\r\n{\"items\":[1,2,3],\"next\":null}\r\n0\r\n\r\n";
}

// ---- ring-buffer records ---------------------------------------------------------------------

struct EventSpec {
  uint64_t conn_id = 1;
  uint64_t seq = 1;
  int32_t fd = 7;
  uint16_t remote_port = 40000;
  std::string request;
  std::string response;          // the captured first response chunk
  uint64_t response_bytes = 0;   // total so far; 0 means response.size()
  uint32_t response_chunks = 1;
  // The previous exchange's response as it finally ended (loupe_prev_response); 0: none.
  uint64_t prev_response_bytes = 0;
  uint32_t prev_response_chunks = 0;
};

void FillHeader(loupe_event_header* h, uint32_t kind, const EventSpec& spec) {
  std::memset(h, 0, sizeof(*h));
  h->kind = kind;
  h->tgid = kTgid;
  h->conn_id = spec.conn_id;
  h->totals.seq = spec.seq;
  h->totals.req_start_ns = 1'000'000'000 + spec.seq * 4 * kStepNs;
  h->totals.req_end_ns = h->totals.req_start_ns;
  h->totals.resp_start_ns = h->totals.req_end_ns + kStepNs;
  h->totals.resp_end_ns = h->totals.resp_start_ns;
  h->totals.req_bytes = spec.request.size();
  h->totals.resp_bytes = spec.response_bytes != 0 ? spec.response_bytes : spec.response.size();
  h->totals.first_resp_chunk_bytes = spec.response.size();
  h->totals.resp_chunks = spec.response_chunks;
  h->totals.req_tid = kTgid;
  h->tuple.family = 2;  // AF_INET
  const uint8_t loopback[4] = {127, 0, 0, 1};
  std::memcpy(h->tuple.local_addr, loopback, 4);
  std::memcpy(h->tuple.remote_addr, loopback, 4);
  h->tuple.local_port = kServerPort;
  h->tuple.remote_port = spec.remote_port;
  h->tuple.role = LOUPE_ROLE_SERVER;
  h->fd = spec.fd;
  h->phase = LOUPE_PHASE_RESPONSE;
  std::memcpy(h->comm, "nginx", 5);
  if (spec.prev_response_chunks != 0 && spec.seq > 1) {
    h->prev.seq = spec.seq - 1;
    h->prev.resp_end_ns = h->totals.req_start_ns - kStepNs;
    h->prev.resp_bytes = spec.prev_response_bytes;
    h->prev.resp_chunks = spec.prev_response_chunks;
  }
}

// An EXCHANGE record: header, then the request prefix, then the first response chunk, sized to
// the bytes used (the kernel submits variable-size records).
std::vector<uint8_t> ExchangeRecord(const EventSpec& spec) {
  const size_t req = std::min<size_t>(spec.request.size(), LOUPE_REQ_CAP - 1);
  const size_t resp = std::min<size_t>(spec.response.size(), LOUPE_RESP_CAP - 1);
  std::vector<uint8_t> bytes(sizeof(loupe_event_header) + req + resp);
  auto* h = reinterpret_cast<loupe_event_header*>(bytes.data());
  FillHeader(h, LOUPE_EV_EXCHANGE, spec);
  h->req_len = static_cast<uint16_t>(req);
  h->resp_len = static_cast<uint16_t>(resp);
  std::memcpy(bytes.data() + sizeof(*h), spec.request.data(), req);
  std::memcpy(bytes.data() + sizeof(*h) + req, spec.response.data(), resp);
  return bytes;
}

// A CLOSE record: the header only, with the last exchange's final totals.
std::vector<uint8_t> CloseRecord(const EventSpec& spec, uint64_t total_bytes, uint32_t chunks) {
  std::vector<uint8_t> bytes(sizeof(loupe_event_header));
  auto* h = reinterpret_cast<loupe_event_header*>(bytes.data());
  FillHeader(h, LOUPE_EV_CLOSE, spec);
  h->totals.resp_bytes = total_bytes;
  h->totals.resp_chunks = chunks;
  h->totals.resp_end_ns = h->totals.resp_start_ns + kStepNs;
  return bytes;
}

// Rewrites the sequence number in place so a replayed record is a new exchange (and, when it
// carries one, its `prev` the one before).
void SetSeq(std::vector<uint8_t>& record, uint64_t seq) {
  auto* h = reinterpret_cast<loupe_event_header*>(record.data());
  h->totals.seq = seq;
  if (h->prev.seq != 0) h->prev.seq = seq - 1;
}

void SetConnId(std::vector<uint8_t>& record, uint64_t conn_id) {
  reinterpret_cast<loupe_event_header*>(record.data())->conn_id = conn_id;
}

// ---- the agent's userspace, minus /proc and the ring ------------------------------------------

std::optional<ProcessFacts> FakeProcess(int64_t pid) {
  ProcessFacts facts;
  facts.pid = pid;
  facts.exe_path = "/usr/sbin/nginx";
  facts.argv = {"nginx: worker process"};
  facts.comm = "nginx";
  facts.start_time_ticks = 12345;
  return facts;
}

struct Agent {
  prometheus::Registry registry;
  AgentMetrics agent_metrics{registry};
  RedMetrics red_metrics{registry, &agent_metrics, 500};
  ProcessInfoCache processes{"bench-host", 4096, FakeProcess};
  FakeClock clock{/*monotonic_ns=*/1'000'000'000};
  Pipeline pipeline{&processes, &red_metrics, {}, nullptr, &clock};
  ConnTracker tracker;

  // span_attributes: false is the agent's default (no OTLP endpoint: metrics only), true is the
  // agent exporting spans.
  explicit Agent(bool span_attributes = true)
      : tracker(TrackerOptions(span_attributes), RegisteredProtocols(), &pipeline,
                &agent_metrics) {}

  static ConnTrackerOptions TrackerOptions(bool span_attributes) {
    ConnTrackerOptions options;
    options.span_attributes = span_attributes;
    return options;
  }

  void Feed(const std::vector<uint8_t>& record) {
    // The agent publishes its self-metrics' pending counts after each ring-buffer drain (every
    // <= 20 ms, hundreds of events or more under load); flushing every kEventsPerFlush events
    // charges that cost here, on the pessimistic side.
    if (++unflushed_events == kEventsPerFlush) {
      agent_metrics.FlushPending();
      unflushed_events = 0;
    }
    std::optional<CaptureEvent> event = DecodeCaptureEvent(record.data(), record.size());
    if (!event.has_value()) {
      agent_metrics.EventMalformed();
      return;
    }
    tracker.OnEvent(*event);
  }

  static constexpr uint32_t kEventsPerFlush = 256;
  uint32_t unflushed_events = 0;
};

// Discards records: isolates the tracker and the parser from the metrics stage.
class NullSink : public RecordSink {
 public:
  void OnRecord(const RecordContext&, Record record) override {
    benchmark::DoNotOptimize(record.span_name.data());
  }
};

EventSpec KeepAliveGet(uint64_t conn_id = 1) {
  EventSpec spec;
  spec.conn_id = conn_id;
  spec.request = GetRequest("/index.html");
  spec.response = NginxResponse(200, "hello from nginx\n");
  return spec;
}

// ---- full path -------------------------------------------------------------------------------

// One keep-alive connection, GET /index.html -> 200 with the whole response in one write.
// Argument "spans": 0 is the agent's default (metrics only), 1 with spans exported.
void BM_FullPath_KeepAliveGet(benchmark::State& state) {
  Agent agent(state.range(0) != 0);
  std::vector<uint8_t> record = ExchangeRecord(KeepAliveGet());
  uint64_t seq = 1;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    SetSeq(record, seq++);
    agent.Feed(record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullPath_KeepAliveGet)->ArgName("spans")->Arg(0)->Arg(1);

// A chunked response whose terminating chunk is inside the captured first write.
void BM_FullPath_Chunked(benchmark::State& state) {
  Agent agent(state.range(0) != 0);
  EventSpec spec = KeepAliveGet();
  spec.request = GetRequest("/api/items");
  spec.response = ChunkedResponse();
  std::vector<uint8_t> record = ExchangeRecord(spec);
  uint64_t seq = 1;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    SetSeq(record, seq++);
    agent.Feed(record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullPath_Chunked)->ArgName("spans")->Arg(0)->Arg(1);

// Headers in the first write, body in a second one (nginx with sendfile): each EXCHANGE leaves
// its exchange pending (the body is not in the prefix) and the next EXCHANGE's `prev` finalizes
// it, so in steady state every record finalizes one exchange and parks one.
void BM_FullPath_TwoChunksFinalizedByNext(benchmark::State& state) {
  Agent agent(state.range(0) != 0);
  EventSpec spec = KeepAliveGet();
  const std::string whole = NginxResponse(200, std::string(4096, 'x'));
  const size_t head_size = whole.find("\r\n\r\n") + 4;
  spec.response = whole.substr(0, head_size);
  spec.response_bytes = head_size;
  spec.seq = 2;
  spec.prev_response_bytes = whole.size();
  spec.prev_response_chunks = 2;
  std::vector<uint8_t> exchange = ExchangeRecord(spec);
  uint64_t seq = 2;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    SetSeq(exchange, seq++);
    agent.Feed(exchange);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullPath_TwoChunksFinalizedByNext)->ArgName("spans")->Arg(0)->Arg(1);

// `Connection: close`: every exchange is on a new connection (classification, parser creation,
// address formatting) and is followed by its CLOSE.
void BM_FullPath_NewConnectionPerRequest(benchmark::State& state) {
  Agent agent(state.range(0) != 0);
  EventSpec spec = KeepAliveGet();
  std::vector<uint8_t> exchange = ExchangeRecord(spec);
  std::vector<uint8_t> close = CloseRecord(spec, spec.response.size(), 1);
  uint64_t conn_id = 1;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    SetConnId(exchange, conn_id);
    SetConnId(close, conn_id);
    ++conn_id;
    agent.Feed(exchange);
    agent.Feed(close);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullPath_NewConnectionPerRequest)->ArgName("spans")->Arg(0)->Arg(1);

// 1000 keep-alive connections in round robin; per connection a fixed shape: 70% single-write
// GETs over a few routes (ids normalized to {id}) and statuses, 20% chunked, 10% two chunks
// (finalized by the next exchange's `prev`). All connections are classified during warm-up, as
// in a long-running agent.
void BM_FullPath_Mix1000Connections(benchmark::State& state) {
  constexpr int kConnections = 1000;
  Agent agent(state.range(0) != 0);
  std::vector<std::vector<uint8_t>> conns;
  conns.reserve(kConnections);
  const char* paths[] = {"/index.html", "/api/users/1234", "/api/orders/98/items",
                         "/static/app.js", "/healthz"};
  for (int i = 0; i < kConnections; ++i) {
    EventSpec spec = KeepAliveGet(static_cast<uint64_t>(i) + 1);
    spec.fd = 10 + i;
    spec.remote_port = static_cast<uint16_t>(40000 + i);
    spec.request = GetRequest(paths[i % 5]);
    const int shape = i % 10;
    if (shape < 7) {
      spec.response = NginxResponse(i % 20 == 3 ? 404 : 200, "hello from nginx\n");
    } else if (shape < 9) {
      spec.response = ChunkedResponse();
    } else {
      const std::string whole = NginxResponse(200, std::string(2048, 'y'));
      spec.response = whole.substr(0, whole.find("\r\n\r\n") + 4);
      spec.seq = 2;
      spec.prev_response_bytes = whole.size();
      spec.prev_response_chunks = 2;
    }
    conns.push_back(ExchangeRecord(spec));
  }
  uint64_t seq = 2;
  auto one_round = [&] {
    for (std::vector<uint8_t>& record : conns) {
      SetSeq(record, seq);
      agent.Feed(record);
    }
    ++seq;
  };
  one_round();  // warm-up: classify every connection
  AllocationCounter allocations(state);
  for (auto _ : state) one_round();
  state.SetItemsProcessed(state.iterations() * kConnections);
}
BENCHMARK(BM_FullPath_Mix1000Connections)->ArgName("spans")->Arg(0)->Arg(1);

// ---- stages alone ----------------------------------------------------------------------------

void BM_Stage_Decode(benchmark::State& state) {
  const std::vector<uint8_t> record = ExchangeRecord(KeepAliveGet());
  AllocationCounter allocations(state);
  for (auto _ : state) {
    std::optional<CaptureEvent> event = DecodeCaptureEvent(record.data(), record.size());
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_Decode);

const Protocol& Http1() {
  for (const auto& protocol : AllProtocols()) {
    if (protocol->name() == "http1") return *protocol;
  }
  std::abort();  // the registry always has HTTP/1.x
}

Exchange KeepAliveExchange(const std::string& request, const std::string& response) {
  Exchange ex;
  ex.role = Role::kServer;
  ex.seq = 1;
  ex.request_start_ns = 1'000'000'000;
  ex.request_end_ns = ex.request_start_ns;
  ex.response_start_ns = ex.request_end_ns + kStepNs;
  ex.response_end_ns = ex.response_start_ns;
  ex.request_bytes = request.size();
  ex.response_bytes = response.size();
  ex.response_chunks = 1;
  ex.first_response_chunk_bytes = response.size();
  ex.request = request;
  ex.response = response;
  return ex;
}

ConnectionInfo ServerInfo() {
  ConnectionInfo info;
  info.role = Role::kServer;
  info.local_port = kServerPort;
  info.remote_port = 40000;
  info.server_address = "127.0.0.1";
  info.server_port = kServerPort;
  info.client_address = "127.0.0.1";
  info.client_port = 40000;
  return info;
}

// Detection over every registered protocol: paid once per new connection.
void BM_Stage_DetectAllProtocols(benchmark::State& state) {
  const EventSpec spec = KeepAliveGet();
  const Exchange ex = KeepAliveExchange(spec.request, spec.response);
  const ConnectionInfo info = ServerInfo();
  AllocationCounter allocations(state);
  for (auto _ : state) {
    int yes = 0;
    for (const auto& protocol : AllProtocols()) {
      yes += protocol->Detect(ex, info) == Detection::kYes;
    }
    benchmark::DoNotOptimize(yes);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_DetectAllProtocols);

// The HTTP/1 parser producing one record (stitching, route normalization, attributes).
void BM_Stage_Http1Parse(benchmark::State& state) {
  const EventSpec spec = KeepAliveGet();
  const Exchange ex = KeepAliveExchange(spec.request, spec.response);
  ConnectionInfo info = ServerInfo();
  info.span_attributes = state.range(0) != 0;
  std::unique_ptr<ConnectionParser> parser = Http1().NewConnection(info);
  std::vector<Record> records;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    records.clear();
    benchmark::DoNotOptimize(parser->Parse(ex, &records));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_Http1Parse)->ArgName("spans")->Arg(0)->Arg(1);

// Decode + tracker + parse, records discarded: everything before the metrics stage.
void BM_Stage_TrackerAndParse(benchmark::State& state) {
  prometheus::Registry registry;
  AgentMetrics agent_metrics(registry);
  NullSink sink;
  ConnTracker tracker(ConnTrackerOptions{}, RegisteredProtocols(), &sink, &agent_metrics);
  std::vector<uint8_t> record = ExchangeRecord(KeepAliveGet());
  uint64_t seq = 1;
  AllocationCounter allocations(state);
  for (auto _ : state) {
    SetSeq(record, seq++);
    std::optional<CaptureEvent> event = DecodeCaptureEvent(record.data(), record.size());
    tracker.OnEvent(*event);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_TrackerAndParse);

Record SampleRecord() {
  const EventSpec spec = KeepAliveGet();
  const Exchange ex = KeepAliveExchange(spec.request, spec.response);
  std::unique_ptr<ConnectionParser> parser = Http1().NewConnection(ServerInfo());
  std::vector<Record> records;
  if (parser->Parse(ex, &records) != ParseState::kOk || records.empty()) std::abort();
  return records.front();
}

// Pipeline::OnRecord: process lookup (cached) and RED metrics. Includes copying the record,
// which the tracker would have moved.
void BM_Stage_Pipeline(benchmark::State& state) {
  Agent agent;
  const Record record = SampleRecord();
  RecordContext context;
  context.tgid = kTgid;
  context.comm = "nginx";
  context.protocol = "http1";
  AllocationCounter allocations(state);
  for (auto _ : state) {
    agent.pipeline.OnRecord(context, record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_Pipeline);

// The copy BM_Stage_Pipeline includes, so it can be subtracted.
void BM_Stage_RecordCopy(benchmark::State& state) {
  const Record record = SampleRecord();
  AllocationCounter allocations(state);
  for (auto _ : state) {
    Record copy = record;
    benchmark::DoNotOptimize(copy.span_name.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_RecordCopy);

void BM_Stage_RedMetricsObserve(benchmark::State& state) {
  Agent agent;
  const Record record = SampleRecord();
  AllocationCounter allocations(state);
  for (auto _ : state) {
    agent.red_metrics.Observe("nginx", record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stage_RedMetricsObserve);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
