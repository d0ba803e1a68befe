#include "userspace/k8s/pod_directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "userspace/k8s/k8s_test_util.h"

namespace loupe {
namespace {

using k8s_test::MetricValue;

PodInfo Pod(const std::string& uid, const std::string& container_id,
            const std::string& phase = "Running") {
  PodInfo pod;
  pod.uid = uid;
  pod.namespace_name = "shop";
  pod.name = "pod-" + uid;
  pod.node_name = "node-1";
  pod.phase = phase;
  if (!container_id.empty()) pod.containers.push_back({"main", container_id});
  return pod;
}

class PodDirectoryTest : public ::testing::Test {
 protected:
  prometheus::Registry registry_;
  KubernetesMetrics metrics_{registry_};
};

TEST_F(PodDirectoryTest, FullListMakesItSyncedAndFindable) {
  KubernetesPodDirectory directory({}, &metrics_);
  EXPECT_FALSE(directory.synced());
  EXPECT_EQ(directory.FindContainer("c1"), nullptr);

  std::vector<ResolvedPod> pods;
  pods.push_back({Pod("u1", "c1"), {"Deployment", "web"}});
  pods.push_back({Pod("u2", ""), {}});  // pending: nothing to find yet, but counted as a pod
  directory.ReplaceAll(std::move(pods));

  EXPECT_TRUE(directory.synced());
  EXPECT_EQ(directory.pods(), 2u);
  std::shared_ptr<const KubernetesIdentity> found = directory.FindContainer("c1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->pod_uid, "u1");
  EXPECT_EQ(found->pod_name, "pod-u1");
  EXPECT_EQ(found->namespace_name, "shop");
  EXPECT_EQ(found->container_name, "main");
  EXPECT_EQ(found->container_id, "c1");
  EXPECT_EQ(found->node_name, "node-1");
  EXPECT_EQ(found->workload.kind, "Deployment");
  EXPECT_EQ(found->workload.name, "web");
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_pods"), 2);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_containers"), 1);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_container_lookups_total", "result", "hit"), 1);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_container_lookups_total", "result", "miss"), 1);
}

TEST_F(PodDirectoryTest, GenerationMovesOnlyWhenWhatIsFoundChanges) {
  KubernetesPodDirectory directory({}, &metrics_);
  directory.ReplaceAll({});
  const uint64_t start = directory.generation();

  directory.Upsert({Pod("u1", ""), {}});
  EXPECT_EQ(directory.generation(), start + 1);
  directory.Upsert({Pod("u1", "c1"), {}});  // its container started
  EXPECT_EQ(directory.generation(), start + 2);
  const auto before = directory.FindContainer("c1");
  directory.Upsert({Pod("u1", "c1"), {}});  // a status change that names nothing new
  EXPECT_EQ(directory.generation(), start + 2);
  EXPECT_EQ(directory.FindContainer("c1"), before);  // the same identity, not a copy

  // A restarted container has a new id: the old one is no longer found.
  directory.Upsert({Pod("u1", "c2"), {}});
  EXPECT_EQ(directory.FindContainer("c1"), nullptr);
  EXPECT_NE(directory.FindContainer("c2"), nullptr);
}

TEST_F(PodDirectoryTest, DeletedFinishedAndUnlistedPodsAreDropped) {
  KubernetesPodDirectory directory({}, &metrics_);
  directory.ReplaceAll({{Pod("u1", "c1"), {}}, {Pod("u2", "c2"), {}}, {Pod("u3", "c3"), {}}});

  directory.Remove("u1");
  EXPECT_EQ(directory.FindContainer("c1"), nullptr);
  directory.Upsert({Pod("u2", "c2", "Succeeded"), {}});
  EXPECT_EQ(directory.FindContainer("c2"), nullptr);
  EXPECT_EQ(directory.pods(), 1u);

  // A new list is the truth: u3 is gone (its DELETED event was missed), u4 is new.
  directory.ReplaceAll({{Pod("u4", "c4"), {}}});
  EXPECT_EQ(directory.FindContainer("c3"), nullptr);
  EXPECT_NE(directory.FindContainer("c4"), nullptr);
  EXPECT_EQ(directory.pods(), 1u);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_containers"), 1);
}

TEST_F(PodDirectoryTest, ANewListKeepsTheIdentitiesOfPodsItShowsUnchanged) {
  KubernetesPodDirectory directory({}, &metrics_);
  directory.ReplaceAll({{Pod("u1", "c1"), {}}, {Pod("u2", "c2"), {}}});
  const auto one = directory.FindContainer("c1");
  const auto two = directory.FindContainer("c2");
  PodInfo relabelled = Pod("u2", "c2");
  relabelled.labels = {{"tier", "web"}};
  directory.ReplaceAll({{Pod("u1", "c1"), {}}, {relabelled, {}}});
  EXPECT_EQ(directory.FindContainer("c1"), one);  // the same pointer: nothing to re-resolve
  ASSERT_NE(directory.FindContainer("c2"), nullptr);
  EXPECT_NE(directory.FindContainer("c2"), two);
  EXPECT_EQ(directory.FindContainer("c2")->pod_labels.size(), 1u);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_containers"), 2);
}

TEST_F(PodDirectoryTest, PodsPastTheBoundAreCountedNotKept) {
  PodDirectoryLimits limits;
  limits.max_pods = 2;
  KubernetesPodDirectory directory(limits, &metrics_);
  directory.ReplaceAll({{Pod("u1", "c1"), {}}, {Pod("u2", "c2"), {}}, {Pod("u3", "c3"), {}}});
  EXPECT_EQ(directory.pods(), 2u);
  EXPECT_EQ(directory.FindContainer("c3"), nullptr);
  directory.Upsert({Pod("u4", "c4"), {}});
  EXPECT_EQ(directory.FindContainer("c4"), nullptr);
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_dropped_total", "reason", "max_pods"), 2);
  // A known pod is still updated at the bound, and room made by a delete is used.
  directory.Upsert({Pod("u1", "c1b"), {}});
  EXPECT_NE(directory.FindContainer("c1b"), nullptr);
  directory.Remove("u2");
  directory.Upsert({Pod("u4", "c4"), {}});
  EXPECT_NE(directory.FindContainer("c4"), nullptr);
}

TEST_F(PodDirectoryTest, LabelsAreBoundedByCountAndLength) {
  PodDirectoryLimits limits;
  limits.max_labels_per_pod = 2;
  limits.max_label_length = 16;
  KubernetesPodDirectory directory(limits, &metrics_);
  PodInfo pod = Pod("u1", "c1");
  pod.labels = {{"a", "1"},
                {"app.kubernetes.io/name", "shop"},  // key over 16: not a label, still the name?
                {"b", std::string(17, 'x')},
                {"c", "3"},
                {"d", "4"}};
  pod.service_name_annotation = std::string(40, 's');
  directory.ReplaceAll({{pod, {}}});
  auto found = directory.FindContainer("c1");
  ASSERT_NE(found, nullptr);
  EXPECT_THAT(found->pod_labels,
              ::testing::ElementsAre(::testing::Pair("a", "1"), ::testing::Pair("c", "3")));
  EXPECT_EQ(found->app_name_label, "");  // its key is over the bound: dropped like any label
  EXPECT_EQ(found->service_name_annotation, "");  // a cut name would be a wrong name
  // app.kubernetes.io/name (22 bytes), b's value, d (count), the annotation.
  EXPECT_EQ(MetricValue(registry_, "loupe_kubernetes_dropped_total", "reason", "label_bound"), 4);
}

TEST_F(PodDirectoryTest, AppNameAndAnnotationAreKeptEvenPastTheLabelCount) {
  PodDirectoryLimits limits;
  limits.max_labels_per_pod = 1;
  KubernetesPodDirectory directory(limits, &metrics_);
  PodInfo pod = Pod("u1", "c1");
  pod.labels = {{"a", "1"}, {"app.kubernetes.io/name", "storefront"}};
  pod.service_name_annotation = "shop-web";
  directory.ReplaceAll({{pod, {}}});
  auto found = directory.FindContainer("c1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->app_name_label, "storefront");
  EXPECT_EQ(found->service_name_annotation, "shop-web");
  EXPECT_EQ(found->pod_labels.size(), 1u);
}

TEST_F(PodDirectoryTest, ReadersKeepTheirSnapshotWhileTheWriterMovesOn) {
  KubernetesPodDirectory directory({}, &metrics_);
  directory.ReplaceAll({{Pod("u1", "c1"), {"StatefulSet", "db"}}});
  std::shared_ptr<const KubernetesIdentity> held = directory.FindContainer("c1");
  directory.Remove("u1");
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->workload.name, "db");  // still valid: identities are shared, never mutated
}

}  // namespace
}  // namespace loupe
