#include "userspace/core/resource_attributes.h"

#include <array>
#include <string>
#include <utility>

namespace loupe {
namespace {

void AddIfSet(std::string_view key, const std::string& value, std::vector<Attribute>* out) {
  if (!value.empty()) out->push_back(Attribute{std::string(key), value, false});
}

void AddWorkload(const KubernetesIdentity& k, std::vector<Attribute>* out) {
  const std::string_view key = WorkloadAttributeKey(k.workload.kind);
  if (!key.empty()) AddIfSet(key, k.workload.name, out);
}

}  // namespace

std::string_view WorkloadAttributeKey(std::string_view kind) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kKeys = {{
      {"Deployment", "k8s.deployment.name"},
      {"StatefulSet", "k8s.statefulset.name"},
      {"DaemonSet", "k8s.daemonset.name"},
      {"ReplicaSet", "k8s.replicaset.name"},
      {"Job", "k8s.job.name"},
      {"CronJob", "k8s.cronjob.name"},
  }};
  for (const auto& [name, key] : kKeys) {
    if (name == kind) return key;
  }
  return "";
}

std::vector<Attribute> IdentityAttributes(const ProcessResource& resource) {
  std::vector<Attribute> out;
  AddIfSet("service.namespace", resource.service_namespace, &out);
  AddIfSet("container.id", resource.container_id, &out);
  if (resource.kubernetes == nullptr) return out;
  const KubernetesIdentity& k = *resource.kubernetes;
  AddIfSet("k8s.namespace.name", k.namespace_name, &out);
  AddIfSet("k8s.pod.name", k.pod_name, &out);
  AddIfSet("k8s.pod.uid", k.pod_uid, &out);
  AddIfSet("k8s.container.name", k.container_name, &out);
  AddIfSet("k8s.node.name", k.node_name, &out);
  AddWorkload(k, &out);
  return out;
}

std::vector<Attribute> WorkloadAttributes(const ProcessResource& resource) {
  std::vector<Attribute> out;
  AddIfSet("service.namespace", resource.service_namespace, &out);
  if (resource.kubernetes == nullptr) return out;
  const KubernetesIdentity& k = *resource.kubernetes;
  AddIfSet("k8s.namespace.name", k.namespace_name, &out);
  AddWorkload(k, &out);
  AddIfSet("k8s.node.name", k.node_name, &out);
  return out;
}

}  // namespace loupe
