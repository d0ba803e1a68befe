// Pod-level detail for Prometheus without pod labels on the RED series (issue 15): one info
// series per (container, service) the agent has seen a process of, in the manner of
// OpenTelemetry's `target_info`,
//
//   loupe_service_pod_info{service_name, service_namespace, k8s_namespace_name, k8s_pod_name,
//                          k8s_pod_uid, k8s_container_name, k8s_node_name, container_id,
//                          k8s_<kind>_name} 1
//
// so that a query joins a workload-level series to the pods behind it on the same service_name
// and service_namespace (docs/metrics.md). Bounded: at most `max_series` (refusals counted in
// loupe_service_pod_info_refused_total), and a pod's series goes once the pod directory no
// longer knows its container (Sweep).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "userspace/core/kubernetes_identity.h"
#include "userspace/core/resource.h"

namespace loupe {

inline constexpr size_t kDefaultPodInfoSeries = 1024;

class PodInfoSeries {
 public:
  // `pods` must outlive this. Everything runs on the event thread.
  PodInfoSeries(prometheus::Registry& registry, const PodDirectory* pods,
                size_t max_series = kDefaultPodInfoSeries);

  // A process resource was built or renamed: its pod's series is added (or relabelled). A
  // resource without a Kubernetes identity has none.
  void Update(const ProcessResource& resource);

  // Drops the series of containers the directory no longer knows (deleted pods). Does nothing
  // unless the directory changed since the last sweep.
  void Sweep();

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    prometheus::Gauge* gauge = nullptr;
    std::string container_id;
    std::shared_ptr<const KubernetesIdentity> identity;  // the one its labels came from
  };

  const PodDirectory* pods_;
  const size_t max_series_;
  prometheus::Family<prometheus::Gauge>* family_;
  prometheus::Counter* refused_;
  uint64_t swept_generation_ = 0;
  absl::flat_hash_map<std::string, Entry> entries_;  // key: container id, namespace, service
};

}  // namespace loupe
