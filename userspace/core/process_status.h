// What the agent knows about each process it has met, told by the parts that know it (issue 15,
// `/status` and `loupe ps`). The pipeline says who a process is and what it exchanged; process
// selection, TLS, the start-up learner and the kernel feature report say why part or all of its
// traffic is not instrumented. They all write through this interface and include nothing of one
// another; the table behind it (admin/process_table.h) is read by the admin endpoint.
//
// Every method is called on the event thread and must not block it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "userspace/core/resource.h"

namespace loupe {

// Why some or all of a process's traffic is not instrumented. Values are stable: /status names
// them with InstrumentationGapName.
enum class InstrumentationGap : uint8_t {
  // A selection rule excludes the process: none of its traffic is captured or counted.
  kExcludedByRule = 0,
  // It speaks TLS without libssl (Go, JVM, static builds): its HTTPS is counted, not parsed.
  kTlsNotVisible = 1,
  // It serves sockets its parent accepted (PostgreSQL backends, forking servers): the kernel
  // tracks a connection in the process that accepted it, so the child's traffic is not seen.
  kForkedChild = 2,
  // Connections open before the agent started: their data is skipped until a clean request
  // boundary, so an exchange in flight at start is not reported.
  kPreexistingSkipped = 3,
  // A kernel feature the capture needs for part of its traffic was refused (the detail names it).
  kKernelFeatureMissing = 4,
};
inline constexpr int kInstrumentationGapCount = 5;

constexpr std::string_view InstrumentationGapName(InstrumentationGap gap) {
  switch (gap) {
    case InstrumentationGap::kExcludedByRule: return "excluded_by_rule";
    case InstrumentationGap::kTlsNotVisible: return "tls_not_visible";
    case InstrumentationGap::kForkedChild: return "forked_child";
    case InstrumentationGap::kPreexistingSkipped: return "preexisting_connections_skipped";
    case InstrumentationGap::kKernelFeatureMissing: return "kernel_feature_missing";
  }
  return "unknown";
}

class ProcessStatusSink {
 public:
  virtual ~ProcessStatusSink() = default;

  // Who the process is (its resource, with its Kubernetes identity when known). Called when its
  // first connection is classified and again whenever the resource may have changed; a resource
  // with another service_instance_id under the same pid is a new process (pid reuse).
  virtual void OnProcessResolved(const std::shared_ptr<const ProcessResource>& resource) = 0;

  // One record of the process was counted, under `protocol` (the registry's protocol name).
  virtual void OnExchangeCounted(const std::shared_ptr<const ProcessResource>& resource,
                                 std::string_view protocol) = 0;

  // Part or all of `tgid`'s traffic is not instrumented, for `gap`. `comm` names the process
  // when its resource is not known yet; `detail` says which rule, library or feature (the
  // receiver bounds its length). Reporting the same gap again adds to its count.
  virtual void OnGap(uint32_t tgid, std::string_view comm, InstrumentationGap gap,
                     std::string_view detail) = 0;
};

// Discards everything: the sink of parts built without a status table (tests, tools).
class DiscardProcessStatus final : public ProcessStatusSink {
 public:
  static DiscardProcessStatus* Instance() {
    static DiscardProcessStatus instance;
    return &instance;
  }
  void OnProcessResolved(const std::shared_ptr<const ProcessResource>&) override {}
  void OnExchangeCounted(const std::shared_ptr<const ProcessResource>&,
                         std::string_view) override {}
  void OnGap(uint32_t, std::string_view, InstrumentationGap, std::string_view) override {}
};

}  // namespace loupe
