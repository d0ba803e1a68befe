// The agent's own loupe_* metrics (see docs/metrics.md). Labelled children are created once and
// cached, so the hot path is a hash lookup and an atomic add.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bpf/shared/loupe_abi.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace loupe {

class AgentMetrics {
 public:
  // `protocols`: the registered protocol names, whose per-protocol counters are created at zero
  // so that alerts and dashboards see 0 rather than an absent series.
  AgentMetrics(prometheus::Registry& registry, const std::vector<std::string>& protocols = {});

  void EventRead(uint32_t kind);
  void EventMalformed();
  void ExchangeParsed(std::string_view protocol);
  void ParseFailure(std::string_view protocol);
  void ExchangeIgnored(std::string_view protocol);
  void RequestsUnreported(std::string_view protocol, uint64_t n);
  void ExchangeUnclassified();
  void ExchangeFinalized(std::string_view reason);
  void ConnectionEvicted(std::string_view reason);
  void RecordEmitted(std::string_view instrument);
  void SeriesOverflow(std::string_view service, std::string_view instrument);
  // Creates the service's overflow counter at zero when its first series appears.
  void ServiceSeen(std::string_view service, std::string_view instrument);

  void SetConnectionsTracked(size_t n);
  void SetRingbufFill(double ratio);
  void SetReady(bool ready);
  void SetProbesAttached(std::string_view hook, int n);
  // Mirrors the kernel's monotonic per-CPU counter sums into Prometheus counters.
  void UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals);
  void SetPreexistingConnections(uint64_t n);
  // The kernel's count of probe runs skipped because the program was already running on that
  // CPU (bpf_prog_info.recursion_misses): syscalls never seen.
  void SetProbeRecursionMisses(uint64_t total);
  // RSS and CPU time of the agent from /proc/self.
  void UpdateProcessMetrics();

 private:
  prometheus::Counter& OverflowChild(std::string_view service, std::string_view instrument);
  prometheus::Counter& Child(prometheus::Family<prometheus::Counter>& family,
                             absl::flat_hash_map<std::string, prometheus::Counter*>& cache,
                             std::string_view label, std::string_view value);

  prometheus::Family<prometheus::Counter>& events_read_;
  prometheus::Family<prometheus::Counter>& events_dropped_;
  prometheus::Family<prometheus::Counter>& payload_truncated_;
  prometheus::Counter& unsolicited_;
  prometheus::Counter& preexisting_;
  prometheus::Counter& preexisting_skipped_;
  prometheus::Family<prometheus::Counter>& kernel_connections_;
  prometheus::Family<prometheus::Counter>& parsed_;
  prometheus::Family<prometheus::Counter>& parse_failures_;
  prometheus::Family<prometheus::Counter>& ignored_;
  prometheus::Family<prometheus::Counter>& unreported_;
  prometheus::Counter& unclassified_;
  prometheus::Family<prometheus::Counter>& finalized_;
  prometheus::Family<prometheus::Counter>& evicted_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Family<prometheus::Counter>& overflow_;
  prometheus::Gauge& connections_tracked_;
  prometheus::Gauge& ringbuf_fill_;
  prometheus::Gauge& ready_;
  prometheus::Family<prometheus::Gauge>& probes_attached_;
  prometheus::Gauge& rss_;
  prometheus::Counter& cpu_seconds_;
  prometheus::Gauge& start_time_;

  std::array<prometheus::Counter*, 4> events_read_by_kind_{};
  prometheus::Counter& malformed_;
  absl::flat_hash_map<std::string, prometheus::Counter*> parsed_cache_, failures_cache_,
      ignored_cache_, unreported_cache_, finalized_cache_, evicted_cache_, records_cache_,
      overflow_cache_;

  // Kernel counter index -> Prometheus counter it feeds (null when not exported).
  std::array<prometheus::Counter*, LOUPE_CNT_MAX> kernel_counters_{};
  std::array<uint64_t, LOUPE_CNT_MAX> kernel_last_{};
  uint64_t preexisting_last_ = 0;
  prometheus::Counter& probe_skipped_;
  uint64_t probe_skipped_last_ = 0;
  double cpu_seconds_last_ = 0;
};

}  // namespace loupe
