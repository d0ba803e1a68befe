#include "userspace/core/resource_attributes.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

std::map<std::string, std::string> AsMap(const std::vector<Attribute>& attributes) {
  std::map<std::string, std::string> out;
  for (const Attribute& a : attributes) {
    EXPECT_TRUE(out.emplace(a.key, a.value).second) << "duplicate key " << a.key;
  }
  return out;
}

ProcessResource InAPod() {
  auto k = std::make_shared<KubernetesIdentity>();
  k->namespace_name = "shop";
  k->pod_name = "checkout-7d9f8b6c5-x2x4k";
  k->pod_uid = "0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10";
  k->container_name = "server";
  k->node_name = "node-1";
  k->container_id = "abc";
  k->workload = {"Deployment", "checkout"};
  ProcessResource r;
  r.service_name = "checkout";
  r.service_namespace = "shop";
  r.container_id = "abc";
  r.kubernetes = k;
  return r;
}

TEST(ResourceAttributesTest, PodLevelIdentityOnSpans) {
  EXPECT_EQ(AsMap(IdentityAttributes(InAPod())),
            (std::map<std::string, std::string>{
                {"service.namespace", "shop"},
                {"container.id", "abc"},
                {"k8s.namespace.name", "shop"},
                {"k8s.pod.name", "checkout-7d9f8b6c5-x2x4k"},
                {"k8s.pod.uid", "0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10"},
                {"k8s.container.name", "server"},
                {"k8s.node.name", "node-1"},
                {"k8s.deployment.name", "checkout"}}));
}

TEST(ResourceAttributesTest, WorkloadLevelIdentityOnMetricsHasNoPodDetail) {
  EXPECT_EQ(AsMap(WorkloadAttributes(InAPod())),
            (std::map<std::string, std::string>{{"service.namespace", "shop"},
                                                {"k8s.namespace.name", "shop"},
                                                {"k8s.deployment.name", "checkout"},
                                                {"k8s.node.name", "node-1"}}));
}

TEST(ResourceAttributesTest, EachWorkloadKindHasItsKey) {
  EXPECT_EQ(WorkloadAttributeKey("StatefulSet"), "k8s.statefulset.name");
  EXPECT_EQ(WorkloadAttributeKey("DaemonSet"), "k8s.daemonset.name");
  EXPECT_EQ(WorkloadAttributeKey("ReplicaSet"), "k8s.replicaset.name");
  EXPECT_EQ(WorkloadAttributeKey("Job"), "k8s.job.name");
  EXPECT_EQ(WorkloadAttributeKey("CronJob"), "k8s.cronjob.name");
  EXPECT_EQ(WorkloadAttributeKey(""), "");
  EXPECT_EQ(WorkloadAttributeKey("Rollout"), "") << "an unknown kind names no attribute";
  ProcessResource bare = InAPod();
  auto k = std::make_shared<KubernetesIdentity>(*bare.kubernetes);
  k->workload = {};
  bare.kubernetes = k;
  EXPECT_EQ(AsMap(IdentityAttributes(bare)).count("k8s.deployment.name"), 0u);
}

TEST(ResourceAttributesTest, HostProcessHasOnlyWhatItKnows) {
  ProcessResource host;
  host.service_name = "nginx";
  EXPECT_TRUE(IdentityAttributes(host).empty());
  EXPECT_TRUE(WorkloadAttributes(host).empty());
  host.container_id = "abc";
  EXPECT_EQ(AsMap(IdentityAttributes(host)),
            (std::map<std::string, std::string>{{"container.id", "abc"}}));
  EXPECT_TRUE(WorkloadAttributes(host).empty()) << "a container id is per instance";
}

}  // namespace
}  // namespace loupe
