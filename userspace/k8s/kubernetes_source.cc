#include "userspace/k8s/kubernetes_source.h"

#include <utility>

#include "userspace/core/status_macros.h"
#include "userspace/core/redact.h"
#include "userspace/logging/log.h"

namespace loupe {

absl::StatusOr<std::unique_ptr<KubernetesSource>> KubernetesSource::Start(
    const KubernetesSourceOptions& options, prometheus::Registry& registry, const Clock* clock) {
  if (options.watch.node_name.empty()) {
    return absl::InvalidArgumentError(
        "the Kubernetes metadata source needs this node's name: set NODE_NAME (the downward "
        "API's spec.nodeName) or kubernetes.node_name");
  }
  std::unique_ptr<KubernetesSource> source(new KubernetesSource());
  source->metrics_ = std::make_unique<KubernetesMetrics>(registry);
  source->directory_ =
      std::make_unique<KubernetesPodDirectory>(options.limits, source->metrics_.get());
  LOUPE_ASSIGN_OR_RETURN(source->owner_client_,
                         CurlKubeApiClient::Create(options.api, options.http));
  source->owners_ = std::make_unique<OwnerResolver>(options.owners, source->owner_client_.get(),
                                                    clock, source->metrics_.get());
  LOUPE_ASSIGN_OR_RETURN(source->watch_client_,
                         CurlKubeApiClient::Create(options.api, options.http));
  source->watcher_ = std::make_unique<PodWatcher>(options.watch, source->watch_client_.get(),
                                                  source->owners_.get(), source->directory_.get(),
                                                  source->metrics_.get());
  source->watcher_->Start();
  // The URL only: the token is never logged.
  log::Info("watching this node's pods for Kubernetes metadata",
            {{"node", options.watch.node_name}, {"api", RedactUrlCredentials(options.api.base_url)}});
  return source;
}

KubernetesSource::~KubernetesSource() {
  if (watcher_) watcher_->Stop();
}

}  // namespace loupe
