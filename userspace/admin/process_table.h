// The per-process status table behind `/status` and `loupe ps`: each process the agent has met,
// who it is (its resource, with its Kubernetes identity), the protocols and exchanges counted for
// it, and why part or all of its traffic is not instrumented (core/process_status.h).
//
// Threads: the event thread writes (the ProcessStatusSink methods and Tick) into a table only it
// touches, with no lock; Tick publishes a copy at most every publish interval, and the admin
// threads read that immutable snapshot. Memory is bounded: at most `max_processes` rows (a report
// for a new process past that is refused and counted), at most `max_protocols` names and one
// bounded detail per gap in a row. Rows of exited processes are dropped by Tick.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/process_status.h"
#include "userspace/core/resource.h"

namespace loupe {

struct ProcessTableOptions {
  size_t max_processes = 4096;
  size_t max_protocols = 8;
  size_t max_detail_bytes = 160;
  uint64_t exit_check_interval_ns = 2'000'000'000;
  // A /status answer is at most this old.
  uint64_t publish_interval_ns = 1'000'000'000;
};

// One process as /status shows it.
struct ProcessStatusRow {
  struct GapState {
    uint64_t count = 0;  // reports of this gap; 0: the gap is absent
    std::string detail;  // the first report's, cut to max_detail_bytes
  };

  uint32_t pid = 0;
  std::string comm;  // from the first gap report, when no resource is known
  std::shared_ptr<const ProcessResource> resource;  // null until the pipeline resolved it
  std::vector<std::string> protocols;               // in the order first seen
  uint64_t exchanges = 0;                           // records counted for it
  std::array<GapState, kInstrumentationGapCount> gaps;

  const GapState& gap(InstrumentationGap g) const { return gaps[static_cast<size_t>(g)]; }
  bool has_gap(InstrumentationGap g) const { return gap(g).count > 0; }
  bool has_any_gap() const;
};

// no: a selection rule excludes it; partly: some of its traffic is known not to be seen (TLS
// without libssl, connections of its parent, connections open before start, a refused kernel
// feature), the rest is; yes: nothing known to be missed.
enum class Instrumented { kYes, kPartly, kNo };
Instrumented InstrumentedOf(const ProcessStatusRow& row);
std::string_view InstrumentedName(Instrumented instrumented);

struct ProcessStatusSnapshot {
  std::vector<ProcessStatusRow> processes;  // by pid
  size_t max_processes = 0;
  uint64_t refused = 0;  // reports about new processes refused because the table was full
};

class ProcessTable final : public ProcessStatusSink {
 public:
  // Whether a pid still runs (ProcessAlive("/proc", pid) in the agent).
  using ProcessAlive = std::function<bool(uint32_t pid)>;

  ProcessTable(ProcessTableOptions options, ProcessAlive process_alive);

  // ProcessStatusSink (event thread).
  void OnProcessResolved(const std::shared_ptr<const ProcessResource>& resource) override;
  void OnExchangeCounted(const std::shared_ptr<const ProcessResource>& resource,
                         std::string_view protocol) override;
  void OnGap(uint32_t tgid, std::string_view comm, InstrumentationGap gap,
             std::string_view detail) override;

  // Event thread, from the housekeeping: drops rows of exited processes and publishes the
  // snapshot when the intervals have passed. `now_ns` is CLOCK_MONOTONIC.
  void Tick(uint64_t now_ns);
  // Publishes now (the first snapshot, tests).
  void Publish();

  // Event thread.
  size_t size() const { return rows_.size(); }
  uint64_t refused() const { return refused_; }

  // Any thread: the last published snapshot (never null).
  std::shared_ptr<const ProcessStatusSnapshot> Snapshot() const;

 private:
  // The row of `tgid`, created when there is room; null (and counted) when the table is full.
  ProcessStatusRow* RowFor(uint32_t tgid);
  // The resource of a row, or a fresh row when it belongs to a new process under a reused pid.
  ProcessStatusRow* RowForResource(const std::shared_ptr<const ProcessResource>& resource);
  void DropExited();

  const ProcessTableOptions options_;
  const ProcessAlive process_alive_;
  absl::flat_hash_map<uint32_t, ProcessStatusRow> rows_;
  uint64_t refused_ = 0;
  bool changed_ = true;
  uint64_t next_exit_check_ns_ = 0;
  uint64_t next_publish_ns_ = 0;

  mutable std::mutex mu_;
  std::shared_ptr<const ProcessStatusSnapshot> published_;  // guarded by mu_
};

// The /status body: {"processes":[...],"max_processes":N,"refused":N}. Each process: pid,
// service_name, service_namespace, service_instance_id, executable, comm, container_id, kubernetes (namespace,
// pod, pod_uid, container, node, workload_kind, workload_name; absent outside Kubernetes),
// protocols, exchanges, instrumented (yes/partly/no) and not_instrumented (a list of
// {reason, detail, count}).
std::string ProcessStatusJson(const ProcessStatusSnapshot& snapshot);

}  // namespace loupe
