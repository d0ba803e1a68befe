// The exclusion path of the pipeline: decides each process once (process/process_selector.h),
// drops the records of excluded ones (counted), and tells the kernel (bpf/selection.bpf.h) so that
// their later connections cost one map lookup and no record.
//
// Life of an excluded process's entry in the kernel map:
//   decided excluded, final  → Add(tgid); its connections tracked so far are deleted from the
//                              kernel's connection table at the next Housekeeping (one walk of
//                              the table for all processes excluded since the last one)
//   process exits            → the kernel's exit probe deletes it; the sweep (every 2 s) deletes
//                              entries whose process is gone or whose pid now belongs to another
//                              process (start time changed), for kernels without that probe
//   resource changes         → decided again (the pod identity arrived, a pid was reused): an
//                              instrumented verdict removes it
// Provisional verdicts (a container awaiting its pod) are applied to records only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "userspace/core/process_status.h"
#include "userspace/core/resource.h"
#include "userspace/loader/selection_maps.h"
#include "userspace/process/process_selector.h"

namespace loupe {

class ProcessExclusion {
 public:
  // A process's start time (/proc/<pid>/stat field 22), or nullopt when it is gone.
  using StartTimeReader = std::function<std::optional<uint64_t>(uint32_t tgid)>;

  // `kernel` may be null (no capture: tests, or the map could not be opened); `max_processes`
  // bounds the decisions held and the processes written to the kernel map.
  ProcessExclusion(const ProcessSelector* selector, ExcludedProcessMap* kernel,
                   size_t max_processes, prometheus::Registry& registry,
                   StartTimeReader start_time = ReadStartTime);

  // Once the capture is loaded: from then on final exclusions are written to it. `kernel` must
  // outlive this object.
  void AttachKernel(ExcludedProcessMap* kernel) { kernel_ = kernel; }

  // Told of every exclusion verdict (kExcludedByRule, with the selector's reason) when it is
  // taken; `status` must outlive this object.
  void set_status_sink(ProcessStatusSink* status) { status_ = status; }

  // The verdict for this process (taken again when `resource` is another object than last time).
  const SelectionDecision& Decide(uint32_t tgid,
                                  const std::shared_ptr<const ProcessResource>& resource);
  // Decide, and count the record as dropped when the process is excluded.
  bool DropRecord(uint32_t tgid, const std::shared_ptr<const ProcessResource>& resource);

  // Forgets connections of newly excluded processes; sweeps dead processes every 2 s.
  void Housekeeping(uint64_t now_ns);

  size_t excluded_in_kernel() const { return in_kernel_.size(); }

  static std::optional<uint64_t> ReadStartTime(uint32_t tgid);

 private:
  struct Decided {
    std::shared_ptr<const ProcessResource> resource;  // held: the pointer identifies it
    SelectionDecision decision;
  };

  void Apply(uint32_t tgid, const SelectionDecision& decision);
  void Sweep();

  const ProcessSelector* selector_;
  ExcludedProcessMap* kernel_;
  ProcessStatusSink* status_ = DiscardProcessStatus::Instance();
  size_t max_processes_;
  StartTimeReader start_time_;
  absl::flat_hash_map<uint32_t, Decided> decided_;
  // What the kernel map holds (as far as we wrote it): tgid → start time when excluded.
  absl::flat_hash_map<uint32_t, uint64_t> in_kernel_;
  absl::flat_hash_set<uint32_t> to_forget_;  // excluded since the last connection walk
  uint64_t next_sweep_ns_ = 0;

  prometheus::Counter& records_dropped_;
  prometheus::Counter& kernel_map_full_;
  prometheus::Counter& connections_forgotten_;
  prometheus::Gauge& excluded_processes_;
};

}  // namespace loupe
