#include "userspace/k8s/owner_resolver.h"

#include <gtest/gtest.h>

#include <map>

#include "userspace/k8s/k8s_test_util.h"

namespace loupe {
namespace {

using k8s_test::Fixture;
using k8s_test::MetricValue;

// Answers GETs from a table; counts them.
class TableClient : public KubeApiClient {
 public:
  absl::StatusOr<KubeResponse> Get(const std::string& path) override {
    ++gets[path];
    if (unreachable) return absl::UnavailableError("connection refused");
    auto it = answers.find(path);
    if (it == answers.end()) return KubeResponse{404, Fixture("replicaset_not_found.json")};
    return it->second;
  }
  absl::StatusOr<KubeResponse> Watch(const std::string&,
                                     const std::function<bool(std::string_view)>&,
                                     const std::atomic<bool>*) override {
    return absl::UnimplementedError("not here");
  }
  std::map<std::string, KubeResponse> answers;
  std::map<std::string, int> gets;
  bool unreachable = false;
};

constexpr char kReplicaSetPath[] = "/apis/apps/v1/namespaces/capture/replicasets/web-7bd6c97dff";
constexpr char kJobPath[] = "/apis/batch/v1/namespaces/capture/jobs/once";
constexpr char kScheduledJobPath[] = "/apis/batch/v1/namespaces/shop/jobs/report-27800000";

class OwnerResolverTest : public ::testing::Test {
 protected:
  OwnerResolverTest() {
    client_.answers[kReplicaSetPath] = {200, Fixture("replicaset.json")};
    client_.answers[kJobPath] = {200, Fixture("job.json")};
    client_.answers[kScheduledJobPath] = {200, Fixture("job_cronjob.json")};
  }
  OwnerResolver Make(OwnerResolverOptions options = {}) {
    return OwnerResolver(options, &client_, &clock_, &metrics_);
  }
  TableClient client_;
  FakeClock clock_;
  prometheus::Registry registry_;
  KubernetesMetrics metrics_{registry_};
};

TEST_F(OwnerResolverTest, ReplicaSetLeadsToItsDeploymentOnceForAllItsPods) {
  OwnerResolver resolver = Make();
  const std::vector<OwnerReference> owners = {{"ReplicaSet", "web-7bd6c97dff", true}};
  for (int pod = 0; pod < 3; ++pod) {
    WorkloadRef workload = resolver.Resolve("capture", owners);
    EXPECT_EQ(workload.kind, "Deployment");
    EXPECT_EQ(workload.name, "web");
  }
  EXPECT_EQ(client_.gets[kReplicaSetPath], 1);
  EXPECT_EQ(resolver.cached(), 1u);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_owner_cache_entries"), 1);
}

TEST_F(OwnerResolverTest, JobLeadsToItsCronJobOrIsTheWorkload) {
  OwnerResolver resolver = Make();
  WorkloadRef scheduled = resolver.Resolve("shop", {{"Job", "report-27800000", true}});
  EXPECT_EQ(scheduled.kind, "CronJob");
  EXPECT_EQ(scheduled.name, "report");
  WorkloadRef job = resolver.Resolve("capture", {{"Job", "once", true}});
  EXPECT_EQ(job.kind, "Job");
  EXPECT_EQ(job.name, "once");
}

TEST_F(OwnerResolverTest, OtherControllersAreTheWorkloadWithoutARead) {
  OwnerResolver resolver = Make();
  EXPECT_EQ(resolver.Resolve("shop", {{"StatefulSet", "db", true}}).name, "db");
  EXPECT_EQ(resolver.Resolve("shop", {{"DaemonSet", "loupe", true}}).kind, "DaemonSet");
  EXPECT_EQ(resolver.Resolve("shop", {}).kind, "");  // a bare pod
  EXPECT_TRUE(client_.gets.empty());
}

TEST_F(OwnerResolverTest, ABareReplicaSetOrADeletedOneIsTheWorkloadItself) {
  client_.answers["/apis/apps/v1/namespaces/shop/replicasets/bare"] = {
      200, R"({"kind":"ReplicaSet","metadata":{"name":"bare"}})"};
  OwnerResolver resolver = Make();
  WorkloadRef bare = resolver.Resolve("shop", {{"ReplicaSet", "bare", true}});
  EXPECT_EQ(bare.kind, "ReplicaSet");
  EXPECT_EQ(bare.name, "bare");
  WorkloadRef gone = resolver.Resolve("shop", {{"ReplicaSet", "gone", true}});  // 404
  EXPECT_EQ(gone.kind, "ReplicaSet");
  EXPECT_EQ(gone.name, "gone");
}

TEST_F(OwnerResolverTest, AFailedReadIsRetriedOnlyAfterItsDelay) {
  client_.answers[kReplicaSetPath] = {403, Fixture("list_pods_forbidden.json")};
  OwnerResolverOptions options;
  options.retry_after_failure_ns = 60'000'000'000;
  OwnerResolver resolver = Make(options);
  const std::vector<OwnerReference> owners = {{"ReplicaSet", "web-7bd6c97dff", true}};
  EXPECT_EQ(resolver.Resolve("capture", owners).kind, "ReplicaSet");
  EXPECT_EQ(resolver.Resolve("capture", owners).kind, "ReplicaSet");
  EXPECT_EQ(client_.gets[kReplicaSetPath], 1);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_api_requests_total", "result", "forbidden"), 1);

  client_.answers[kReplicaSetPath] = {200, Fixture("replicaset.json")};  // RBAC fixed
  clock_.Advance(61'000'000'000);
  EXPECT_EQ(resolver.Resolve("capture", owners).kind, "Deployment");
  EXPECT_EQ(client_.gets[kReplicaSetPath], 2);
}

TEST_F(OwnerResolverTest, UnreachableIsCountedAndFallsBack) {
  client_.unreachable = true;
  OwnerResolver resolver = Make();
  EXPECT_EQ(resolver.Resolve("shop", {{"Job", "report-27800000", true}}).kind, "Job");
  EXPECT_EQ(resolver.Resolve("capture", {{"ReplicaSet", "web-7bd6c97dff", true}}).kind,
            "ReplicaSet");
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_api_requests_total", "result", "unreachable"),
            2);
}

TEST_F(OwnerResolverTest, TheCacheIsBoundedOldestFirst) {
  OwnerResolverOptions options;
  options.capacity = 2;
  OwnerResolver resolver = Make(options);
  resolver.Resolve("shop", {{"ReplicaSet", "a", true}});
  resolver.Resolve("shop", {{"ReplicaSet", "b", true}});
  resolver.Resolve("shop", {{"ReplicaSet", "c", true}});
  EXPECT_EQ(resolver.cached(), 2u);
  resolver.Resolve("shop", {{"ReplicaSet", "c", true}});  // still cached
  resolver.Resolve("shop", {{"ReplicaSet", "a", true}});  // forgotten: read again
  EXPECT_EQ(client_.gets["/apis/apps/v1/namespaces/shop/replicasets/c"], 1);
  EXPECT_EQ(client_.gets["/apis/apps/v1/namespaces/shop/replicasets/a"], 2);
}

}  // namespace
}  // namespace loupe
