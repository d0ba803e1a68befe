#include "userspace/k8s/pod_watcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "userspace/k8s/fake_kube_api.h"
#include "userspace/k8s/k8s_test_util.h"
#include "userspace/k8s/kubernetes_source.h"

namespace loupe {
namespace {

using k8s_test::Fixture;
using k8s_test::FixtureLines;
using k8s_test::MetricValue;

// Captured from the Kubernetes 1.20 test cluster (tests/fixtures/kubernetes/README.md).
constexpr char kNode[] = "loupe-e2e-node";
constexpr char kWebContainer[] = "04299cf5f5be55e631276cbbec3f0dca3b8d76aca15a2fd38de8c3e68cd581a8";
constexpr char kJobContainer[] = "6ed0b7482add90037104053373a28ede1574f0fdfe357ae856bfa82d826a1ed2";
constexpr char kChurnContainer[] =
    "55c0895f798d943d3a68ff7cd63e78171456d1bb2c10f712a1de59aa729240ba";
constexpr char kSelector[] = "fieldSelector=spec.nodeName%3Dloupe-e2e-node";
constexpr char kListPrefix[] =
    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dloupe-e2e-node&resourceVersion=0";
constexpr char kWatchPrefix[] =
    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dloupe-e2e-node&watch=true";

class PodWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeKubeApi>> api = FakeKubeApi::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    api_->SetResponse("/api/v1/pods", 200, Fixture("list_pods_node.json"));
    api_->SetResponse("/apis/apps/v1/namespaces/capture/replicasets/web-7bd6c97dff", 200,
                      Fixture("replicaset.json"));
    api_->SetResponse("/apis/batch/v1/namespaces/capture/jobs/once", 200, Fixture("job.json"));
    token_file_ = ::testing::TempDir() + "/k8s_token";
    WriteToken("token-one\n");
  }
  void TearDown() override { watcher_.reset(); }

  void WriteToken(const std::string& token) { std::ofstream(token_file_) << token; }

  void StartWatcher(std::string base_url = "") {
    KubeApiConfig config{base_url.empty() ? api_->url() : base_url, token_file_, ""};
    watch_client_ = std::move(CurlKubeApiClient::Create(config, {}).value());
    owner_client_ = std::move(CurlKubeApiClient::Create(config, {}).value());
    owners_ = std::make_unique<OwnerResolver>(OwnerResolverOptions{}, owner_client_.get(), &clock_,
                                              &metrics_);
    PodWatcherOptions options;
    options.node_name = kNode;
    options.initial_backoff_ms = 10;
    options.max_backoff_ms = 40;
    watcher_ = std::make_unique<PodWatcher>(options, watch_client_.get(), owners_.get(),
                                            &directory_, &metrics_);
    watcher_->Start();
  }

  bool WaitForWatch() {
    return FakeKubeApi::WaitFor([&] { return api_->watches_open() == 1; });
  }
  double Metric(const std::string& name, const std::string& key = "",
                const std::string& value = "") {
    return MetricValue(registry_, name, key, value);
  }
  double Requests(const std::string& request, const std::string& result) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != "loupe_kubernetes_api_requests_total") continue;
      for (const auto& metric : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& label : metric.label) labels[label.name] = label.value;
        if (labels["request"] == request && labels["result"] == result) return metric.counter.value;
      }
    }
    return 0;
  }

  std::unique_ptr<FakeKubeApi> api_;
  std::string token_file_;
  FakeClock clock_;
  prometheus::Registry registry_;
  KubernetesMetrics metrics_{registry_};
  KubernetesPodDirectory directory_{PodDirectoryLimits{}, &metrics_};
  std::unique_ptr<CurlKubeApiClient> watch_client_;
  std::unique_ptr<CurlKubeApiClient> owner_client_;
  std::unique_ptr<OwnerResolver> owners_;
  std::unique_ptr<PodWatcher> watcher_;  // last: stopped first
};

TEST_F(PodWatcherTest, ListsThenWatchesOnlyThisNodesPods) {
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.synced(); }));
  std::shared_ptr<const KubernetesIdentity> web = directory_.FindContainer(kWebContainer);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->namespace_name, "capture");
  EXPECT_EQ(web->pod_name, "web-7bd6c97dff-m87fv");
  EXPECT_EQ(web->container_name, "server");
  EXPECT_EQ(web->node_name, kNode);
  EXPECT_EQ(web->workload.kind, "Deployment");
  EXPECT_EQ(web->workload.name, "web");
  EXPECT_EQ(web->service_name_annotation, "shop-frontend");
  EXPECT_EQ(web->app_name_label, "shop-web");
  std::shared_ptr<const KubernetesIdentity> job = directory_.FindContainer(kJobContainer);
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->workload.kind, "Job");
  EXPECT_EQ(job->workload.name, "once");
  EXPECT_EQ(directory_.pods(), 2u);

  // A pod created, started and being deleted, as the API server told it.
  ASSERT_TRUE(WaitForWatch());
  const std::vector<std::string> lines = FixtureLines("watch_pods_node.jsonl");
  for (size_t i = 0; i < 3; ++i) api_->PushWatchLine(lines[i]);
  ASSERT_TRUE(FakeKubeApi::WaitFor(
      [&] { return directory_.FindContainer(kChurnContainer) != nullptr; }));
  EXPECT_EQ(directory_.pods(), 3u);
  for (size_t i = 3; i < lines.size(); ++i) api_->PushWatchLine(lines[i]);
  ASSERT_TRUE(FakeKubeApi::WaitFor(
      [&] { return Metric("loupe_kubernetes_watch_events_total", "type", "bookmark") == 1; }));
  EXPECT_EQ(directory_.FindContainer(kChurnContainer), nullptr);  // its container id went
  EXPECT_EQ(Metric("loupe_kubernetes_watch_events_total", "type", "modified"), 4);
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 1);

  // Never a cluster-wide list or watch: every pod request names this node.
  for (const std::string& request : api_->requests()) {
    if (absl::StartsWith(request, "GET /api/v1/pods")) {
      EXPECT_THAT(request, ::testing::HasSubstr(kSelector));
    }
  }
  EXPECT_EQ(api_->CountRequests(kListPrefix), 1);
  EXPECT_EQ(api_->CountRequests(std::string(kWatchPrefix) +
                                "&allowWatchBookmarks=true&resourceVersion=398&timeoutSeconds=300"),
            1);
  EXPECT_EQ(api_->last_authorization(), "Bearer token-one");
}

TEST_F(PodWatcherTest, AWatchTheServerEndsResumesFromTheLastResourceVersion) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  for (const std::string& line : FixtureLines("watch_pods_node.jsonl")) api_->PushWatchLine(line);
  ASSERT_TRUE(FakeKubeApi::WaitFor(
      [&] { return Metric("loupe_kubernetes_watch_events_total", "type", "bookmark") == 1; }));
  WriteToken("token-two");  // the kubelet rotated it
  api_->EndWatch();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kWatchPrefix) == 2; }));
  EXPECT_THAT(api_->requests().back(), ::testing::HasSubstr("resourceVersion=357"));
  EXPECT_EQ(api_->CountRequests(kListPrefix), 1);  // no new list
  EXPECT_EQ(api_->last_authorization(), "Bearer token-two");
}

TEST_F(PodWatcherTest, ADeletedPodIsDropped) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  const std::vector<std::string> lines = FixtureLines("watch_pods_node.jsonl");
  for (size_t i = 0; i < 4; ++i) api_->PushWatchLine(lines[i]);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.pods() == 3; }));
  // The DELETED event carries the pod's last state: the captured MODIFIED with its type changed.
  std::string deleted = lines[3];
  deleted.replace(deleted.find("\"MODIFIED\""), 10, "\"DELETED\"");
  api_->PushWatchLine(deleted);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.pods() == 2; }));
  EXPECT_EQ(directory_.FindContainer(kChurnContainer), nullptr);
  EXPECT_NE(directory_.FindContainer(kWebContainer), nullptr);
}

TEST_F(PodWatcherTest, AListInPagesIsFollowedToItsEnd) {
  // A server that pages the list (one not answering from its cache) is followed to the end.
  const std::string first = Fixture("list_pods_node_page1.json");
  api_->SetResponse("/api/v1/pods", 200, first, "resourceVersion=0");
  api_->SetResponse("/api/v1/pods", 200, Fixture("list_pods_node_page2.json"), "continue=");
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.synced(); }));
  EXPECT_EQ(directory_.pods(), 2u);
  EXPECT_NE(directory_.FindContainer(kWebContainer), nullptr);
  EXPECT_NE(directory_.FindContainer(kJobContainer), nullptr);
  EXPECT_EQ(api_->CountRequests(std::string("GET /api/v1/pods?") + kSelector + "&continue=ey"), 1);
}

TEST_F(PodWatcherTest, AnExpiredWatchListsAgainAndDropsWhatTheListNoLongerHas) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  ASSERT_NE(directory_.FindContainer(kWebContainer), nullptr);
  api_->SetResponse("/api/v1/pods", 200,
                    R"({"kind":"PodList","metadata":{"resourceVersion":"1500"},"items":[]})");
  api_->PushWatchLine(FixtureLines("watch_pods_gone.jsonl").at(0));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kListPrefix) == 2; }));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.pods() == 0; }));
  EXPECT_EQ(directory_.FindContainer(kWebContainer), nullptr);
  EXPECT_EQ(Metric("loupe_kubernetes_pod_lists_total", "reason", "expired"), 1);
  EXPECT_EQ(Requests("watch", "expired"), 1);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] {
    return api_->CountRequests(std::string(kWatchPrefix) +
                               "&allowWatchBookmarks=true&resourceVersion=1500&timeoutSeconds=300") == 1;
  }));
}

TEST_F(PodWatcherTest, A410AnswerToTheWatchListsAgainWithoutSpinning) {
  api_->SetWatchStatus(410, Fixture("watch_pods_gone.jsonl"));
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kListPrefix) >= 3; }));
  api_->SetWatchStatus(200);
  ASSERT_TRUE(WaitForWatch());
  EXPECT_GE(Requests("watch", "expired"), 2);
  EXPECT_TRUE(directory_.synced());
}

TEST_F(PodWatcherTest, ForbiddenIsCountedAndRecoversWithoutARestart) {
  api_->SetResponse("/api/v1/pods", 403, Fixture("list_pods_forbidden.json"));
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return Requests("list", "forbidden") >= 2; }));
  EXPECT_FALSE(directory_.synced());
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 0);

  api_->SetResponse("/api/v1/pods", 200, Fixture("list_pods_node.json"));  // the ClusterRole fixed
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.synced(); }));
  EXPECT_NE(directory_.FindContainer(kWebContainer), nullptr);
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 1);
  EXPECT_GE(Metric("loupe_kubernetes_pod_lists_total", "reason", "retry"), 1);
}

TEST_F(PodWatcherTest, AListAnswered410IsRetried) {
  api_->SetResponse("/api/v1/pods", 410, Fixture("list_pods_gone.json"));
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return Requests("list", "expired") >= 2; }));
  api_->SetResponse("/api/v1/pods", 200, Fixture("list_pods_node.json"));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.synced(); }));
}

TEST_F(PodWatcherTest, AnUnreachableServerIsCountedAndRetried) {
  StartWatcher("http://127.0.0.1:1");
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return Requests("list", "unreachable") >= 2; }));
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 0);
  EXPECT_FALSE(directory_.synced());
}

TEST_F(PodWatcherTest, AnUnreadableEventListsAgain) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  api_->PushWatchLine("{\"type\":\"ADDED\",\"object\":");
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kListPrefix) == 2; }));
  EXPECT_EQ(Metric("loupe_kubernetes_dropped_total", "reason", "event_invalid"), 1);
}

TEST_F(PodWatcherTest, PodsOfOtherNodesAreIgnored) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  const std::vector<std::string> lines = FixtureLines("watch_pods_node.jsonl");
  std::string line = lines.at(2);  // the churn pod with its container started
  const size_t node = line.find("\"loupe-e2e-node\"");
  ASSERT_NE(node, std::string::npos);
  line.replace(node, std::string("\"loupe-e2e-node\"").size(), "\"other-node\"");
  api_->PushWatchLine(line);
  api_->PushWatchLine(lines.at(5));  // a bookmark after it
  ASSERT_TRUE(FakeKubeApi::WaitFor(
      [&] { return Metric("loupe_kubernetes_watch_events_total", "type", "bookmark") == 1; }));
  EXPECT_EQ(directory_.FindContainer(kChurnContainer), nullptr);
}

TEST_F(PodWatcherTest, StopEndsAnOpenWatchPromptly) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  const auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace loupe

namespace loupe {
namespace {

TEST(KubernetesSourceTest, StartsWatchingAndStopsWhenDestroyed) {
  std::unique_ptr<FakeKubeApi> api = std::move(FakeKubeApi::Start().value());
  api->SetResponse("/api/v1/pods", 200, Fixture("list_pods_node.json"));
  prometheus::Registry registry;
  FakeClock clock;
  KubernetesSourceOptions options;
  options.api.base_url = api->url();
  absl::StatusOr<std::unique_ptr<KubernetesSource>> unnamed =
      KubernetesSource::Start(options, registry, &clock);
  EXPECT_THAT(unnamed.status().message(), ::testing::HasSubstr("NODE_NAME"));

  options.watch.node_name = kNode;
  absl::StatusOr<std::unique_ptr<KubernetesSource>> source =
      KubernetesSource::Start(options, registry, &clock);
  ASSERT_TRUE(source.ok()) << source.status();
  const PodDirectory* directory = (*source)->directory();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory->synced(); }));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api->watches_open() == 1; }));
  // A ReplicaSet the API does not have (404): the pod is named after it.
  std::shared_ptr<const KubernetesIdentity> web = directory->FindContainer(kWebContainer);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->workload.kind, "ReplicaSet");
  const auto start = std::chrono::steady_clock::now();
  source->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace loupe
