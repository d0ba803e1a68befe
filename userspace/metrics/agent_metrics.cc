#include "userspace/metrics/agent_metrics.h"

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "userspace/core/absl_compat.h"
#include "userspace/core/instrument_schema.h"
#include "userspace/logging/log.h"
#include "userspace/version.h"

namespace loupe {
namespace {

double NowUnixSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

}  // namespace

AgentMetrics::AgentMetrics(prometheus::Registry& r, const std::vector<std::string>& protocols)
    : events_read_(CounterFamily(r, "loupe_events_read_total",
                                 "Events read from the kernel ring buffer, by kind")),
      events_dropped_(CounterFamily(r, "loupe_events_dropped_total",
                                    "Events lost before userspace could use them, by reason")),
      payload_truncated_(CounterFamily(r, "loupe_payload_truncated_total",
                                       "Payload prefixes cut to the capture size, by direction")),
      unsolicited_(AddCounter(r, "loupe_kernel_unsolicited_total",
                              "Data seen outside a request/response exchange")),
      preexisting_(AddCounter(r, "loupe_preexisting_connections_total",
                              "Connections open before the agent started, ignored until a clean "
                              "boundary")),
      preexisting_skipped_(AddCounter(r, "loupe_preexisting_syscalls_skipped_total",
                                      "Reads/writes on pre-existing connections skipped while "
                                      "waiting for a clean request boundary")),
      kernel_connections_(CounterFamily(r, "loupe_kernel_connections_total",
                                        "TCP connections the kernel probes started tracking "
                                        "(opened) or closed because their process exited")),
      parsed_(CounterFamily(r, "loupe_exchanges_parsed_total",
                            "Exchanges turned into records, by protocol")),
      parse_failures_(CounterFamily(r, "loupe_parse_failures_total",
                                    "Exchanges a detected protocol's parser rejected, by protocol")),
      ignored_(CounterFamily(r, "loupe_exchanges_ignored_total",
                             "Valid exchanges not reported (handshakes, auth), by protocol")),
      unreported_(CounterFamily(r, "loupe_requests_unreported_total",
                                "Requests seen but not reported individually, by protocol, "
                                "role and reason")),
      unanswered_(CounterFamily(r, "loupe_requests_unanswered_total",
                                "Stream mode: requests with no response when their connection "
                                "closed, not reported, by protocol and role")),
      stream_unparsed_(CounterFamily(r, "loupe_stream_bytes_unparsed_total",
                                     "Stream mode: bytes not parsed after a direction lost sync, "
                                     "by direction and reason")),
      stream_truncated_(AddCounter(r, "loupe_stream_bytes_truncated_total",
                                   "Stream mode: bytes moved past the kernel's per-syscall "
                                   "capture")),
      unclassified_{&AddCounter(r, "loupe_exchanges_unclassified_total",
                                "Exchanges on connections no protocol claimed"),
                    0},
      finalized_(CounterFamily(r, "loupe_exchanges_finalized_total",
                               "How exchanges waiting for their response's end were finalized")),
      evicted_(CounterFamily(r, "loupe_connections_evicted_total",
                             "Connections the userspace tracker forgot, by reason")),
      records_(CounterFamily(r, "loupe_records_total",
                             "Records fed to metrics and spans, by instrument")),
      overflow_(CounterFamily(r, "loupe_metric_series_overflow_total",
                              "Observations recorded in the overflow series because a service "
                              "exhausted its series budget")),
      connections_tracked_(AddGauge(r, "loupe_connections_tracked",
                                    "Connections held by the userspace tracker")),
      ringbuf_fill_(AddGauge(r, "loupe_ringbuf_fill_ratio",
                             "Fraction of the fullest per-CPU ring buffer holding unread events")),
      ready_(AddGauge(r, "loupe_ready", "1 when probes are attached and events flow")),
      probes_attached_(GaugeFamily(r, "loupe_probes_attached",
                                   "BPF programs attached, by hook type")),
      rss_(AddGauge(r, "loupe_process_resident_memory_bytes", "Resident memory of the agent")),
      cpu_seconds_(AddCounter(r, "loupe_process_cpu_seconds_total",
                              "CPU time of the agent (user + system)")),
      start_time_(AddGauge(r, "loupe_process_start_time_seconds", "Unix time the agent started")),
      process_cache_entries_(AddGauge(r, "loupe_process_cache_entries",
                                      "Processes whose identity the process cache holds")),
      malformed_{&events_dropped_.Add({{"reason", "malformed"}}), 0},
      parsed_children_(parsed_, "protocol"),
      failure_children_(parse_failures_, "protocol"),
      ignored_children_(ignored_, "protocol"),
      unreported_children_(unreported_, {"protocol", "role", "reason"}),
      unanswered_children_(unanswered_, {"protocol", "role"}),
      stream_unparsed_children_(stream_unparsed_, {"direction", "reason"}),
      finalized_children_(finalized_, "reason"),
      evicted_children_(evicted_, "reason"),
      records_children_(records_, "instrument"),
      preexisting_mirror_(preexisting_),
      probe_skipped_(events_dropped_.Add({{"reason", "probe_recursion"}})) {
  AddGauge(r, "loupe_build_info", "Build information; always 1", {{"version", kLoupeVersion}})
      .Set(1);
  events_read_by_kind_[LOUPE_EV_EXCHANGE].counter = &events_read_.Add({{"kind", "exchange"}});
  events_read_by_kind_[LOUPE_EV_CLOSE].counter = &events_read_.Add({{"kind", "close"}});
  events_read_by_kind_[LOUPE_EV_PREV_END].counter = &events_read_.Add({{"kind", "prev_end"}});
  events_read_by_kind_[LOUPE_EV_CHUNK].counter = &events_read_.Add({{"kind", "chunk"}});
  const auto mirror = [&](enum loupe_counter index, prometheus::Counter& counter) {
    kernel_counters_[index] = MirroredCounter(counter);
  };
  mirror(LOUPE_CNT_RINGBUF_FULL, events_dropped_.Add({{"reason", "ringbuf_full"}}));
  mirror(LOUPE_CNT_CONN_TABLE_FULL, events_dropped_.Add({{"reason", "conn_table_full"}}));
  mirror(LOUPE_CNT_REQ_TRUNCATED, payload_truncated_.Add({{"direction", "request"}}));
  mirror(LOUPE_CNT_RESP_TRUNCATED, payload_truncated_.Add({{"direction", "response"}}));
  mirror(LOUPE_CNT_UNSOLICITED, unsolicited_);
  mirror(LOUPE_CNT_CONNS_OPENED, kernel_connections_.Add({{"event", "opened"}}));
  mirror(LOUPE_CNT_CLOSED_AT_EXIT, kernel_connections_.Add({{"event", "closed_at_process_exit"}}));
  mirror(LOUPE_CNT_SELF_EXCLUDED, kernel_connections_.Add({{"event", "self_excluded"}}));
  mirror(LOUPE_CNT_PROCESS_EXCLUDED, kernel_connections_.Add({{"event", "process_excluded"}}));
  mirror(LOUPE_CNT_PORT_EXCLUDED, kernel_connections_.Add({{"event", "port_excluded"}}));
  mirror(LOUPE_CNT_SYNC_SKIPPED, preexisting_skipped_);
  mirror(LOUPE_CNT_RED_SLOT_MISSING, events_dropped_.Add({{"reason", "kernel_red_slot_missing"}}));
  mirror(LOUPE_CNT_STREAM_SWITCHED, kernel_connections_.Add({{"event", "streamed"}}));
  mirror(LOUPE_CNT_STREAM_BYTES_TRUNCATED, stream_truncated_);
  start_time_.Set(NowUnixSeconds());
  auto& series = GaugeFamily(r, "loupe_metric_series",
                             "RED histogram series held, by instrument (bounded by max_series)");
  auto& services =
      GaugeFamily(r, "loupe_metric_services", "Services with RED series, by instrument");
  for (const InstrumentSchema* family : AllInstruments()) {
    const std::string instrument(family->short_name);
    series_gauges_.push_back({instrument, &series.Add({{"instrument", instrument}})});
    services_gauges_.push_back({instrument, &services.Add({{"instrument", instrument}})});
  }
  spans_buffered_ = &AddGauge(r, "loupe_spans_buffered",
                              "Spans the span assembler holds for their relatives to arrive");
  auto& heap = GaugeFamily(r, "loupe_heap_bytes",
                           "The agent's malloc heap: in_use, and free but not yet returned");
  heap_in_use_ = &heap.Add({{"state", "in_use"}});
  heap_free_ = &heap.Add({{"state", "free"}});
  auto& suppressed = CounterFamily(r, "loupe_log_lines_suppressed_total",
                                   "Log lines not written because the log's rate limit was spent");
  for (log::Level level : {log::Level::kDebug, log::Level::kInfo, log::Level::kWarn}) {
    log_suppressed_[static_cast<size_t>(level)] =
        MirroredCounter(suppressed.Add({{"level", log::LevelName(level)}}));
  }
  for (const char* reason : {"table_full", "idle"}) evicted_children_.Create(reason);
  for (const std::string& protocol : protocols) {
    parsed_children_.Create(protocol);
    failure_children_.Create(protocol);
    ignored_children_.Create(protocol);
    for (const char* role : {"server", "client"}) {
      unreported_children_.Add({protocol, role, "exchange_prefix"}, 0);
    }
  }
  for (const char* reason :
       {"complete", "close", "process_exit", "next_exchange", "timeout", "stream"}) {
    finalized_children_.Create(reason);
  }
}

void AgentMetrics::PendingCounter::Flush() {
  if (pending == 0 || counter == nullptr) return;
  counter->Increment(static_cast<double>(pending));
  pending = 0;
}

AgentMetrics::LabelledCounters::LabelledCounters(prometheus::Family<prometheus::Counter>& family,
                                                 std::string label)
    : family_(&family), label_(std::move(label)) {}

AgentMetrics::PendingCounter& AgentMetrics::LabelledCounters::Find(std::string_view value) {
  for (Entry& entry : entries_) {
    // string_view equality compares the sizes before the bytes.
    if (std::string_view(entry.value) == value) return entry.counter;
  }
  prometheus::Counter& counter = family_->Add({{label_, std::string(value)}});
  entries_.push_back(Entry{std::string(value), PendingCounter{&counter, 0}});
  return entries_.back().counter;
}

void AgentMetrics::LabelledCounters::Flush() {
  for (Entry& entry : entries_) entry.counter.Flush();
}

AgentMetrics::MultiLabelCounters::MultiLabelCounters(
    prometheus::Family<prometheus::Counter>& family, std::vector<std::string> labels)
    : family_(&family), labels_(std::move(labels)) {}

void AgentMetrics::MultiLabelCounters::Add(std::initializer_list<std::string_view> values,
                                           uint64_t n) {
  for (Entry& entry : entries_) {
    if (std::equal(entry.values.begin(), entry.values.end(), values.begin(), values.end())) {
      entry.counter.pending += n;
      return;
    }
  }
  std::map<std::string, std::string> labels;
  std::vector<std::string> owned;
  size_t i = 0;
  for (std::string_view value : values) {
    owned.emplace_back(value);
    if (i < labels_.size()) labels.emplace(labels_[i++], std::string(value));
  }
  prometheus::Counter& counter = family_->Add(labels);
  entries_.push_back(Entry{std::move(owned), PendingCounter{&counter, n}});
}

void AgentMetrics::MultiLabelCounters::Flush() {
  for (Entry& entry : entries_) entry.counter.Flush();
}

void AgentMetrics::EventRead(uint32_t kind) {
  if (kind < events_read_by_kind_.size() && events_read_by_kind_[kind].counter != nullptr) {
    ++events_read_by_kind_[kind].pending;
  }
}
void AgentMetrics::EventMalformed() { ++malformed_.pending; }
void AgentMetrics::ExchangeParsed(std::string_view p) { parsed_children_.Add(p, 1); }
void AgentMetrics::ParseFailure(std::string_view p) { failure_children_.Add(p, 1); }
void AgentMetrics::ExchangeIgnored(std::string_view p) { ignored_children_.Add(p, 1); }
void AgentMetrics::RequestsUnreported(std::string_view p, std::string_view role,
                                      std::string_view reason, uint64_t n) {
  unreported_children_.Add({p, role, reason}, n);
}
void AgentMetrics::RequestsUnanswered(std::string_view p, std::string_view role, uint64_t n) {
  unanswered_children_.Add({p, role}, n);
}
void AgentMetrics::StreamBytesUnparsed(std::string_view direction, std::string_view reason,
                                       uint64_t n) {
  stream_unparsed_children_.Add({direction, reason}, n);
}
void AgentMetrics::ExchangeUnclassified() { ++unclassified_.pending; }
void AgentMetrics::ExchangeFinalized(std::string_view reason) {
  finalized_children_.Add(reason, 1);
}
void AgentMetrics::ConnectionEvicted(std::string_view reason) {
  evicted_children_.Add(reason, 1);
}
void AgentMetrics::RecordEmitted(std::string_view instrument) {
  records_children_.Add(instrument, 1);
}

void AgentMetrics::FlushPending() {
  for (PendingCounter& by_kind : events_read_by_kind_) by_kind.Flush();
  malformed_.Flush();
  unclassified_.Flush();
  parsed_children_.Flush();
  failure_children_.Flush();
  ignored_children_.Flush();
  unreported_children_.Flush();
  unanswered_children_.Flush();
  stream_unparsed_children_.Flush();
  finalized_children_.Flush();
  evicted_children_.Flush();
  records_children_.Flush();
}

prometheus::Counter& AgentMetrics::OverflowChild(std::string_view service,
                                                std::string_view instrument) {
  const std::string key = absl::StrCat(AbslView(service), "\x1f", AbslView(instrument));
  auto it = overflow_cache_.find(key);
  if (it == overflow_cache_.end()) {
    prometheus::Counter& c = overflow_.Add(
        {{"service_name", std::string(service)}, {"instrument", std::string(instrument)}});
    it = overflow_cache_.emplace(key, &c).first;
  }
  return *it->second;
}

void AgentMetrics::SeriesOverflow(std::string_view service, std::string_view instrument) {
  OverflowChild(service, instrument).Increment();
}

void AgentMetrics::ServiceSeen(std::string_view service, std::string_view instrument) {
  OverflowChild(service, instrument);
}

void AgentMetrics::SetConnectionsTracked(size_t n) {
  connections_tracked_.Set(static_cast<double>(n));
}
void AgentMetrics::SetRingbufFill(double ratio) { ringbuf_fill_.Set(ratio); }
void AgentMetrics::SetReady(bool ready) { ready_.Set(ready ? 1 : 0); }
void AgentMetrics::SetProbesAttached(std::string_view hook, int n) {
  probes_attached_.Add({{"hook", std::string(hook)}}).Set(n);
}

void AgentMetrics::UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals) {
  for (size_t i = 0; i < totals.size(); ++i) kernel_counters_[i].AdvanceTo(totals[i]);
}

void AgentMetrics::SetPreexistingConnections(uint64_t n) {
  preexisting_mirror_.AdvanceTo(n);
}

void AgentMetrics::SetProcessCacheEntries(size_t n) {
  process_cache_entries_.Set(static_cast<double>(n));
}

void AgentMetrics::SetProbeRecursionMisses(uint64_t total) {
  probe_skipped_.AdvanceTo(total);
}

void AgentMetrics::SetMetricSeries(std::string_view instrument, size_t series, size_t services) {
  for (NamedGauge& g : series_gauges_) {
    if (g.value == instrument) g.gauge->Set(static_cast<double>(series));
  }
  for (NamedGauge& g : services_gauges_) {
    if (g.value == instrument) g.gauge->Set(static_cast<double>(services));
  }
}

void AgentMetrics::SetSpansBuffered(size_t n) { spans_buffered_->Set(static_cast<double>(n)); }

void AgentMetrics::UpdateLogCounters() {
  for (size_t level = 0; level < log_suppressed_.size(); ++level) {
    log_suppressed_[level].AdvanceTo(log::SuppressedLines(static_cast<log::Level>(level)));
  }
}

void AgentMetrics::UpdateProcessMetrics() {
  const struct mallinfo2 heap = mallinfo2();
  heap_in_use_->Set(static_cast<double>(heap.uordblks + heap.hblkhd));
  heap_free_->Set(static_cast<double>(heap.fordblks));
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    rss_.Set(static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                       usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    if (cpu > cpu_seconds_last_) {
      cpu_seconds_.Increment(cpu - cpu_seconds_last_);
      cpu_seconds_last_ = cpu;
    }
  }
}

}  // namespace loupe
