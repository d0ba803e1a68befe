#include "userspace/daemon/process_exclusion.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "userspace/core/small_file.h"
#include "userspace/logging/log.h"
#include "userspace/metrics/metric_registration.h"

namespace loupe {
namespace {

constexpr uint64_t kSweepIntervalNs = 2'000'000'000;

}  // namespace

std::optional<uint64_t> ProcessExclusion::ReadStartTime(uint32_t tgid) {
  const std::string stat = ReadSmallFile(absl::StrCat("/proc/", tgid, "/stat"), 4096);
  const size_t close = stat.rfind(')');  // comm may hold spaces and parentheses
  if (close == std::string::npos || close + 2 > stat.size()) return std::nullopt;
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  uint64_t ticks = 0;
  if (fields.size() <= 19 || !absl::SimpleAtoi(fields[19], &ticks)) return std::nullopt;
  return ticks;
}

ProcessExclusion::ProcessExclusion(const ProcessSelector* selector, ExcludedProcessMap* kernel,
                                   size_t max_processes, prometheus::Registry& registry,
                                   StartTimeReader start_time)
    : selector_(selector),
      kernel_(kernel),
      max_processes_(max_processes),
      start_time_(std::move(start_time)),
      records_dropped_(AddCounter(
          registry, "loupe_selection_records_dropped_total",
          "Records of excluded processes dropped in userspace: made before the kernel knew the "
          "process was excluded (its first connection), or while its pod identity was awaited")),
      kernel_map_full_(AddCounter(
          registry, "loupe_selection_kernel_map_full_total",
          "Excluded processes the kernel's map had no room for: their records are dropped in "
          "userspace instead")),
      connections_forgotten_(AddCounter(
          registry, "loupe_selection_connections_forgotten_total",
          "Tracked connections of processes excluded after they opened, deleted from the "
          "kernel's connection table")),
      excluded_processes_(AddGauge(registry, "loupe_selection_excluded_processes",
                                   "Processes the kernel skips because the selection excludes "
                                   "them")) {}

const SelectionDecision& ProcessExclusion::Decide(
    uint32_t tgid, const std::shared_ptr<const ProcessResource>& resource) {
  auto found = decided_.find(tgid);
  if (found != decided_.end() && found->second.resource == resource) {
    return found->second.decision;
  }
  if (found == decided_.end() && decided_.size() >= max_processes_) {
    // Decisions are cheap to take again; what the kernel holds is kept in in_kernel_.
    decided_.clear();
  }
  Decided& entry = decided_[tgid];
  entry.resource = resource;
  entry.decision = selector_->Decide(*resource);
  if (!entry.decision.instrumented) {
    status_->OnGap(tgid, resource->executable_name, InstrumentationGap::kExcludedByRule,
                   entry.decision.reason);
  }
  Apply(tgid, entry.decision);
  return entry.decision;
}

void ProcessExclusion::Apply(uint32_t tgid, const SelectionDecision& decision) {
  if (kernel_ == nullptr) return;
  const bool in_kernel = in_kernel_.contains(tgid);
  if (decision.instrumented && in_kernel) {
    kernel_->Remove(tgid);
    in_kernel_.erase(tgid);
  }
  if (decision.instrumented || !decision.final) return;
  std::optional<uint64_t> started = start_time_(tgid);
  if (!started.has_value()) return;  // gone already: nothing more will come from it
  if (in_kernel_.size() >= max_processes_ && !in_kernel) {
    kernel_map_full_.Increment();
    return;
  }
  if (!kernel_->Add(tgid)) {
    kernel_map_full_.Increment();
    return;
  }
  if (!in_kernel) {
    log::Debug("process excluded", {{"pid", tgid}, {"reason", decision.reason}});
  }
  in_kernel_[tgid] = *started;
  to_forget_.insert(tgid);
}

bool ProcessExclusion::DropRecord(uint32_t tgid,
                                  const std::shared_ptr<const ProcessResource>& resource) {
  const SelectionDecision& decision = Decide(tgid, resource);
  if (decision.instrumented) return false;
  records_dropped_.Increment();
  return true;
}

void ProcessExclusion::Housekeeping(uint64_t now_ns) {
  if (kernel_ != nullptr && !to_forget_.empty()) {
    connections_forgotten_.Increment(static_cast<double>(kernel_->ForgetConnections(to_forget_)));
    to_forget_.clear();
  }
  if (now_ns >= next_sweep_ns_) {
    next_sweep_ns_ = now_ns + kSweepIntervalNs;
    Sweep();
  }
  excluded_processes_.Set(static_cast<double>(in_kernel_.size()));
}

// Where the exit probe runs, the kernel has already deleted exited processes; elsewhere this is
// what keeps a reused pid from inheriting an exclusion for long.
void ProcessExclusion::Sweep() {
  std::vector<uint32_t> gone;
  for (const auto& [tgid, started] : in_kernel_) {
    if (start_time_(tgid) != std::optional<uint64_t>(started)) gone.push_back(tgid);
  }
  for (uint32_t tgid : gone) {
    if (kernel_ != nullptr) kernel_->Remove(tgid);
    in_kernel_.erase(tgid);
    decided_.erase(tgid);
  }
}

}  // namespace loupe
