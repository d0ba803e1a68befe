#include "userspace/admin/process_table.h"

#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kSec = 1'000'000'000;

std::shared_ptr<const ProcessResource> Resource(int64_t pid, std::string service,
                                                std::string instance = "") {
  auto resource = std::make_shared<ProcessResource>();
  resource->pid = pid;
  resource->service_name = std::move(service);
  resource->service_instance_id = instance.empty() ? "host:" + std::to_string(pid) : instance;
  resource->executable_name = "python3";
  return resource;
}

class ProcessTableTest : public ::testing::Test {
 protected:
  ProcessTable MakeTable(ProcessTableOptions options = {}) {
    return ProcessTable(options, [this](uint32_t pid) { return !exited_.contains(pid); });
  }
  absl::flat_hash_set<uint32_t> exited_;
};

TEST_F(ProcessTableTest, CountsExchangesAndProtocolsPerProcess) {
  ProcessTable table = MakeTable();
  auto api = Resource(10, "api");
  table.OnProcessResolved(api);
  table.OnExchangeCounted(api, "http1");
  table.OnExchangeCounted(api, "postgresql");
  table.OnExchangeCounted(api, "http1");
  table.OnExchangeCounted(Resource(7, "worker"), "redis");
  table.Publish();

  auto snapshot = table.Snapshot();
  ASSERT_EQ(snapshot->processes.size(), 2u);
  const ProcessStatusRow& worker = snapshot->processes[0];  // by pid
  EXPECT_EQ(worker.pid, 7u);
  EXPECT_EQ(worker.exchanges, 1u);
  const ProcessStatusRow& row = snapshot->processes[1];
  EXPECT_EQ(row.resource->service_name, "api");
  EXPECT_EQ(row.exchanges, 3u);
  EXPECT_THAT(row.protocols, ElementsAre("http1", "postgresql"));
  EXPECT_EQ(InstrumentedOf(row), Instrumented::kYes);
}

TEST_F(ProcessTableTest, ReadersSeeOnlyWhatWasPublished) {
  ProcessTable table = MakeTable();
  auto before = table.Snapshot();
  table.OnExchangeCounted(Resource(10, "api"), "http1");
  EXPECT_TRUE(table.Snapshot()->processes.empty()) << "the event thread's table is not shared";
  table.Tick(1 * kSec);
  auto after = table.Snapshot();
  ASSERT_EQ(after->processes.size(), 1u);
  EXPECT_TRUE(before->processes.empty()) << "a snapshot held by a reader never changes";

  // Within the publish interval, changes wait for the next publication.
  table.OnExchangeCounted(Resource(10, "api"), "http1");
  table.Tick(1 * kSec + 500'000'000);
  EXPECT_EQ(table.Snapshot()->processes[0].exchanges, 1u);
  table.Tick(2 * kSec);
  EXPECT_EQ(table.Snapshot()->processes[0].exchanges, 2u);
}

TEST_F(ProcessTableTest, GapsSayWhyAndHowOften) {
  ProcessTable table = MakeTable();
  table.OnGap(20, "server", InstrumentationGap::kTlsNotVisible, "Go binary (crypto/tls)");
  table.OnGap(20, "server", InstrumentationGap::kTlsNotVisible, "a later detail is not kept");
  table.OnGap(21, "psql", InstrumentationGap::kPreexistingSkipped, "open before start");
  table.OnExchangeCounted(Resource(21, "psql"), "postgresql");
  table.OnGap(22, "cron", InstrumentationGap::kExcludedByRule, "namespace kube-system");
  table.OnExchangeCounted(Resource(22, "cron"), "http1");
  table.Publish();

  auto snapshot = table.Snapshot();
  ASSERT_EQ(snapshot->processes.size(), 3u);
  const ProcessStatusRow& tls = snapshot->processes[0];
  EXPECT_EQ(tls.comm, "server");
  EXPECT_EQ(tls.resource, nullptr);
  EXPECT_EQ(tls.gap(InstrumentationGap::kTlsNotVisible).count, 2u);
  EXPECT_EQ(tls.gap(InstrumentationGap::kTlsNotVisible).detail, "Go binary (crypto/tls)");
  EXPECT_EQ(InstrumentedOf(tls), Instrumented::kPartly) << "its plaintext would still be seen";
  EXPECT_EQ(InstrumentedOf(snapshot->processes[1]), Instrumented::kPartly);
  EXPECT_EQ(InstrumentedOf(snapshot->processes[2]), Instrumented::kNo) << "excluded wins";
}

TEST_F(ProcessTableTest, ExitedProcessesGoAtTheNextExitCheck) {
  ProcessTableOptions options;
  options.exit_check_interval_ns = 2 * kSec;
  ProcessTable table = MakeTable(options);
  table.OnExchangeCounted(Resource(10, "api"), "http1");
  table.OnGap(11, "go", InstrumentationGap::kTlsNotVisible, "Go binary");
  table.Tick(1 * kSec);
  exited_.insert(11);
  table.Tick(2 * kSec);
  EXPECT_EQ(table.size(), 2u) << "not checked before the interval";
  table.Tick(3 * kSec);
  EXPECT_EQ(table.size(), 1u);
  table.Tick(4 * kSec);
  ASSERT_EQ(table.Snapshot()->processes.size(), 1u);
  EXPECT_EQ(table.Snapshot()->processes[0].pid, 10u);
}

TEST_F(ProcessTableTest, AReusedPidStartsAFreshRow) {
  ProcessTable table = MakeTable();
  table.OnExchangeCounted(Resource(10, "old", "host:10:100"), "http1");
  table.OnGap(10, "old", InstrumentationGap::kPreexistingSkipped, "open before start");
  table.OnExchangeCounted(Resource(10, "new", "host:10:999"), "redis");
  table.Publish();
  const ProcessStatusRow& row = table.Snapshot()->processes.at(0);
  EXPECT_EQ(row.resource->service_name, "new");
  EXPECT_EQ(row.exchanges, 1u);
  EXPECT_THAT(row.protocols, ElementsAre("redis"));
  EXPECT_FALSE(row.has_any_gap());
}

TEST_F(ProcessTableTest, ANewerResourceOfTheSameProcessReplacesTheOld) {
  ProcessTable table = MakeTable();
  table.OnExchangeCounted(Resource(10, "python3", "host:10:100"), "http1");
  auto named = std::make_shared<ProcessResource>(*Resource(10, "checkout", "host:10:100"));
  auto identity = std::make_shared<KubernetesIdentity>();
  identity->namespace_name = "shop";
  identity->pod_name = "checkout-7d9f-x";
  identity->workload = {"Deployment", "checkout"};
  named->kubernetes = identity;
  table.OnExchangeCounted(named, "http1");
  table.Publish();
  const ProcessStatusRow& row = table.Snapshot()->processes.at(0);
  EXPECT_EQ(row.exchanges, 2u) << "the pod watch naming a process keeps its counts";
  EXPECT_EQ(row.resource->service_name, "checkout");
  const std::string json = ProcessStatusJson(*table.Snapshot());
  EXPECT_THAT(json, HasSubstr(R"("kubernetes":{"namespace":"shop","pod":"checkout-7d9f-x",)"));
  EXPECT_THAT(json, HasSubstr(R"("workload_kind":"Deployment","workload_name":"checkout"})"));
}

TEST_F(ProcessTableTest, BoundedRowsProtocolsAndDetails) {
  ProcessTableOptions options;
  options.max_processes = 2;
  options.max_protocols = 2;
  options.max_detail_bytes = 8;
  ProcessTable table = MakeTable(options);
  auto api = Resource(1, "api");
  for (const char* protocol : {"http1", "redis", "mysql"}) table.OnExchangeCounted(api, protocol);
  table.OnGap(2, "a-very-long-comm", InstrumentationGap::kKernelFeatureMissing,
              "uprobes refused: HTTPS counted, not parsed");
  table.OnExchangeCounted(Resource(3, "refused"), "http1");
  table.OnGap(4, "x", InstrumentationGap::kTlsNotVisible, "JVM");
  table.OnExchangeCounted(api, "http1");  // known rows still count
  table.Publish();

  auto snapshot = table.Snapshot();
  ASSERT_EQ(snapshot->processes.size(), 2u);
  EXPECT_EQ(snapshot->refused, 2u);
  EXPECT_EQ(snapshot->max_processes, 2u);
  EXPECT_THAT(snapshot->processes[0].protocols, ElementsAre("http1", "redis"));
  EXPECT_EQ(snapshot->processes[0].exchanges, 4u);
  EXPECT_EQ(snapshot->processes[1].comm, "a-very-l");
  EXPECT_EQ(snapshot->processes[1].gap(InstrumentationGap::kKernelFeatureMissing).detail,
            "uprobes ");
}

TEST_F(ProcessTableTest, JsonNamesEveryFieldAndEscapesWhatProcessesChose) {
  ProcessTable table = MakeTable();
  table.OnExchangeCounted(Resource(5, "we\"ird\n"), "http1");
  table.OnGap(5, "x", InstrumentationGap::kPreexistingSkipped, "2 connections");
  table.OnGap(6, "java", InstrumentationGap::kTlsNotVisible, "JVM");
  table.Publish();
  EXPECT_EQ(ProcessStatusJson(*table.Snapshot()),
            R"({"processes":[{"pid":5,"service_name":"we\"ird\n","service_namespace":"",)"
            R"("service_instance_id":"host:5",)"
            R"("executable":"python3","comm":"x","container_id":"","protocols":["http1"],)"
            R"("exchanges":1,"instrumented":"partly","not_instrumented":[{"reason":)"
            R"("preexisting_connections_skipped","detail":"2 connections","count":1}]},)"
            R"({"pid":6,"service_name":"","service_namespace":"","service_instance_id":"",)"
            R"("executable":"","comm":"java",)"
            R"("container_id":"","protocols":[],"exchanges":0,"instrumented":"partly",)"
            R"("not_instrumented":[{"reason":"tls_not_visible","detail":"JVM","count":1}]}],)"
            R"("max_processes":4096,"refused":0})"
            "\n");
}

}  // namespace
}  // namespace loupe
