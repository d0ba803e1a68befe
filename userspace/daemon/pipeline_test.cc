#include "userspace/daemon/pipeline.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "userspace/core/clock.h"
#include "userspace/metrics/agent_metrics.h"

namespace loupe {
namespace {

using Labels = std::map<std::string, std::string>;

// Observations in http_server_request_duration_seconds for one service.
uint64_t ServerObservations(prometheus::Registry& registry, const std::string& service) {
  uint64_t count = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "service_name" && label.value == service) {
          count += metric.histogram.sample_count;
        }
      }
    }
  }
  return count;
}

struct Resolved {
  uint32_t tgid = 0;
  std::string service;
  std::string span_name;
};

class RecordingSpans : public ResolvedRecordSink {
 public:
  void OnResolvedRecord(const RecordContext& context,
                        const std::shared_ptr<const ProcessResource>& resource,
                        Record record) override {
    seen.push_back({context.tgid, resource->service_name, record.span_name});
  }
  std::vector<Resolved> seen;
};

ProcessFacts Facts(std::string exe, std::vector<std::string> argv, uint64_t start = 1) {
  ProcessFacts facts;
  facts.exe_path = std::move(exe);
  facts.argv = std::move(argv);
  facts.start_time_ticks = start;
  return facts;
}

Record ServerRecord(std::string span_name) {
  Record record;
  record.instrument = &instruments::kHttpServer;
  record.span_name = std::move(span_name);
  record.start_ns = 1'000;
  record.end_ns = 2'000'000;
  record.attributes = {{"http.request.method", "GET"},
                        {"http.response.status_code", "200", true},
                        {"http.route", "/"},
                        {"server.port", "80", true}};
  return record;
}

RecordContext ContextFor(uint32_t tgid, std::string_view comm = {}) {
  RecordContext context;
  context.tgid = tgid;
  context.comm = comm;
  context.protocol = "http1";
  return context;
}

uint64_t CounterValue(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) {
      return static_cast<uint64_t>(family.metric[0].counter.value);
    }
  }
  return 0;
}

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest()
      : agent_(registry_),
        red_(registry_, &agent_, 100),
        processes_("test-host", 64, [this](int64_t pid) -> std::optional<ProcessFacts> {
          auto it = proc_.find(pid);
          if (it == proc_.end()) return std::nullopt;
          return it->second;
        }) {
    proc_[100] = Facts("/usr/bin/python3", {"python3", "shop.py"});
    proc_[200] = Facts("/usr/sbin/sshd", {"sshd: user"});
    proc_[300] = Facts("/opt/bin/orders", {"/opt/bin/orders"});
    proc_[300].otel_service_name = "orders-api";
  }

  // An exclusion stage over `exclude_processes` names, without a kernel map.
  ProcessExclusion* Excluding(std::vector<std::string> executables) {
    selectors_.push_back(std::make_unique<ProcessSelector>(SelectionConfig{}, executables, false));
    exclusions_.push_back(
        std::make_unique<ProcessExclusion>(selectors_.back().get(), nullptr, 64, registry_));
    return exclusions_.back().get();
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  AgentMetrics agent_;
  RedMetrics red_;
  std::map<int64_t, ProcessFacts> proc_;
  ProcessInfoCache processes_;
  RecordingSpans spans_;
  std::vector<std::unique_ptr<ProcessSelector>> selectors_;
  std::vector<std::unique_ptr<ProcessExclusion>> exclusions_;
};

TEST_F(PipelineTest, RecordsReachMetricsAndSpansUnderTheServiceName) {
  Pipeline pipeline(&processes_, &red_, nullptr, &spans_, &clock_);
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /a"));
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /b"));
  pipeline.OnRecord(ContextFor(300), ServerRecord("GET /c"));
  EXPECT_EQ(ServerObservations(registry_, "shop"), 2u);
  EXPECT_EQ(ServerObservations(registry_, "orders-api"), 1u);
  ASSERT_EQ(spans_.seen.size(), 3u);
  EXPECT_EQ(spans_.seen[0].service, "shop");
  EXPECT_EQ(spans_.seen[0].span_name, "GET /a");
  EXPECT_EQ(spans_.seen[2].tgid, 300u);
  EXPECT_EQ(spans_.seen[2].service, "orders-api");
}

TEST_F(PipelineTest, ExcludedExecutablesAreDropped) {
  Pipeline pipeline(&processes_, &red_, Excluding({"sshd", "not-running"}), &spans_, &clock_);
  pipeline.OnRecord(ContextFor(200), ServerRecord("GET /ssh"));
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /shop"));
  EXPECT_EQ(ServerObservations(registry_, "sshd"), 0u);
  EXPECT_EQ(ServerObservations(registry_, "shop"), 1u);
  ASSERT_EQ(spans_.seen.size(), 1u);
  EXPECT_EQ(spans_.seen[0].service, "shop");
  EXPECT_EQ(CounterValue(registry_, "loupe_selection_records_dropped_total"), 1u)
      << "every dropped record is counted";
}

TEST_F(PipelineTest, ExclusionMatchesTheExecutableNotTheServiceName) {
  // orders-api runs /opt/bin/orders: excluding by its service name does not drop it.
  Pipeline pipeline(&processes_, &red_, Excluding({"orders-api"}), nullptr, &clock_);
  pipeline.OnRecord(ContextFor(300), ServerRecord("GET /c"));
  EXPECT_EQ(ServerObservations(registry_, "orders-api"), 1u);
  Pipeline by_exe(&processes_, &red_, Excluding({"orders"}), nullptr, &clock_);
  by_exe.OnRecord(ContextFor(300), ServerRecord("GET /c"));
  EXPECT_EQ(ServerObservations(registry_, "orders-api"), 1u);
}

TEST_F(PipelineTest, ExcludedExecutableIsDroppedEvenIfItExitedFirst) {
  // A process that exited before /proc was read is known only by its kernel comm.
  Pipeline pipeline(&processes_, &red_, Excluding({"curl"}), &spans_, &clock_);
  pipeline.OnRecord(ContextFor(999, "curl"), ServerRecord("GET /health"));
  EXPECT_EQ(ServerObservations(registry_, "curl"), 0u);
  EXPECT_TRUE(spans_.seen.empty());
}

TEST_F(PipelineTest, VanishedProcessIsNamedAfterTheConnectionComm) {
  Pipeline pipeline(&processes_, &red_, nullptr, nullptr, &clock_);  // no span stage is fine
  pipeline.OnRecord(ContextFor(999, "curl"), ServerRecord("GET /x"));
  EXPECT_EQ(ServerObservations(registry_, "curl"), 1u);
}

TEST_F(PipelineTest, IdentityIsReadWhenTheConnectionIsClassified) {
  // A short-lived client's only record arrives as it exits, when its environment is gone.
  Pipeline pipeline(&processes_, &red_, nullptr, &spans_, &clock_);
  pipeline.OnConnectionClassified(300, "orders");
  proc_.erase(300);
  pipeline.OnRecord(ContextFor(300, "orders"), ServerRecord("GET /x"));
  EXPECT_EQ(spans_.seen.back().service, "orders-api") << "OTEL_SERVICE_NAME read while alive";
}

TEST_F(PipelineTest, PidReuseIsNoticedAsTheClockAdvances) {
  Pipeline pipeline(&processes_, &red_, nullptr, &spans_, &clock_);
  clock_.SetMonotonicNs(1'000);
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /1"));
  proc_[100] = Facts("/usr/bin/node", {"node", "gateway.js"}, /*start=*/999);
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /2"));
  EXPECT_EQ(spans_.seen.back().service, "shop") << "still within the recheck interval";
  clock_.SetMonotonicNs(1'000 + 60'000'000'000ull);
  pipeline.OnRecord(ContextFor(100), ServerRecord("GET /3"));
  EXPECT_EQ(spans_.seen.back().service, "gateway");
  EXPECT_EQ(ServerObservations(registry_, "gateway"), 1u);
  EXPECT_EQ(ServerObservations(registry_, "shop"), 2u);
}

// An optional stage (core/record_stage.h) sees each counted record with its series and the
// exchange's opaque key; excluded records never reach it.
class RecordingObserver : public CountedRecordObserver {
 public:
  void OnCountedRecord(const RecordContext& context, const Record& record,
                       prometheus::Histogram* series) override {
    spans.push_back(record.span_name);
    with_series += series != nullptr ? 1 : 0;
    if (context.aggregation_key != nullptr) keys.push_back(context.aggregation_key->bytes[0]);
  }
  std::vector<std::string> spans;
  int with_series = 0;
  std::vector<uint8_t> keys;
};

TEST_F(PipelineTest, CountedRecordObserversSeeEachCountedRecordWithItsSeriesAndKey) {
  Pipeline pipeline(&processes_, &red_, Excluding({"sshd"}), &spans_, &clock_);
  RecordingObserver first;
  RecordingObserver second;
  pipeline.AddCountedRecordObserver(&first);
  pipeline.AddCountedRecordObserver(&second);
  ExchangeKey key;
  key.bytes[0] = 42;
  RecordContext keyed = ContextFor(100);
  keyed.aggregation_key = &key;
  pipeline.OnRecord(keyed, ServerRecord("GET /a"));
  pipeline.OnRecord(ContextFor(200), ServerRecord("GET /ssh"));  // excluded
  pipeline.OnRecord(ContextFor(300), ServerRecord("GET /c"));
  for (const RecordingObserver* observer : {&first, &second}) {
    EXPECT_EQ(observer->spans, (std::vector<std::string>{"GET /a", "GET /c"}));
    EXPECT_EQ(observer->with_series, 2);
    EXPECT_EQ(observer->keys, std::vector<uint8_t>{42});
  }
  EXPECT_EQ(spans_.seen.size(), 2u);
}

// The process status (/status) hears who each process is, what was counted for it, and that an
// exclusion rule dropped it (told by the exclusion stage).
class RecordingStatus : public ProcessStatusSink {
 public:
  void OnProcessResolved(const std::shared_ptr<const ProcessResource>& resource) override {
    resolved.push_back(resource->service_name);
  }
  void OnExchangeCounted(const std::shared_ptr<const ProcessResource>& resource,
                         std::string_view protocol) override {
    counted.push_back(resource->service_name + "/" + std::string(protocol));
  }
  void OnGap(uint32_t tgid, std::string_view, InstrumentationGap gap,
             std::string_view) override {
    gaps.push_back({tgid, gap});
  }
  std::vector<std::string> resolved;
  std::vector<std::string> counted;
  std::vector<std::pair<uint32_t, InstrumentationGap>> gaps;
};

TEST_F(PipelineTest, TellsTheProcessStatusWhoWhatAndWhatWasExcluded) {
  RecordingStatus status;
  ProcessExclusion* exclusion = Excluding({"sshd"});
  exclusion->set_status_sink(&status);  // the exclusion stage tells the gap, with its rule
  Pipeline pipeline(&processes_, &red_, exclusion, &spans_, &clock_);
  pipeline.set_process_status(&status);
  pipeline.OnConnectionClassified(300, "orders");
  pipeline.OnRecord(ContextFor(300), ServerRecord("GET /c"));
  pipeline.OnRecord(ContextFor(200), ServerRecord("GET /ssh"));
  EXPECT_EQ(status.resolved, (std::vector<std::string>{"orders-api", "sshd"}));
  EXPECT_EQ(status.counted, std::vector<std::string>{"orders-api/http1"});
  ASSERT_EQ(status.gaps.size(), 1u);
  EXPECT_EQ(status.gaps[0].first, 200u);
  EXPECT_EQ(status.gaps[0].second, InstrumentationGap::kExcludedByRule);
}

// Issue 15: two pods of one Deployment count into one workload-level series named after the
// Deployment, in its namespace; their spans keep the pod; OTLP metrics get the workload resource.
class OnePodDirectory : public PodDirectory {
 public:
  std::shared_ptr<const KubernetesIdentity> FindContainer(std::string_view id) const override {
    auto it = containers.find(std::string(id));
    return it == containers.end() ? nullptr : it->second;
  }
  uint64_t generation() const override { return 1; }
  bool synced() const override { return true; }
  std::map<std::string, std::shared_ptr<const KubernetesIdentity>> containers;
};

TEST(PipelineKubernetesTest, PodsOfAWorkloadShareItsSeriesAndKeepTheirIdentityOnSpans) {
  FakeClock clock;
  prometheus::Registry registry;
  AgentMetrics agent(registry);
  RedMetrics red(registry, &agent, 100);
  ServiceResources services;
  red.RememberResourcesIn(&services);
  OnePodDirectory pods;
  std::map<int64_t, ProcessFacts> proc;
  for (int64_t pid : {10, 11}) {
    const std::string id(64, static_cast<char>('a' + pid - 10));
    auto identity = std::make_shared<KubernetesIdentity>();
    identity->namespace_name = "shop";
    identity->pod_name = "checkout-" + std::to_string(pid);
    identity->container_id = id;
    identity->workload = {"Deployment", "checkout"};
    pods.containers[id] = identity;
    proc[pid] = Facts("/usr/bin/python3", {"python3", "server.py"});
    proc[pid].container_id = id;
  }
  ProcessInfoCache processes(
      "node-1", 64,
      [&](int64_t pid) -> std::optional<ProcessFacts> {
        auto it = proc.find(pid);
        return it == proc.end() ? std::nullopt : std::optional<ProcessFacts>(it->second);
      },
      {}, false, &pods);
  struct KeepResources : ResolvedRecordSink {
    void OnResolvedRecord(const RecordContext&,
                          const std::shared_ptr<const ProcessResource>& resource,
                          Record) override {
      seen.push_back(resource);
    }
    std::vector<std::shared_ptr<const ProcessResource>> seen;
  } spans;
  Pipeline pipeline(&processes, &red, {}, &spans, &clock);
  pipeline.OnRecord(ContextFor(10), ServerRecord("GET /"));
  pipeline.OnRecord(ContextFor(11), ServerRecord("GET /"));

  size_t series = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    for (const auto& metric : family.metric) {
      ++series;
      Labels labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      EXPECT_EQ(labels["service_name"], "checkout");
      EXPECT_EQ(labels["service_namespace"], "shop");
      EXPECT_EQ(metric.histogram.sample_count, 2u);
    }
  }
  EXPECT_EQ(series, 1u);
  ASSERT_EQ(spans.seen.size(), 2u);
  ASSERT_NE(spans.seen[1]->kubernetes, nullptr);
  EXPECT_EQ(spans.seen[1]->kubernetes->pod_name, "checkout-11");
  bool workload = false;
  for (const Attribute& a : services.Find("shop", "checkout")) {
    workload |= a.key == "k8s.deployment.name" && a.value == "checkout";
    EXPECT_NE(a.key, "k8s.pod.name");
  }
  EXPECT_TRUE(workload);
}

}  // namespace
}  // namespace loupe
