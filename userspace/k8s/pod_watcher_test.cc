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

constexpr char kWebContainer[] = "8f2a4c6e8a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";
constexpr char kClientContainer[] =
    "d00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00d";
constexpr char kListPrefix[] = "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=0";
constexpr char kWatchPrefix[] = "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&watch=true";

class PodWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeKubeApi>> api = FakeKubeApi::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    api_->SetResponse("/api/v1/pods", 200, Fixture("pod_list.json"));
    api_->SetResponse("/apis/apps/v1/namespaces/shop/replicasets/web-5d4f8c7b9c", 200,
                      Fixture("replicaset.json"));
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
    options.node_name = "node-1";
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
  EXPECT_EQ(web->workload.kind, "Deployment");
  EXPECT_EQ(web->workload.name, "web");
  EXPECT_EQ(web->service_name_annotation, "shop-web");
  EXPECT_EQ(web->app_name_label, "storefront");
  EXPECT_EQ(directory_.pods(), 3u);

  ASSERT_TRUE(WaitForWatch());
  for (const std::string& line : FixtureLines("watch_stream.jsonl")) api_->PushWatchLine(line);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] {
    return directory_.FindContainer(kClientContainer) != nullptr && directory_.pods() == 3;
  }));  // the client pod came, the pending one went
  EXPECT_EQ(Metric("loupe_kubernetes_watch_events_total", "type", "bookmark"), 1);
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 1);

  // Never a cluster-wide list or watch: every pod request names this node.
  for (const std::string& request : api_->requests()) {
    if (absl::StartsWith(request, "GET /api/v1/pods")) {
      EXPECT_THAT(request, ::testing::HasSubstr("fieldSelector=spec.nodeName%3Dnode-1"));
    }
  }
  EXPECT_EQ(api_->CountRequests(kListPrefix), 1);
  EXPECT_EQ(api_->CountRequests(std::string(kWatchPrefix) +
                                "&allowWatchBookmarks=true&resourceVersion=1200&timeoutSeconds=300"),
            1);
  EXPECT_EQ(api_->last_authorization(), "Bearer token-one");
}

TEST_F(PodWatcherTest, AWatchTheServerEndsResumesFromTheLastResourceVersion) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  for (const std::string& line : FixtureLines("watch_stream.jsonl")) api_->PushWatchLine(line);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.FindContainer(kClientContainer) != nullptr; }));
  WriteToken("token-two");  // the kubelet rotated it
  api_->EndWatch();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kWatchPrefix) == 2; }));
  EXPECT_THAT(api_->requests().back(), ::testing::HasSubstr("resourceVersion=1211"));
  EXPECT_EQ(api_->CountRequests(kListPrefix), 1);  // no new list
  EXPECT_EQ(api_->last_authorization(), "Bearer token-two");
}

TEST_F(PodWatcherTest, AnExpiredWatchListsAgainAndDropsWhatTheListNoLongerHas) {
  StartWatcher();
  ASSERT_TRUE(WaitForWatch());
  ASSERT_NE(directory_.FindContainer(kWebContainer), nullptr);
  api_->SetResponse("/api/v1/pods", 200,
                    R"({"kind":"PodList","metadata":{"resourceVersion":"1500"},"items":[]})");
  api_->PushWatchLine(FixtureLines("watch_expired.jsonl").at(0));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kListPrefix) == 2; }));
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.pods() == 0; }));
  EXPECT_EQ(directory_.FindContainer(kWebContainer), nullptr);
  EXPECT_EQ(Metric("loupe_kubernetes_pod_lists_total", "reason", "expired"), 1);
  EXPECT_EQ(Requests("watch", "expired"), 1);
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] {
    return api_->CountRequests(std::string(kWatchPrefix) +
                               "&allowWatchBookmarks=true&resourceVersion=1500") == 1;
  }));
}

TEST_F(PodWatcherTest, A410AnswerToTheWatchListsAgainWithoutSpinning) {
  api_->SetWatchStatus(410, Fixture("watch_expired.jsonl"));
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return api_->CountRequests(kListPrefix) >= 3; }));
  api_->SetWatchStatus(200);
  ASSERT_TRUE(WaitForWatch());
  EXPECT_GE(Requests("watch", "expired"), 2);
  EXPECT_TRUE(directory_.synced());
}

TEST_F(PodWatcherTest, ForbiddenIsCountedAndRecoversWithoutARestart) {
  api_->SetResponse("/api/v1/pods", 403, Fixture("forbidden.json"));
  StartWatcher();
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return Requests("list", "forbidden") >= 2; }));
  EXPECT_FALSE(directory_.synced());
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 0);

  api_->SetResponse("/api/v1/pods", 200, Fixture("pod_list.json"));  // the ClusterRole fixed
  ASSERT_TRUE(FakeKubeApi::WaitFor([&] { return directory_.synced(); }));
  EXPECT_NE(directory_.FindContainer(kWebContainer), nullptr);
  EXPECT_EQ(Metric("loupe_kubernetes_api_available"), 1);
  EXPECT_GE(Metric("loupe_kubernetes_pod_lists_total", "reason", "retry"), 1);
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
  std::string line = FixtureLines("watch_stream.jsonl").at(1);
  const size_t node = line.find("\"node-1\"");
  ASSERT_NE(node, std::string::npos);
  line.replace(node, 8, "\"node-2\"");
  api_->PushWatchLine(line);
  api_->PushWatchLine(FixtureLines("watch_stream.jsonl").at(2));  // a bookmark after it
  ASSERT_TRUE(FakeKubeApi::WaitFor(
      [&] { return Metric("loupe_kubernetes_watch_events_total", "type", "bookmark") == 1; }));
  EXPECT_EQ(directory_.FindContainer(kClientContainer), nullptr);
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
  api->SetResponse("/api/v1/pods", 200, Fixture("pod_list.json"));
  prometheus::Registry registry;
  FakeClock clock;
  KubernetesSourceOptions options;
  options.api.base_url = api->url();
  absl::StatusOr<std::unique_ptr<KubernetesSource>> unnamed =
      KubernetesSource::Start(options, registry, &clock);
  EXPECT_THAT(unnamed.status().message(), ::testing::HasSubstr("NODE_NAME"));

  options.watch.node_name = "node-1";
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
