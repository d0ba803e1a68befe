// Owns the capture BPF object: opens, sizes, loads, attaches, and on destruction detaches and
// frees everything. Created through Create(); a half-built object never escapes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/shared/loupe_abi.h"
#include "userspace/loader/kernel_features.h"

struct capture;  // generated skeleton (build/bpf/capture.skel.h)
struct bpf_link;
struct bpf_program;
struct bpf_object;

namespace loupe {

struct CaptureOptions {
  uint32_t max_connections = 16384;
  // Total ring-buffer budget, split into one ring per online CPU (each a power of two of at
  // least 256 KiB, so hosts with many CPUs may use more).
  uint32_t ringbuf_mib = 16;
  uint32_t self_tgid = 0;  // never capture the agent itself
  // Off: connections that are the agent's own traffic seen from the other end are not tracked
  // (bpf/self_traffic.bpf.h): accepted from one of the agent's sockets when `self_exports` (it
  // connects out), or made to `self_listen_port` (the admin port) on a local address.
  bool observe_self = false;
  bool self_exports = false;
  uint16_t self_listen_port = 0;
  uint64_t wakeup_bytes = 512 * 1024;
  // Kernel RED aggregation (bpf/red_aggregate.bpf.h): learned HTTP/1 keys are counted in kernel
  // maps with room for `red_keys` keys; their exchanges end after `red_timeout_ns` at the latest.
  bool kernel_red = false;
  uint32_t red_keys = 1024;
  uint64_t red_timeout_ns = 2'000'000'000;
  // Process selection (bpf/selection.bpf.h): room for this many excluded processes, and the
  // server ports decided in the kernel alone.
  uint32_t max_excluded_processes = 4096;
  std::vector<uint16_t> include_ports;
  std::vector<uint16_t> exclude_ports;
};

enum class HookKind { kTpBtf, kRawTracepoint };
const char* HookKindName(HookKind kind);

// How kernel-aggregated exchanges of quiet connections are counted (--metrics_only).
enum class RedTimeoutPass {
  kMapElemIterator,   // read(2) of an iter/bpf_map_elem link over `conns`
  kTriggeredMapWalk,  // BPF_PROG_TEST_RUN of a program that walks `conns`
};
const char* RedTimeoutPassName(RedTimeoutPass pass);
// The pass the capture uses on a kernel with `features`: the iterator where it loads, else the
// triggered walk; none when both are refused (--metrics_only cannot start).
std::optional<RedTimeoutPass> ChooseRedTimeoutPass(const KernelFeatures& features);

struct ProgramStats {
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;  // zero unless kernel.bpf_stats_enabled
  // Runs the kernel skipped because the program was already running on that CPU: syscalls the
  // capture never saw.
  uint64_t recursion_misses = 0;
};

class CaptureProbes {
 public:
  // Loads only programs `features` says this kernel accepts: the faster syscall hook, the
  // process-exit probe if it loads, and with kernel_red the timeout pass that loads.
  static absl::StatusOr<std::unique_ptr<CaptureProbes>> Create(const CaptureOptions& options,
                                                               const KernelFeatures& features);
  ~CaptureProbes();
  CaptureProbes(const CaptureProbes&) = delete;
  CaptureProbes& operator=(const CaptureProbes&) = delete;

  HookKind hook() const { return hook_; }
  bool process_exit_probe() const { return programs_.size() > 1; }
  RedTimeoutPass red_timeout_pass() const { return red_pass_; }
  size_t attached_programs() const { return links_.size(); }
  // One ring buffer per online CPU; the object keeps ownership of the descriptors.
  const std::vector<int>& ring_fds() const { return ring_fds_; }
  uint64_t ring_bytes() const { return ring_bytes_; }  // each ring's size
  int conns_fd() const;
  // The excluded processes (bpf/selection.bpf.h), written through loader/selection_maps.h.
  int excluded_tgids_fd() const;
  // Kernel RED aggregation maps; -1 unless CaptureOptions::kernel_red.
  int red_keys_fd() const;
  int red_stats_fd() const;
  // Counts the kernel-aggregated exchanges of quiet connections (one pass over the connection
  // map), or with `all` every one still in flight. A no-op unless CaptureOptions::kernel_red.
  absl::Status RunRedTimeouts(bool all = false) const;
  // Detaches the capture programs but keeps the maps readable (shutdown).
  void DetachPrograms();
  // The loaded object, for attachers of programs this class does not attach itself (the TLS
  // uprobes in bpf/tls.bpf.h are loaded here and attached per library by userspace/tls/).
  bpf_object* object() const;

  // Sums the per-CPU counters (indexed by enum loupe_counter).
  std::array<uint64_t, LOUPE_CNT_MAX> ReadCounters() const;
  // Summed over the attached programs.
  ProgramStats ReadProgramStats() const;

 private:
  CaptureProbes(capture* skel, std::vector<bpf_program*> programs, std::vector<bpf_link*> links,
                HookKind hook, std::vector<int> ring_fds, uint64_t ring_bytes, bool kernel_red,
                RedTimeoutPass red_pass, bpf_link* red_iterator)
      : skel_(skel),
        programs_(std::move(programs)),
        links_(std::move(links)),
        hook_(hook),
        ring_fds_(std::move(ring_fds)),
        ring_bytes_(ring_bytes),
        kernel_red_(kernel_red),
        red_pass_(red_pass),
        red_iterator_(red_iterator) {}

  capture* skel_;
  std::vector<bpf_program*> programs_;  // attached: sys_exit, then sched_process_exit if loaded
  std::vector<bpf_link*> links_;        // one per program
  HookKind hook_;
  std::vector<int> ring_fds_;
  uint64_t ring_bytes_;
  bool kernel_red_;
  RedTimeoutPass red_pass_;
  bpf_link* red_iterator_;  // null unless kernel_red_ with the iterator pass
};

}  // namespace loupe
