#include "userspace/metrics/pod_info_series.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace loupe {
namespace {

using Labels = std::map<std::string, std::string>;

class FakePods : public PodDirectory {
 public:
  std::shared_ptr<const KubernetesIdentity> FindContainer(std::string_view id) const override {
    ++lookups;
    auto it = containers.find(std::string(id));
    return it == containers.end() ? nullptr : it->second;
  }
  uint64_t generation() const override { return generation_value; }
  bool synced() const override { return true; }
  std::map<std::string, std::shared_ptr<const KubernetesIdentity>> containers;
  uint64_t generation_value = 1;
  mutable int lookups = 0;
};

std::vector<Labels> InfoSeries(prometheus::Registry& registry) {
  std::vector<Labels> out;
  for (const auto& family : registry.Collect()) {
    if (family.name != "loupe_service_pod_info") continue;
    for (const auto& metric : family.metric) {
      Labels labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      EXPECT_EQ(metric.gauge.value, 1);
      out.push_back(labels);
    }
  }
  return out;
}

double Refused(prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name == "loupe_service_pod_info_refused_total") {
      return family.metric.at(0).counter.value;
    }
  }
  return -1;
}

ProcessResource InPod(FakePods& pods, const std::string& pod, char id) {
  auto k = std::make_shared<KubernetesIdentity>();
  k->namespace_name = "shop";
  k->pod_name = pod;
  k->pod_uid = "uid-" + pod;
  k->container_name = "server";
  k->node_name = "node-1";
  k->container_id = std::string(64, id);
  k->workload = {"Deployment", "checkout"};
  pods.containers[k->container_id] = k;
  ProcessResource r;
  r.service_name = "checkout";
  r.service_namespace = "shop";
  r.container_id = k->container_id;
  r.kubernetes = k;
  return r;
}

TEST(PodInfoSeriesTest, OneSeriesPerPodContainerWithItsLabels) {
  prometheus::Registry registry;
  FakePods pods;
  PodInfoSeries info(registry, &pods);
  const ProcessResource a = InPod(pods, "checkout-a", 'a');
  info.Update(a);
  info.Update(a);  // a second process of the same container
  ProcessResource host;
  host.service_name = "nginx";
  info.Update(host);
  const std::vector<Labels> series = InfoSeries(registry);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0], (Labels{{"service_name", "checkout"},
                               {"service_namespace", "shop"},
                               {"container_id", std::string(64, 'a')},
                               {"k8s_namespace_name", "shop"},
                               {"k8s_pod_name", "checkout-a"},
                               {"k8s_pod_uid", "uid-checkout-a"},
                               {"k8s_container_name", "server"},
                               {"k8s_node_name", "node-1"},
                               {"k8s_deployment_name", "checkout"}}));
}

TEST(PodInfoSeriesTest, DeletedPodsGoAtTheSweepAfterTheDirectoryChanged) {
  prometheus::Registry registry;
  FakePods pods;
  PodInfoSeries info(registry, &pods);
  info.Update(InPod(pods, "checkout-a", 'a'));
  info.Update(InPod(pods, "checkout-b", 'b'));
  info.Sweep();
  EXPECT_EQ(info.size(), 2u);
  const int lookups = pods.lookups;
  info.Sweep();
  EXPECT_EQ(pods.lookups, lookups) << "no change in the directory: no work";
  pods.containers.erase(std::string(64, 'a'));
  ++pods.generation_value;
  info.Sweep();
  ASSERT_EQ(info.size(), 1u);
  ASSERT_EQ(InfoSeries(registry).size(), 1u);
  EXPECT_EQ(InfoSeries(registry)[0]["k8s_pod_name"], "checkout-b");
}

TEST(PodInfoSeriesTest, AChangedIdentityRelabelsItsSeries) {
  prometheus::Registry registry;
  FakePods pods;
  PodInfoSeries info(registry, &pods);
  ProcessResource r = InPod(pods, "checkout-a", 'a');
  info.Update(r);
  auto moved = std::make_shared<KubernetesIdentity>(*r.kubernetes);
  moved->workload = {"StatefulSet", "checkout"};
  r.kubernetes = moved;
  info.Update(r);
  const std::vector<Labels> series = InfoSeries(registry);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].count("k8s_deployment_name"), 0u);
  EXPECT_EQ(series[0].at("k8s_statefulset_name"), "checkout");
}

TEST(PodInfoSeriesTest, BoundedAndRefusalsCounted) {
  prometheus::Registry registry;
  FakePods pods;
  PodInfoSeries info(registry, &pods, /*max_series=*/2);
  info.Update(InPod(pods, "p1", '1'));
  info.Update(InPod(pods, "p2", '2'));
  info.Update(InPod(pods, "p3", '3'));
  EXPECT_EQ(info.size(), 2u);
  EXPECT_EQ(InfoSeries(registry).size(), 2u);
  EXPECT_EQ(Refused(registry), 1);
}

}  // namespace
}  // namespace loupe
