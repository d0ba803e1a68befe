#include "userspace/core/service_resources.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

std::map<std::string, std::string> AsMap(const std::vector<Attribute>& attributes) {
  std::map<std::string, std::string> out;
  for (const Attribute& a : attributes) out[a.key] = a.value;
  return out;
}

ProcessResource Pod(std::string pod_name) {
  auto k = std::make_shared<KubernetesIdentity>();
  k->namespace_name = "shop";
  k->pod_name = std::move(pod_name);
  k->pod_uid = "uid-" + k->pod_name;
  k->node_name = "node-1";
  k->workload = {"Deployment", "checkout"};
  ProcessResource r;
  r.service_name = "checkout";
  r.service_namespace = "shop";
  r.host_name = "node-1";
  r.pid = 42;
  r.container_id = std::string(64, 'a');
  r.kubernetes = k;
  return r;
}

TEST(ServiceResourcesTest, WorkloadLevelResourceOfTheFirstProcess) {
  ServiceResources resources;
  resources.Remember(Pod("checkout-1"));
  resources.Remember(Pod("checkout-2"));
  EXPECT_EQ(resources.size(), 1u);
  const std::vector<Attribute> found = resources.Find("shop", "checkout");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].key, "service.name");
  EXPECT_EQ(AsMap(found), (std::map<std::string, std::string>{
                              {"service.name", "checkout"},
                              {"service.namespace", "shop"},
                              {"host.name", "node-1"},
                              {"k8s.namespace.name", "shop"},
                              {"k8s.deployment.name", "checkout"},
                              {"k8s.node.name", "node-1"}}))
      << "no pod name, uid, container id or pid: the series sum over pods";
}

TEST(ServiceResourcesTest, UnknownServiceKeepsWhatItsLabelsSay) {
  ServiceResources resources;
  EXPECT_EQ(AsMap(resources.Find("", "nginx")),
            (std::map<std::string, std::string>{{"service.name", "nginx"}}));
  EXPECT_EQ(AsMap(resources.Find("lab", "nginx")),
            (std::map<std::string, std::string>{{"service.name", "nginx"},
                                                {"service.namespace", "lab"}}));
}

TEST(ServiceResourcesTest, SameNameInTwoNamespacesIsTwoServices) {
  ServiceResources resources;
  ProcessResource staging = Pod("checkout-1");
  staging.service_namespace = "staging";
  resources.Remember(Pod("checkout-2"));
  resources.Remember(staging);
  EXPECT_EQ(resources.size(), 2u);
  EXPECT_EQ(AsMap(resources.Find("staging", "checkout"))["service.namespace"], "staging");
}

TEST(ServiceResourcesTest, Bounded) {
  ServiceResources resources(2);
  for (int i = 0; i < 5; ++i) {
    ProcessResource r;
    r.service_name = "s" + std::to_string(i);
    r.host_name = "h";
    resources.Remember(r);
  }
  EXPECT_EQ(resources.size(), 2u);
  EXPECT_EQ(AsMap(resources.Find("", "s4")),
            (std::map<std::string, std::string>{{"service.name", "s4"}}));
}

}  // namespace
}  // namespace loupe
