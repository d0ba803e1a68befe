// The Kubernetes metadata source: this node's pods, watched in their own thread, offered to the
// rest of the agent as a PodDirectory. The agent creates it when NODE_NAME is set (the DaemonSet
// gives it through the downward API) or the configuration enables it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "userspace/core/clock.h"
#include "userspace/core/kubernetes_identity.h"
#include "userspace/k8s/kube_api_client.h"
#include "userspace/k8s/owner_resolver.h"
#include "userspace/k8s/pod_directory.h"
#include "userspace/k8s/pod_watcher.h"

namespace loupe {

struct KubernetesSourceOptions {
  KubeApiConfig api;        // InClusterApiConfig, or the configuration's override
  PodWatcherOptions watch;  // node_name is required
  PodDirectoryLimits limits;
  OwnerResolverOptions owners;
  CurlKubeApiOptions http;
};

class KubernetesSource {
 public:
  // Starts the watch thread. Fails only on what the configuration can fix (no node name); an
  // API server that does not answer is a warning and a metric, and is retried.
  static absl::StatusOr<std::unique_ptr<KubernetesSource>> Start(
      const KubernetesSourceOptions& options, prometheus::Registry& registry, const Clock* clock);
  ~KubernetesSource();  // stops the thread first

  const PodDirectory* directory() const { return directory_.get(); }
  // Lets the watch thread wind down (up to a second inside a request) while the agent drains;
  // the destructor joins it. The directory keeps answering meanwhile.
  void RequestStop() { watcher_->RequestStop(); }

 private:
  KubernetesSource() = default;

  // In dependency order: the watcher, declared last, is stopped first.
  std::unique_ptr<KubernetesMetrics> metrics_;
  std::unique_ptr<KubernetesPodDirectory> directory_;
  std::unique_ptr<CurlKubeApiClient> owner_client_;
  std::unique_ptr<OwnerResolver> owners_;
  std::unique_ptr<CurlKubeApiClient> watch_client_;
  std::unique_ptr<PodWatcher> watcher_;
};

}  // namespace loupe
