#include "userspace/metrics/agent_metrics.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

using Labels = std::map<std::string, std::string>;

// Sum of the samples of family `name` whose labels include `subset`; -1 when the family is
// missing, so a misspelt name cannot pass as zero. Reads what Prometheus holds: counts still
// pending in an AgentMetrics are not included (Value() below flushes them first).
double CollectedValue(prometheus::Registry& registry, const std::string& name,
                      const Labels& subset = {}) {
  bool found = false;
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    found = true;
    for (const auto& metric : family.metric) {
      size_t matched = 0;
      for (const auto& label : metric.label) {
        auto it = subset.find(label.name);
        if (it != subset.end() && it->second == label.value) ++matched;
      }
      if (matched != subset.size()) continue;
      sum += family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return found ? sum : -1;
}

std::array<uint64_t, LOUPE_CNT_MAX> Totals(std::initializer_list<std::pair<int, uint64_t>> set) {
  std::array<uint64_t, LOUPE_CNT_MAX> totals{};
  for (const auto& [index, value] : set) totals[static_cast<size_t>(index)] = value;
  return totals;
}

class AgentMetricsTest : public ::testing::Test {
 protected:
  AgentMetricsTest() : metrics_(registry_) {}

  // CollectedValue after flushing the pending counts, as the agent's event loop does.
  double Value(const std::string& name, const Labels& subset = {}) {
    metrics_.FlushPending();
    return CollectedValue(registry_, name, subset);
  }

  prometheus::Registry registry_;
  AgentMetrics metrics_;
};

TEST_F(AgentMetricsTest, KernelCountersMirrorMonotonicDeltas) {
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_RINGBUF_FULL, 5},
                                        {LOUPE_CNT_CONN_TABLE_FULL, 2},
                                        {LOUPE_CNT_REQ_TRUNCATED, 7},
                                        {LOUPE_CNT_RESP_TRUNCATED, 1},
                                        {LOUPE_CNT_UNSOLICITED, 3}}));
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "ringbuf_full"}}), 5);
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "conn_table_full"}}), 2);
  EXPECT_EQ(Value("loupe_payload_truncated_total", {{"direction", "request"}}), 7);
  EXPECT_EQ(Value("loupe_payload_truncated_total", {{"direction", "response"}}), 1);
  EXPECT_EQ(Value("loupe_kernel_unsolicited_total"), 3);

  // Totals grow: only the difference is added.
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_RINGBUF_FULL, 9},
                                        {LOUPE_CNT_CONN_TABLE_FULL, 2},
                                        {LOUPE_CNT_REQ_TRUNCATED, 7},
                                        {LOUPE_CNT_RESP_TRUNCATED, 1},
                                        {LOUPE_CNT_UNSOLICITED, 3}}));
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "ringbuf_full"}}), 9);
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "conn_table_full"}}), 2);

  // A smaller total (e.g. a per-CPU read racing an update) never decreases the counter, and
  // the next larger total is added from the highest value seen.
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_RINGBUF_FULL, 4}}));
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "ringbuf_full"}}), 9);
  EXPECT_EQ(Value("loupe_payload_truncated_total", {{"direction", "request"}}), 7);
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_RINGBUF_FULL, 10}}));
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "ringbuf_full"}}), 10);
}

TEST_F(AgentMetricsTest, UnexportedKernelCountersAreIgnored) {
  const double before = Value("loupe_events_dropped_total");
  metrics_.UpdateKernelCounters(
      Totals({{LOUPE_CNT_TLS_CALLS, 100}, {LOUPE_CNT_NOT_TCP, 50}, {LOUPE_CNT_WAKEUPS, 9}}));
  EXPECT_EQ(Value("loupe_events_dropped_total"), before);
  EXPECT_EQ(Value("loupe_events_read_total"), 0)
      << "events read are counted by userspace, not mirrored from the kernel";
}

TEST_F(AgentMetricsTest, ConnectionLifecycleAndSyncSkipsAreExported) {
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_CONNS_OPENED, 12},
                                        {LOUPE_CNT_CLOSED_AT_EXIT, 5},
                                        {LOUPE_CNT_SYNC_SKIPPED, 3}}));
  EXPECT_EQ(Value("loupe_kernel_connections_total", {{"event", "opened"}}), 12);
  EXPECT_EQ(Value("loupe_kernel_connections_total",
                  {{"event", "closed_at_process_exit"}}), 5);
  EXPECT_EQ(Value("loupe_preexisting_syscalls_skipped_total"), 3);
}

TEST_F(AgentMetricsTest, SelfExclusionsAreCountedConnections) {
  EXPECT_EQ(Value("loupe_kernel_connections_total", {{"event", "self_excluded"}}), 0)
      << "the series exists from the start";
  metrics_.UpdateKernelCounters(Totals({{LOUPE_CNT_SELF_EXCLUDED, 4}}));
  EXPECT_EQ(Value("loupe_kernel_connections_total", {{"event", "self_excluded"}}), 4);
  EXPECT_EQ(Value("loupe_events_dropped_total"), 0) << "not a loss: nothing to alert on";
}

TEST_F(AgentMetricsTest, ProbeRecursionMissesAreDrops) {
  metrics_.SetProbeRecursionMisses(3);
  metrics_.SetProbeRecursionMisses(2);  // never decreases
  metrics_.SetProbeRecursionMisses(5);
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "probe_recursion"}}), 5);
}

TEST_F(AgentMetricsTest, PreexistingConnectionsOnlyGrow) {
  metrics_.SetPreexistingConnections(4);
  metrics_.SetPreexistingConnections(6);
  metrics_.SetPreexistingConnections(2);
  EXPECT_EQ(Value("loupe_preexisting_connections_total"), 6);
}

TEST_F(AgentMetricsTest, EventCountersByKind) {
  metrics_.EventRead(LOUPE_EV_EXCHANGE);
  metrics_.EventRead(LOUPE_EV_EXCHANGE);
  metrics_.EventRead(2);      // the retired TAIL kind: ignored
  metrics_.EventRead(LOUPE_EV_CLOSE);
  metrics_.EventRead(0);      // not a kind: ignored
  metrics_.EventRead(1000);   // out of range: ignored, no crash
  EXPECT_EQ(Value("loupe_events_read_total", {{"kind", "exchange"}}), 2);
  EXPECT_EQ(Value("loupe_events_read_total", {{"kind", "close"}}), 1);
  EXPECT_EQ(Value("loupe_events_read_total"), 3);
  metrics_.EventMalformed();
  EXPECT_EQ(Value("loupe_events_dropped_total", {{"reason", "malformed"}}), 1);
}

TEST_F(AgentMetricsTest, LabelledCountersAreCachedPerValue) {
  metrics_.ExchangeParsed("http1");
  metrics_.ExchangeParsed("http1");
  metrics_.ExchangeParsed("redis");
  metrics_.ParseFailure("mysql");
  metrics_.ExchangeIgnored("postgresql");
  metrics_.RequestsUnreported("http1", "server", "exchange_prefix", 5);
  metrics_.RequestsUnreported("http1", "server", "exchange_prefix", 2);
  metrics_.ExchangeFinalized("tail");
  metrics_.ExchangeFinalized("weird");
  metrics_.ConnectionEvicted("idle");
  metrics_.RecordEmitted("db_client");
  metrics_.SeriesOverflow("svc", "http_server");
  metrics_.SeriesOverflow("svc", "http_server");
  metrics_.SeriesOverflow("svc", "db_client");
  EXPECT_EQ(Value("loupe_exchanges_parsed_total", {{"protocol", "http1"}}), 2);
  EXPECT_EQ(Value("loupe_exchanges_parsed_total", {{"protocol", "redis"}}), 1);
  EXPECT_EQ(Value("loupe_parse_failures_total", {{"protocol", "mysql"}}), 1);
  EXPECT_EQ(Value("loupe_exchanges_ignored_total", {{"protocol", "postgresql"}}), 1);
  EXPECT_EQ(Value("loupe_requests_unreported_total", {{"protocol", "http1"}}), 7);
  EXPECT_EQ(Value("loupe_exchanges_finalized_total", {{"reason", "tail"}}), 1);
  EXPECT_EQ(Value("loupe_exchanges_finalized_total", {{"reason", "weird"}}), 1);
  EXPECT_EQ(Value("loupe_connections_evicted_total", {{"reason", "idle"}}), 1);
  EXPECT_EQ(Value("loupe_records_total", {{"instrument", "db_client"}}), 1);
  EXPECT_EQ(Value("loupe_metric_series_overflow_total",
                  {{"service_name", "svc"}, {"instrument", "http_server"}}),
            2);
  EXPECT_EQ(Value("loupe_metric_series_overflow_total",
                  {{"service_name", "svc"}, {"instrument", "db_client"}}),
            1);
}

// Event-loop counts are pending until FlushPending(), which adds each exactly once.
TEST(AgentMetricsFlushTest, CountsReachPrometheusOnlyOnFlushAndOnce) {
  prometheus::Registry registry;
  AgentMetrics metrics(registry, {"http1"});
  auto collected = [&registry](const std::string& name, const Labels& subset = {}) {
    return CollectedValue(registry, name, subset);
  };
  const Labels http1 = {{"protocol", "http1"}};
  metrics.ExchangeParsed("http1");
  metrics.ExchangeParsed("http1");
  metrics.RequestsUnreported("http1", "server", "exchange_prefix", 3);
  metrics.EventRead(LOUPE_EV_EXCHANGE);
  metrics.EventMalformed();
  metrics.ExchangeUnclassified();
  metrics.ExchangeFinalized("complete");
  metrics.ConnectionEvicted("idle");
  metrics.RecordEmitted("http_server");
  // The pre-created children exist at zero; nothing counted is visible before the flush.
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", http1), 0);
  EXPECT_EQ(collected("loupe_requests_unreported_total", http1), 0);
  EXPECT_EQ(collected("loupe_events_read_total", {{"kind", "exchange"}}), 0);
  EXPECT_EQ(collected("loupe_events_dropped_total", {{"reason", "malformed"}}), 0);
  EXPECT_EQ(collected("loupe_exchanges_unclassified_total"), 0);
  EXPECT_EQ(collected("loupe_exchanges_finalized_total", {{"reason", "complete"}}), 0);
  EXPECT_EQ(collected("loupe_connections_evicted_total", {{"reason", "idle"}}), 0);

  metrics.FlushPending();
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", http1), 2);
  EXPECT_EQ(collected("loupe_requests_unreported_total", http1), 3);
  EXPECT_EQ(collected("loupe_events_read_total", {{"kind", "exchange"}}), 1);
  EXPECT_EQ(collected("loupe_events_dropped_total", {{"reason", "malformed"}}), 1);
  EXPECT_EQ(collected("loupe_exchanges_unclassified_total"), 1);
  EXPECT_EQ(collected("loupe_exchanges_finalized_total", {{"reason", "complete"}}), 1);
  EXPECT_EQ(collected("loupe_connections_evicted_total", {{"reason", "idle"}}), 1);
  EXPECT_EQ(collected("loupe_records_total", {{"instrument", "http_server"}}), 1);

  // Flushing again with nothing new adds nothing; a new count is added once.
  metrics.FlushPending();
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", http1), 2);
  EXPECT_EQ(collected("loupe_events_read_total", {{"kind", "exchange"}}), 1);
  EXPECT_EQ(collected("loupe_records_total", {{"instrument", "http_server"}}), 1);
  metrics.ExchangeParsed("http1");
  metrics.FlushPending();
  metrics.FlushPending();
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", http1), 3);
  EXPECT_EQ(collected("loupe_requests_unreported_total", http1), 3);

  // A protocol not passed to the constructor gets its child on first use, alongside the others.
  metrics.ExchangeParsed("redis");
  metrics.ParseFailure("redis");
  metrics.ExchangeParsed("http1");
  metrics.ExchangeParsed("redis");
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", {{"protocol", "redis"}}), 0);
  metrics.FlushPending();
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", {{"protocol", "redis"}}), 2);
  EXPECT_EQ(collected("loupe_parse_failures_total", {{"protocol", "redis"}}), 1);
  EXPECT_EQ(collected("loupe_exchanges_parsed_total", http1), 4);
  EXPECT_EQ(collected("loupe_exchanges_parsed_total"), 6);
}

TEST_F(AgentMetricsTest, FinalizeReasonsArePreRegistered) {
  // Dashboards rate() these from zero: every documented reason exists before it first happens.
  metrics_.FlushPending();
  for (const char* reason : {"complete", "close", "next_exchange", "timeout"}) {
    bool found = false;
    for (const auto& family : registry_.Collect()) {
      if (family.name != "loupe_exchanges_finalized_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) found |= label.value == reason;
      }
    }
    EXPECT_TRUE(found) << reason;
  }
}

TEST_F(AgentMetricsTest, GaugesAreSet) {
  metrics_.SetConnectionsTracked(12);
  metrics_.SetRingbufFill(0.25);
  metrics_.SetReady(true);
  metrics_.SetProbesAttached("tp_btf", 3);
  EXPECT_EQ(Value("loupe_connections_tracked"), 12);
  EXPECT_EQ(Value("loupe_ringbuf_fill_ratio"), 0.25);
  EXPECT_EQ(Value("loupe_ready"), 1);
  EXPECT_EQ(Value("loupe_probes_attached", {{"hook", "tp_btf"}}), 3);
  metrics_.SetReady(false);
  metrics_.SetConnectionsTracked(0);
  EXPECT_EQ(Value("loupe_ready"), 0);
  EXPECT_EQ(Value("loupe_connections_tracked"), 0);
  EXPECT_EQ(Value("loupe_build_info"), 1);
}

TEST_F(AgentMetricsTest, ProcessCacheSizeIsAGauge) {
  EXPECT_EQ(Value("loupe_process_cache_entries"), 0);
  metrics_.SetProcessCacheEntries(42);
  EXPECT_EQ(Value("loupe_process_cache_entries"), 42);
  metrics_.SetProcessCacheEntries(7);  // entries evicted or replaced
  EXPECT_EQ(Value("loupe_process_cache_entries"), 7);
}

TEST_F(AgentMetricsTest, TableSizesAreGauges) {
  metrics_.SetMetricSeries("http_server", 501, 2);
  metrics_.SetMetricSeries("db_client", 7, 1);
  metrics_.SetSpansBuffered(4096);
  EXPECT_EQ(Value("loupe_metric_series", {{"instrument", "http_server"}}), 501);
  EXPECT_EQ(Value("loupe_metric_services", {{"instrument", "http_server"}}), 2);
  EXPECT_EQ(Value("loupe_metric_series", {{"instrument", "db_client"}}), 7);
  EXPECT_EQ(Value("loupe_metric_series", {{"instrument", "http_client"}}), 0);
  EXPECT_EQ(Value("loupe_spans_buffered"), 4096);
  metrics_.SetMetricSeries("http_server", 3, 1);
  EXPECT_EQ(Value("loupe_metric_series", {{"instrument", "http_server"}}), 3);
}

TEST_F(AgentMetricsTest, SuppressedLogLinesAreMirrored) {
  ASSERT_TRUE(log::SetLevel("debug").ok());
  uint64_t now = 1'000'000'000;
  log::SetLineBudgetForTest(/*lines_per_second=*/1, /*burst=*/2, [&now] { return now; });
  metrics_.UpdateLogCounters();
  const double before = Value("loupe_log_lines_suppressed_total", {{"level", "debug"}});
  ::testing::internal::CaptureStdout();
  for (int i = 0; i < 50; ++i) log::Debug("flood");
  ::testing::internal::GetCapturedStdout();
  metrics_.UpdateLogCounters();
  EXPECT_EQ(Value("loupe_log_lines_suppressed_total", {{"level", "debug"}}) - before, 48);
  metrics_.UpdateLogCounters();  // nothing new: the counter stays
  EXPECT_EQ(Value("loupe_log_lines_suppressed_total", {{"level", "debug"}}) - before, 48);
  log::SetLineBudgetForTest(log::kLogLinesPerSecond, log::kLogBurstLines, nullptr);
  ASSERT_TRUE(log::SetLevel("info").ok());
}

TEST_F(AgentMetricsTest, ProcessMetricsAreSet) {
  const double now = static_cast<double>(std::time(nullptr));
  const double start = Value("loupe_process_start_time_seconds");
  EXPECT_GT(start, now - 60);
  EXPECT_LT(start, now + 60);

  metrics_.UpdateProcessMetrics();
  const double rss = Value("loupe_process_resident_memory_bytes");
  EXPECT_GT(rss, 1024 * 1024) << "a running gtest binary holds more than 1 MiB";
  EXPECT_LT(rss, 16.0 * 1024 * 1024 * 1024);
  EXPECT_EQ(static_cast<uint64_t>(rss) % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)), 0u);
  EXPECT_GT(Value("loupe_heap_bytes", {{"state", "in_use"}}), 0);
  EXPECT_LT(Value("loupe_heap_bytes", {{"state", "in_use"}}), rss * 4)
      << "in-use heap is of the order of the RSS, not a garbage value";

  // Burn some CPU: the counter follows and never decreases.
  const double cpu_before = Value("loupe_process_cpu_seconds_total");
  volatile uint64_t sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  metrics_.UpdateProcessMetrics();
  const double cpu_after = Value("loupe_process_cpu_seconds_total");
  EXPECT_GT(cpu_after, cpu_before);
  metrics_.UpdateProcessMetrics();
  EXPECT_GE(Value("loupe_process_cpu_seconds_total"), cpu_after);
}

TEST_F(AgentMetricsTest, ExpositionHasTheDocumentedNames) {
  metrics_.FlushPending();
  const std::string text = prometheus::TextSerializer().Serialize(registry_.Collect());
  for (const char* name :
       {"loupe_build_info", "loupe_ready", "loupe_events_dropped_total",
        "loupe_kernel_unsolicited_total", "loupe_preexisting_connections_total",
        "loupe_ringbuf_fill_ratio", "loupe_connections_tracked",
        "loupe_exchanges_unclassified_total", "loupe_exchanges_finalized_total",
        "loupe_process_resident_memory_bytes", "loupe_process_cpu_seconds_total",
        "loupe_process_start_time_seconds", "loupe_metric_series", "loupe_metric_services",
        "loupe_spans_buffered", "loupe_heap_bytes", "loupe_log_lines_suppressed_total", "loupe_process_cache_entries"}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace loupe
