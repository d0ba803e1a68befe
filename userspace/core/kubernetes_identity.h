// Who a container is in Kubernetes, as this node's pod watch knows it (issue 15). The model-layer
// contract between the metadata source (userspace/k8s/), process resources (process/), process
// selection and /status: they all read this, none of them reads the others' internals.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe {

// The workload a pod belongs to, after following owners to the top (ReplicaSet -> Deployment,
// Job -> CronJob). `kind` is the Kubernetes kind ("Deployment", "StatefulSet", "DaemonSet",
// "ReplicaSet", "Job", "CronJob"); empty for a bare pod.
struct WorkloadRef {
  std::string kind;
  std::string name;
};

struct KubernetesIdentity {
  std::string namespace_name;  // k8s.namespace.name (also service.namespace)
  std::string pod_name;        // k8s.pod.name
  std::string pod_uid;         // k8s.pod.uid
  std::string container_name;  // k8s.container.name
  std::string node_name;       // k8s.node.name
  std::string container_id;    // container.id (the runtime's full id, no "containerd://" prefix)
  WorkloadRef workload;        // k8s.deployment.name, k8s.statefulset.name, ... by kind
  // The pod's `resource.opentelemetry.io/service.name` annotation and `app.kubernetes.io/name`
  // label (empty when absent): steps of the service-naming order.
  std::string service_name_annotation;
  std::string app_name_label;
  // The pod's labels, for process selection (bounded by the watch: it keeps at most a fixed
  // number per pod, with bounded lengths).
  std::vector<std::pair<std::string, std::string>> pod_labels;
};

// A non-blocking view of the node's pods, read on the event thread. Implementations keep a
// snapshot that their own thread refreshes; a lookup never waits for the API server.
class PodDirectory {
 public:
  virtual ~PodDirectory() = default;

  // The identity of the container with this runtime id, or null when no pod of this node has it
  // (not a Kubernetes container, or the watch has not seen it yet).
  virtual std::shared_ptr<const KubernetesIdentity> FindContainer(
      std::string_view container_id) const = 0;

  // Grows each time the snapshot changes: a resource resolved without an identity is worth
  // resolving again only after this moved.
  virtual uint64_t generation() const = 0;

  // True once the first full list of the node's pods has been read (until then a miss says
  // nothing about whether the process is in a pod).
  virtual bool synced() const = 0;
};

}  // namespace loupe
