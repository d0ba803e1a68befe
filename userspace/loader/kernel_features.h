// What this kernel, with this process's capabilities, lets the agent do — asked feature by
// feature at start. Each optional feature is probed by loading and attaching one tiny program of
// bpf/probe.bpf.c on its own, so one refusal never hides another and every refusal carries its
// own errno (kernels of one version differ: see bpf/probe.bpf.c).
//
// The capture loader chooses its programs from the result, the agent reports it (one log line,
// loupe_kernel_feature_available, /health/ready's detail) and `loupe doctor` prints it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe {

enum class KernelFeature {
  kTpBtf,             // BTF-typed tracepoints: the cheapest syscall hook
  kRawTracepoint,     // raw tracepoints: the syscall hook every BPF kernel has
  kProcessExitProbe,  // sched_process_exit with bpf_loop: connections of exiting processes
  kMapElemIterator,   // iter/bpf_map_elem: the --metrics_only timeout pass
  kTriggeredMapWalk,  // bpf_for_each_map_elem run through BPF_PROG_TEST_RUN: its fallback
  kUprobes,           // libssl uprobes: HTTPS plaintext
  kFentry,            // fentry/fexit: not used yet; reported for the cheaper hooks it allows
  kSockOps,           // sock_ops on a cgroup: outgoing trace-context injection (planned)
  kSkMsg,             // sk_msg on a socket map: outgoing trace-context injection (planned)
};
inline constexpr size_t kKernelFeatureCount = 9;

// Stable names: metric labels, `loupe doctor`, --disable_features.
std::string_view KernelFeatureName(KernelFeature feature);
// Parses a name as printed by KernelFeatureName.
absl::StatusOr<KernelFeature> ParseKernelFeature(std::string_view name);
std::vector<KernelFeature> AllKernelFeatures();

// The fixed text `loupe doctor` prints for a feature.
struct KernelFeatureInfo {
  const char* used_for;      // what Loupe does with it
  const char* instead;       // what Loupe does when it is missing
  const char* capabilities;  // what it needs on current kernels, e.g. "CAP_BPF, CAP_PERFMON"
  const char* since;         // the first Linux version with it, e.g. "5.9"
};
const KernelFeatureInfo& InfoFor(KernelFeature feature);

enum class ProbeOutcome {
  kAvailable,
  kRefused,   // the kernel said no: `error` and `step` say where
  kDisabled,  // switched off by --disable_features; not probed
};

struct FeatureProbeResult {
  KernelFeature feature = KernelFeature::kTpBtf;
  ProbeOutcome outcome = ProbeOutcome::kRefused;
  int error = 0;     // errno of the refusal
  std::string step;  // "open", "load", "attach" or "run": where it was refused
  std::string note;  // anything else worth saying (e.g. an attach that could not be tried)

  bool available() const { return outcome == ProbeOutcome::kAvailable; }
  // "available", "disabled", or "refused at load: Operation not permitted (EPERM)".
  std::string Describe() const;
  // The label value of loupe_kernel_feature_available: "ok", "disabled" or the errno's name.
  std::string Reason() const;
};

// Capabilities the agent holds that decide what a refusal means.
struct HeldCapabilities {
  bool bpf = false;
  bool perfmon = false;
  bool sys_admin = false;
  bool net_admin = false;
  bool sys_ptrace = false;
  bool dac_read_search = false;
  bool sys_resource = false;
};
HeldCapabilities ReadHeldCapabilities();

class KernelFeatures {
 public:
  // Probes every feature not in `disabled`. Takes tens of milliseconds; needs the capabilities
  // the agent runs with (it never fails: a refusal is a result).
  static KernelFeatures Probe(const std::vector<KernelFeature>& disabled);
  // For tests and for callers that already know.
  static KernelFeatures FromResults(std::vector<FeatureProbeResult> results,
                                    HeldCapabilities capabilities);

  bool available(KernelFeature feature) const { return result(feature).available(); }
  const FeatureProbeResult& result(KernelFeature feature) const {
    return results_[static_cast<size_t>(feature)];
  }
  const std::array<FeatureProbeResult, kKernelFeatureCount>& results() const { return results_; }
  const HeldCapabilities& capabilities() const { return capabilities_; }

  // What to change to get a refused feature, judged from its errno and the capabilities held.
  std::string FixFor(KernelFeature feature) const;
  // Whether the agent can capture at all (one of the two syscall hooks loads).
  bool CanCapture() const {
    return available(KernelFeature::kTpBtf) || available(KernelFeature::kRawTracepoint);
  }

 private:
  std::array<FeatureProbeResult, kKernelFeatureCount> results_{};
  HeldCapabilities capabilities_;
};

// Kernel BTF is readable at `path` (CO-RE needs it): a clear error naming the file otherwise.
absl::Status CheckKernelBtf(const std::string& path = "/sys/kernel/btf/vmlinux");
// The capabilities without which nothing loads (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN):
// an error naming the missing ones, whatever the uid.
absl::Status CheckCoreCapabilities(const HeldCapabilities& held);

// errno's symbolic name ("EPERM"), or "E<number>" for one this table does not know.
std::string ErrnoName(int error);
// "Operation not permitted (EPERM)": what error messages and `loupe doctor` print.
std::string ErrnoText(int error);

}  // namespace loupe
