#include "userspace/metrics/agent_metrics.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "userspace/core/absl_compat.h"
#include "userspace/metrics/counter_mirror.h"
#include "userspace/version.h"

namespace loupe {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

double NowUnixSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

}  // namespace

AgentMetrics::AgentMetrics(prometheus::Registry& r, const std::vector<std::string>& protocols)
    : events_read_(BuildCounter().Name("loupe_events_read_total")
                       .Help("Events read from the kernel ring buffer, by kind").Register(r)),
      events_dropped_(BuildCounter().Name("loupe_events_dropped_total")
                          .Help("Events lost before userspace could use them, by reason")
                          .Register(r)),
      payload_truncated_(BuildCounter().Name("loupe_payload_truncated_total")
                             .Help("Payload prefixes cut to the capture size, by direction")
                             .Register(r)),
      unsolicited_(BuildCounter().Name("loupe_kernel_unsolicited_total")
                       .Help("Data seen outside a request/response exchange").Register(r).Add({})),
      preexisting_(BuildCounter().Name("loupe_preexisting_connections_total")
                       .Help("Connections open before the agent started, ignored until a clean "
                             "boundary").Register(r).Add({})),
      preexisting_skipped_(BuildCounter().Name("loupe_preexisting_syscalls_skipped_total")
                               .Help("Reads/writes on pre-existing connections skipped while "
                                     "waiting for a clean request boundary")
                               .Register(r).Add({})),
      kernel_connections_(BuildCounter().Name("loupe_kernel_connections_total")
                              .Help("TCP connections the kernel probes started tracking "
                                    "(opened) or closed because their process exited")
                              .Register(r)),
      parsed_(BuildCounter().Name("loupe_exchanges_parsed_total")
                  .Help("Exchanges turned into records, by protocol").Register(r)),
      parse_failures_(BuildCounter().Name("loupe_parse_failures_total")
                          .Help("Exchanges a detected protocol's parser rejected, by protocol")
                          .Register(r)),
      ignored_(BuildCounter().Name("loupe_exchanges_ignored_total")
                   .Help("Valid exchanges not reported (handshakes, auth), by protocol")
                   .Register(r)),
      unreported_(BuildCounter().Name("loupe_requests_unreported_total")
                      .Help("Requests seen but not reported individually, by protocol")
                      .Register(r)),
      unclassified_(BuildCounter().Name("loupe_exchanges_unclassified_total")
                        .Help("Exchanges on connections no protocol claimed").Register(r).Add({})),
      finalized_(BuildCounter().Name("loupe_exchanges_finalized_total")
                     .Help("How exchanges waiting for their response's end were finalized")
                     .Register(r)),
      evicted_(BuildCounter().Name("loupe_connections_evicted_total")
                   .Help("Connections the userspace tracker forgot, by reason").Register(r)),
      records_(BuildCounter().Name("loupe_records_total")
                   .Help("Records fed to metrics and spans, by instrument").Register(r)),
      overflow_(BuildCounter().Name("loupe_metric_series_overflow_total")
                    .Help("Observations recorded in the overflow series because a service "
                          "exhausted its series budget").Register(r)),
      connections_tracked_(BuildGauge().Name("loupe_connections_tracked")
                               .Help("Connections held by the userspace tracker")
                               .Register(r).Add({})),
      ringbuf_fill_(BuildGauge().Name("loupe_ringbuf_fill_ratio")
                        .Help("Fraction of the ring buffer holding unread events")
                        .Register(r).Add({})),
      ready_(BuildGauge().Name("loupe_ready")
                 .Help("1 when probes are attached and events flow").Register(r).Add({})),
      probes_attached_(BuildGauge().Name("loupe_probes_attached")
                           .Help("BPF programs attached, by hook type").Register(r)),
      rss_(BuildGauge().Name("loupe_process_resident_memory_bytes")
               .Help("Resident memory of the agent").Register(r).Add({})),
      cpu_seconds_(BuildCounter().Name("loupe_process_cpu_seconds_total")
                       .Help("CPU time of the agent (user + system)").Register(r).Add({})),
      start_time_(BuildGauge().Name("loupe_process_start_time_seconds")
                      .Help("Unix time the agent started").Register(r).Add({})),
      malformed_(events_dropped_.Add({{"reason", "malformed"}})),
      probe_skipped_(events_dropped_.Add({{"reason", "probe_recursion"}})) {
  BuildGauge().Name("loupe_build_info").Help("Build information; always 1").Register(r)
      .Add({{"version", kLoupeVersion}}).Set(1);
  events_read_by_kind_[LOUPE_EV_EXCHANGE] = &events_read_.Add({{"kind", "exchange"}});
  events_read_by_kind_[LOUPE_EV_CLOSE] = &events_read_.Add({{"kind", "close"}});
  kernel_counters_[LOUPE_CNT_RINGBUF_FULL] = &events_dropped_.Add({{"reason", "ringbuf_full"}});
  kernel_counters_[LOUPE_CNT_CONN_TABLE_FULL] =
      &events_dropped_.Add({{"reason", "conn_table_full"}});
  kernel_counters_[LOUPE_CNT_REQ_TRUNCATED] = &payload_truncated_.Add({{"direction", "request"}});
  kernel_counters_[LOUPE_CNT_RESP_TRUNCATED] =
      &payload_truncated_.Add({{"direction", "response"}});
  kernel_counters_[LOUPE_CNT_UNSOLICITED] = &unsolicited_;
  kernel_counters_[LOUPE_CNT_CONNS_OPENED] = &kernel_connections_.Add({{"event", "opened"}});
  kernel_counters_[LOUPE_CNT_CLOSED_AT_EXIT] =
      &kernel_connections_.Add({{"event", "closed_at_process_exit"}});
  kernel_counters_[LOUPE_CNT_SYNC_SKIPPED] = &preexisting_skipped_;
  start_time_.Set(NowUnixSeconds());
  for (const char* reason : {"table_full", "idle"}) {
    evicted_cache_[reason] = &evicted_.Add({{"reason", reason}});
  }
  for (const std::string& protocol : protocols) {
    Child(parsed_, parsed_cache_, "protocol", protocol);
    Child(parse_failures_, failures_cache_, "protocol", protocol);
    Child(ignored_, ignored_cache_, "protocol", protocol);
    Child(unreported_, unreported_cache_, "protocol", protocol);
  }
  for (const char* reason : {"complete", "close", "process_exit", "next_exchange", "timeout"}) {
    finalized_cache_[reason] = &finalized_.Add({{"reason", reason}});
  }
}

prometheus::Counter& AgentMetrics::Child(
    prometheus::Family<prometheus::Counter>& family,
    absl::flat_hash_map<std::string, prometheus::Counter*>& cache, std::string_view label,
    std::string_view value) {
  auto it = cache.find(AbslView(value));
  if (it != cache.end()) return *it->second;
  prometheus::Counter& counter = family.Add({{std::string(label), std::string(value)}});
  cache.emplace(std::string(value), &counter);
  return counter;
}

void AgentMetrics::EventRead(uint32_t kind) {
  if (kind < events_read_by_kind_.size() && events_read_by_kind_[kind] != nullptr) {
    events_read_by_kind_[kind]->Increment();
  }
}
void AgentMetrics::EventMalformed() { malformed_.Increment(); }
void AgentMetrics::ExchangeParsed(std::string_view p) {
  Child(parsed_, parsed_cache_, "protocol", p).Increment();
}
void AgentMetrics::ParseFailure(std::string_view p) {
  Child(parse_failures_, failures_cache_, "protocol", p).Increment();
}
void AgentMetrics::ExchangeIgnored(std::string_view p) {
  Child(ignored_, ignored_cache_, "protocol", p).Increment();
}
void AgentMetrics::RequestsUnreported(std::string_view p, uint64_t n) {
  Child(unreported_, unreported_cache_, "protocol", p).Increment(static_cast<double>(n));
}
void AgentMetrics::ExchangeUnclassified() { unclassified_.Increment(); }
void AgentMetrics::ExchangeFinalized(std::string_view reason) {
  Child(finalized_, finalized_cache_, "reason", reason).Increment();
}
void AgentMetrics::ConnectionEvicted(std::string_view reason) {
  Child(evicted_, evicted_cache_, "reason", reason).Increment();
}
void AgentMetrics::RecordEmitted(std::string_view instrument) {
  Child(records_, records_cache_, "instrument", instrument).Increment();
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
  for (size_t i = 0; i < totals.size(); ++i) {
    if (kernel_counters_[i] != nullptr) {
      AdvanceCounterTo(*kernel_counters_[i], totals[i], &kernel_last_[i]);
    }
  }
}

void AgentMetrics::SetPreexistingConnections(uint64_t n) {
  AdvanceCounterTo(preexisting_, n, &preexisting_last_);
}

void AgentMetrics::SetProbeRecursionMisses(uint64_t total) {
  AdvanceCounterTo(probe_skipped_, total, &probe_skipped_last_);
}

void AgentMetrics::UpdateProcessMetrics() {
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
