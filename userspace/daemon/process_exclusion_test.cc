#include "userspace/daemon/process_exclusion.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace loupe {
namespace {

// The kernel's map of excluded processes, in memory.
class FakeExcludedMap : public ExcludedProcessMap {
 public:
  bool Add(uint32_t tgid) override {
    ++adds;
    if (tgids.size() >= capacity && !tgids.contains(tgid)) return false;
    tgids.insert(tgid);
    return true;
  }
  void Remove(uint32_t tgid) override { tgids.erase(tgid); }
  uint64_t ForgetConnections(const absl::flat_hash_set<uint32_t>& which) override {
    walks.push_back(std::set<uint32_t>(which.begin(), which.end()));
    return which.size() * 2;  // as if each had two connections tracked
  }

  std::set<uint32_t> tgids;
  size_t capacity = 1000;
  int adds = 0;
  std::vector<std::set<uint32_t>> walks;
};

double Value(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const auto& metric = family.metric[0];
    return family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                        : metric.counter.value;
  }
  return -1;
}

std::shared_ptr<const ProcessResource> Process(std::string exe, std::string container_id = "",
                                               std::string ns = "") {
  auto process = std::make_shared<ProcessResource>();
  process->executable_name = std::move(exe);
  process->container_id = std::move(container_id);
  if (!ns.empty()) {
    auto pod = std::make_shared<KubernetesIdentity>();
    pod->namespace_name = std::move(ns);
    pod->container_id = process->container_id;
    process->kubernetes = std::move(pod);
  }
  return process;
}

class ProcessExclusionTest : public ::testing::Test {
 protected:
  ProcessExclusionTest()
      : selector_(SelectionConfig{}, {"sshd"}, /*kubernetes_identities=*/true),
        exclusion_(&selector_, &kernel_, 8, registry_,
                   [this](uint32_t tgid) -> std::optional<uint64_t> {
                     auto it = started_.find(tgid);
                     if (it == started_.end()) return std::nullopt;
                     return it->second;
                   }) {
    for (uint32_t tgid = 1; tgid < 100; ++tgid) started_[tgid] = 1000 + tgid;
  }

  prometheus::Registry registry_;
  FakeExcludedMap kernel_;
  std::map<uint32_t, uint64_t> started_;  // live processes and their start times
  ProcessSelector selector_;
  ProcessExclusion exclusion_;
};

TEST_F(ProcessExclusionTest, AnExcludedProcessGoesToTheKernelOnceAndItsConnectionsAreForgotten) {
  const auto sshd = Process("sshd");
  EXPECT_TRUE(exclusion_.DropRecord(10, sshd));
  EXPECT_TRUE(exclusion_.DropRecord(10, sshd));
  EXPECT_FALSE(exclusion_.DropRecord(11, Process("nginx")));
  EXPECT_EQ(kernel_.tgids, std::set<uint32_t>{10});
  EXPECT_EQ(kernel_.adds, 1) << "decided once per resource";
  EXPECT_EQ(Value(registry_, "loupe_selection_records_dropped_total"), 2);

  exclusion_.Housekeeping(1);
  ASSERT_EQ(kernel_.walks.size(), 1u);
  EXPECT_EQ(kernel_.walks[0], std::set<uint32_t>{10});
  EXPECT_EQ(Value(registry_, "loupe_selection_connections_forgotten_total"), 2);
  EXPECT_EQ(Value(registry_, "loupe_selection_excluded_processes"), 1);
  exclusion_.Housekeeping(2);
  EXPECT_EQ(kernel_.walks.size(), 1u) << "no walk without a newly excluded process";
}

// The /status table hears of each verdict that excludes, with the selector's reason.
class RecordingStatus : public ProcessStatusSink {
 public:
  void OnProcessResolved(const std::shared_ptr<const ProcessResource>&) override {}
  void OnExchangeCounted(const std::shared_ptr<const ProcessResource>&,
                         std::string_view) override {}
  void OnGap(uint32_t tgid, std::string_view, InstrumentationGap gap,
             std::string_view detail) override {
    gaps.push_back({tgid, std::string(InstrumentationGapName(gap)), std::string(detail)});
  }
  struct Gap {
    uint32_t tgid;
    std::string gap;
    std::string detail;
  };
  std::vector<Gap> gaps;
};

TEST_F(ProcessExclusionTest, StatusIsToldOfEachExclusionVerdictOnce) {
  RecordingStatus status;
  exclusion_.set_status_sink(&status);
  const auto sshd = Process("sshd");
  exclusion_.DropRecord(60, sshd);
  exclusion_.DropRecord(60, sshd);
  exclusion_.DropRecord(61, Process("nginx"));
  ASSERT_EQ(status.gaps.size(), 1u);
  EXPECT_EQ(status.gaps[0].tgid, 60u);
  EXPECT_EQ(status.gaps[0].gap, "excluded_by_rule");
  EXPECT_EQ(status.gaps[0].detail, "excluded by exclude_processes: executable \"sshd\"");
}

TEST_F(ProcessExclusionTest, AContainerAwaitingItsPodIsOnlyDroppedOrKeptInUserspace) {
  // Default rules exclude kube-system: until the pod is known the process is kept, and nothing
  // goes to the kernel.
  EXPECT_FALSE(exclusion_.DropRecord(20, Process("coredns", "c0ffee")));
  EXPECT_TRUE(kernel_.tgids.empty());
  // The pod identity arrives (a new resource object): decided again, now for good.
  EXPECT_TRUE(exclusion_.DropRecord(20, Process("coredns", "c0ffee", "kube-system")));
  EXPECT_EQ(kernel_.tgids, std::set<uint32_t>{20});
}

TEST_F(ProcessExclusionTest, ANewVerdictThatInstrumentsRemovesTheKernelEntry) {
  EXPECT_TRUE(exclusion_.DropRecord(30, Process("sshd")));
  EXPECT_EQ(kernel_.tgids.count(30), 1u);
  EXPECT_FALSE(exclusion_.DropRecord(30, Process("nginx"))) << "pid 30 is another process now";
  EXPECT_TRUE(kernel_.tgids.empty());
}

TEST_F(ProcessExclusionTest, TheSweepRemovesExitedAndReusedPids) {
  exclusion_.Decide(40, Process("sshd"));
  exclusion_.Decide(41, Process("sshd"));
  exclusion_.Decide(42, Process("sshd"));
  started_.erase(40);       // exited
  started_[41] = 999'999;   // pid reused by another process
  exclusion_.Housekeeping(1);
  EXPECT_EQ(kernel_.tgids, std::set<uint32_t>{42});
  EXPECT_EQ(exclusion_.excluded_in_kernel(), 1u);
}

TEST_F(ProcessExclusionTest, AProcessAlreadyGoneIsNotWrittenToTheKernel) {
  EXPECT_TRUE(exclusion_.DropRecord(500, Process("sshd")));  // not in started_
  EXPECT_TRUE(kernel_.tgids.empty());
}

TEST_F(ProcessExclusionTest, AFullKernelMapIsCountedAndRecordsAreStillDropped) {
  kernel_.capacity = 1;
  EXPECT_TRUE(exclusion_.DropRecord(50, Process("sshd")));
  EXPECT_TRUE(exclusion_.DropRecord(51, Process("sshd")));
  EXPECT_EQ(kernel_.tgids, std::set<uint32_t>{50});
  EXPECT_EQ(Value(registry_, "loupe_selection_kernel_map_full_total"), 1);
  EXPECT_EQ(Value(registry_, "loupe_selection_records_dropped_total"), 2);
}

TEST_F(ProcessExclusionTest, DecisionsStayBounded) {
  for (uint32_t tgid = 1; tgid <= 20; ++tgid) exclusion_.Decide(tgid, Process("nginx"));
  // Bounded at 8 decisions: the cache was cleared on the way, verdicts are taken again.
  EXPECT_FALSE(exclusion_.DropRecord(1, Process("nginx")));
  EXPECT_TRUE(kernel_.tgids.empty());
}

}  // namespace
}  // namespace loupe
