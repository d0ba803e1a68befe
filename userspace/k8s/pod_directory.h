// The node's pods as a PodDirectory (core/kubernetes_identity.h): the watch thread writes, the
// event thread reads a snapshot. Bounded: at most max_pods pods, max_labels_per_pod labels each,
// no key or value longer than max_label_length; everything left out is counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/kubernetes_identity.h"
#include "userspace/k8s/kubernetes_metrics.h"
#include "userspace/k8s/pod_json.h"

namespace loupe {

struct PodDirectoryLimits {
  // A node runs at most 110 pods by default (kubelet --max-pods); finished pods are not kept.
  size_t max_pods = 1024;
  size_t max_labels_per_pod = 32;
  // Label keys are at most 253 + 63 bytes and values 63 by the API's validation; the service
  // name annotation has no bound there.
  size_t max_label_length = 320;
};

// A pod with its owner already followed to its workload.
struct ResolvedPod {
  PodInfo pod;
  WorkloadRef workload;
};

class KubernetesPodDirectory final : public PodDirectory {
 public:
  KubernetesPodDirectory(PodDirectoryLimits limits, KubernetesMetrics* metrics);

  // PodDirectory, for any thread.
  std::shared_ptr<const KubernetesIdentity> FindContainer(
      std::string_view container_id) const override;
  uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  bool synced() const override { return synced_.load(std::memory_order_acquire); }

  // The writer's side, for one thread (the watch). A full list replaces everything: pods not in
  // it are dropped, and the directory is synced from then on.
  void ReplaceAll(std::vector<ResolvedPod> pods);
  // An added or modified pod. A finished pod (Succeeded, Failed) is removed instead: its
  // containers are gone.
  void Upsert(ResolvedPod pod);
  void Remove(const std::string& uid);

  size_t pods() const;

 private:
  using Identities = std::vector<std::shared_ptr<const KubernetesIdentity>>;
  using ContainerMap =
      absl::flat_hash_map<std::string, std::shared_ptr<const KubernetesIdentity>>;

  // The pod's containers as identities, within the bounds; `count_drops` counts what the bounds
  // left out.
  Identities IdentitiesOf(const ResolvedPod& pod, bool count_drops) const;
  // Whether `pod` changes what the directory holds for it (new pod, other containers, labels...).
  bool Changes(const std::string& uid, const Identities& identities) const;
  bool Store(ResolvedPod pod);  // false: nothing changed
  void Publish();

  const PodDirectoryLimits limits_;
  KubernetesMetrics* const metrics_;

  // Writer-only state: pod uid -> its containers' identities (empty while none has started).
  absl::flat_hash_map<std::string, Identities> pods_;
  size_t containers_ = 0;

  mutable std::mutex mu_;  // guards snapshot_ (the pointer; the map it points to is immutable)
  std::shared_ptr<const ContainerMap> snapshot_;
  std::atomic<size_t> pod_count_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> synced_{false};
};

}  // namespace loupe
