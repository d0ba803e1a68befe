// Follows a pod's controller to its workload: ReplicaSet -> Deployment and Job -> CronJob by
// reading the ReplicaSet or Job (one GET each, cached); StatefulSet, DaemonSet and any other
// controller are the workload themselves. Runs on the watch thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/clock.h"
#include "userspace/core/kubernetes_identity.h"
#include "userspace/k8s/kube_api_client.h"
#include "userspace/k8s/kubernetes_metrics.h"
#include "userspace/k8s/pod_json.h"

namespace loupe {

struct OwnerResolverOptions {
  // ReplicaSets and Jobs remembered; the oldest is forgotten first. A Deployment keeps its old
  // ReplicaSets (revisionHistoryLimit 10), so a node's pods rarely need more than a few hundred.
  size_t capacity = 1024;
  // A lookup that failed (forbidden, unreachable) names the workload after the ReplicaSet or Job
  // itself until it is tried again, this long after.
  uint64_t retry_after_failure_ns = 60'000'000'000;
};

class OwnerResolver {
 public:
  OwnerResolver(OwnerResolverOptions options, KubeApiClient* client, const Clock* clock,
                KubernetesMetrics* metrics);

  // The workload of a pod in `namespace_name` with these owners; empty for a bare pod.
  WorkloadRef Resolve(const std::string& namespace_name, const std::vector<OwnerReference>& owners);

  size_t cached() const { return cache_.size(); }

 private:
  struct Entry {
    WorkloadRef workload;
    uint64_t expires_ns = 0;  // 0: for good
  };
  // Reads `kind` `name` and returns its controller as the workload when it has one of
  // `parent_kind`; `kind` `name` itself otherwise.
  WorkloadRef Lookup(const std::string& namespace_name, const std::string& kind,
                     const std::string& name, const std::string& parent_kind, bool* failed);
  void Remember(std::string key, WorkloadRef workload, uint64_t expires_ns);

  const OwnerResolverOptions options_;
  KubeApiClient* const client_;
  const Clock* const clock_;
  KubernetesMetrics* const metrics_;
  absl::flat_hash_map<std::string, Entry> cache_;  // "<kind>/<namespace>/<name>"
  std::deque<std::string> order_;                  // keys, oldest first
  bool warned_ = false;
};

}  // namespace loupe
