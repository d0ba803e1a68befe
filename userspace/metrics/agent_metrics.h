// The agent's own loupe_* metrics (see docs/metrics.md). Per-exchange counts are kept in plain
// integers and added to the Prometheus counters by FlushPending(): prometheus-cpp increments a
// counter with a compare-and-swap loop on an atomic<double>, and at several counts per exchange
// that was a measurable share of the agent's CPU.
#pragma once

#include <array>
#include <initializer_list>
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
#include "userspace/metrics/metric_registration.h"

namespace loupe {

class AgentMetrics {
 public:
  // `protocols`: the registered protocol names, whose per-protocol counters are created at zero
  // so that alerts and dashboards see 0 rather than an absent series.
  AgentMetrics(prometheus::Registry& registry, const std::vector<std::string>& protocols = {});

  // Event-loop counters. They only add to pending counts, which reach Prometheus at the next
  // FlushPending(); the agent flushes after every ring-buffer drain, so exported values lag by at
  // most one flush. None of these methods nor FlushPending() is thread-safe: call them all from
  // one thread (the agent's event loop). SeriesOverflow is not deferred: it only counts once a
  // service has exhausted its series budget, and it updates Prometheus directly.
  void EventRead(uint32_t kind);
  void EventMalformed();
  void ExchangeParsed(std::string_view protocol);
  void ParseFailure(std::string_view protocol);
  void ExchangeIgnored(std::string_view protocol);
  // Requests seen but not reported as records, by why (docs/metrics.md): `exchange_prefix`
  // (exchange record: past the captured prefix, or no response in the first chunk),
  // `request_not_captured` / `response_not_captured` (stream mode: one direction lost sync).
  void RequestsUnreported(std::string_view protocol, std::string_view role,
                          std::string_view reason, uint64_t n);
  // Stream mode: requests with no response when their connection closed, not reported.
  void RequestsUnanswered(std::string_view protocol, std::string_view role, uint64_t n);
  // Stream mode: bytes of a direction that lost sync, by direction and reason.
  void StreamBytesUnparsed(std::string_view direction, std::string_view reason, uint64_t n);
  void ExchangeUnclassified();
  void ExchangeFinalized(std::string_view reason);
  void ConnectionEvicted(std::string_view reason);
  void RecordEmitted(std::string_view instrument);
  void SeriesOverflow(std::string_view service, std::string_view instrument);
  // Creates the service's overflow counter at zero when its first series appears.
  void ServiceSeen(std::string_view service, std::string_view instrument);
  // Adds every non-zero pending count to its Prometheus counter and zeroes it.
  void FlushPending();

  void SetConnectionsTracked(size_t n);
  void SetRingbufFill(double ratio);
  void SetReady(bool ready);
  void SetProbesAttached(std::string_view hook, int n);
  // Mirrors the kernel's monotonic per-CPU counter sums into Prometheus counters.
  void UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals);
  void SetPreexistingConnections(uint64_t n);
  // Processes whose identity the process cache holds (bounded by process_cache_size).
  void SetProcessCacheEntries(size_t n);
  // The kernel's count of probe runs skipped because the program was already running on that
  // CPU (bpf_prog_info.recursion_misses): syscalls never seen.
  void SetProbeRecursionMisses(uint64_t total);
  // RSS and CPU time of the agent from /proc/self, and the allocator's heap (in use, and free
  // but not yet returned to the kernel).
  void UpdateProcessMetrics();

  // Sizes of the agent's bounded tables (docs/memory.md); call from the event loop.
  // `instrument`: an InstrumentSchema::short_name (http_server, http_client, db_client).
  void SetMetricSeries(std::string_view instrument, size_t series, size_t services);
  void SetSpansBuffered(size_t n);
  // Mirrors log::SuppressedLines into loupe_log_lines_suppressed_total{level}.
  void UpdateLogCounters();

 private:
  // A Prometheus counter and the increments not yet added to it.
  struct PendingCounter {
    prometheus::Counter* counter = nullptr;
    uint64_t pending = 0;

    void Flush();
  };

  // The children of one labelled family, by label value. The sets are tiny and bounded
  // (protocols, finalize/evict reasons, instruments), so a linear scan of a vector beats hashing
  // the value. A value not seen before gets its child created on first use.
  class LabelledCounters {
   public:
    LabelledCounters(prometheus::Family<prometheus::Counter>& family, std::string label);
    // Creates the child for `value` at zero if it does not exist yet.
    void Create(std::string_view value) { Find(value); }
    void Add(std::string_view value, uint64_t n) { Find(value).pending += n; }
    void Flush();

   private:
    struct Entry {
      std::string value;
      PendingCounter counter;
    };
    // The returned reference is only valid until the next call (the vector may grow).
    PendingCounter& Find(std::string_view value);

    prometheus::Family<prometheus::Counter>* family_;
    std::string label_;
    std::vector<Entry> entries_;
  };

  // Like LabelledCounters, for a family with several labels (values given in label order).
  class MultiLabelCounters {
   public:
    MultiLabelCounters(prometheus::Family<prometheus::Counter>& family,
                       std::vector<std::string> labels);
    void Add(std::initializer_list<std::string_view> values, uint64_t n);
    void Flush();

   private:
    struct Entry {
      std::vector<std::string> values;
      PendingCounter counter;
    };
    prometheus::Family<prometheus::Counter>* family_;
    std::vector<std::string> labels_;
    std::vector<Entry> entries_;
  };

  prometheus::Counter& OverflowChild(std::string_view service, std::string_view instrument);

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
  prometheus::Family<prometheus::Counter>& unanswered_;
  prometheus::Family<prometheus::Counter>& stream_unparsed_;
  prometheus::Counter& stream_truncated_;
  PendingCounter unclassified_;
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
  prometheus::Gauge& process_cache_entries_;

  // Indexed by event kind; a null counter is a kind that is not counted.
  std::array<PendingCounter, 6> events_read_by_kind_{};
  PendingCounter malformed_;
  LabelledCounters parsed_children_;
  LabelledCounters failure_children_;
  LabelledCounters ignored_children_;
  MultiLabelCounters unreported_children_;
  MultiLabelCounters unanswered_children_;
  MultiLabelCounters stream_unparsed_children_;
  LabelledCounters finalized_children_;
  LabelledCounters evicted_children_;
  LabelledCounters records_children_;
  absl::flat_hash_map<std::string, prometheus::Counter*> overflow_cache_;

  // Kernel counter index -> the Prometheus counter it feeds (none when not exported).
  std::array<MirroredCounter, LOUPE_CNT_MAX> kernel_counters_{};
  MirroredCounter preexisting_mirror_;
  MirroredCounter probe_skipped_;
  double cpu_seconds_last_ = 0;

  // Table sizes and the log's suppressed lines (set up in the constructor's body).
  struct NamedGauge {
    std::string value;
    prometheus::Gauge* gauge = nullptr;
  };
  std::vector<NamedGauge> series_gauges_;
  std::vector<NamedGauge> services_gauges_;
  prometheus::Gauge* spans_buffered_ = nullptr;
  prometheus::Gauge* heap_in_use_ = nullptr;
  prometheus::Gauge* heap_free_ = nullptr;
  std::array<MirroredCounter, 4> log_suppressed_{};  // by log::Level; none for kError
};

}  // namespace loupe
