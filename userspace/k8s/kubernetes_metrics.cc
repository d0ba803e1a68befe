#include "userspace/k8s/kubernetes_metrics.h"

#include "userspace/metrics/metric_registration.h"

namespace loupe {
namespace {

constexpr char kLookupsName[] = "loupe_kubernetes_container_lookups_total";
constexpr char kLookupsHelp[] =
    "Container ids looked up in the node's pods: hit (a pod has it) or miss";

}  // namespace

const char* ApiRequestName(ApiRequest request) {
  switch (request) {
    case ApiRequest::kList: return "list";
    case ApiRequest::kWatch: return "watch";
    case ApiRequest::kOwner: return "owner";
  }
  return "unknown";
}

const char* ApiResultName(ApiResult result) {
  switch (result) {
    case ApiResult::kOk: return "ok";
    case ApiResult::kUnreachable: return "unreachable";
    case ApiResult::kUnauthorized: return "unauthorized";
    case ApiResult::kForbidden: return "forbidden";
    case ApiResult::kExpired: return "expired";
    case ApiResult::kError: return "error";
  }
  return "unknown";
}

KubernetesMetrics::KubernetesMetrics(prometheus::Registry& registry)
    : requests_(CounterFamily(registry, "loupe_kubernetes_api_requests_total",
                              "Requests to the Kubernetes API server by request (list, watch, "
                              "owner) and result")),
      lists_(CounterFamily(registry, "loupe_kubernetes_pod_lists_total",
                           "Full lists of this node's pods, by reason (start, expired, retry)")),
      watch_events_(CounterFamily(registry, "loupe_kubernetes_watch_events_total",
                                  "Pod watch events received, by type")),
      dropped_(CounterFamily(registry, "loupe_kubernetes_dropped_total",
                             "Pod metadata not kept, by reason (max_pods, label_bound, "
                             "event_invalid, event_too_large)")),
      api_available_(AddGauge(registry, "loupe_kubernetes_api_available",
                              "1 while the node's pod list and watch work, 0 after a failure "
                              "(services are then named from the process view)")),
      lookup_hit_(AddCounter(registry, kLookupsName, kLookupsHelp, {{"result", "hit"}})),
      lookup_miss_(AddCounter(registry, kLookupsName, kLookupsHelp, {{"result", "miss"}})),
      pods_(AddGauge(registry, "loupe_kubernetes_pods", "Pods of this node the agent knows")),
      containers_(AddGauge(registry, "loupe_kubernetes_containers",
                           "Containers of this node's pods the agent knows")),
      owner_cache_entries_(AddGauge(registry, "loupe_kubernetes_owner_cache_entries",
                                    "ReplicaSets and Jobs whose workload is cached")) {}

void KubernetesMetrics::Request(ApiRequest request, ApiResult result) {
  requests_.Add({{"request", ApiRequestName(request)}, {"result", ApiResultName(result)}})
      .Increment();
}

void KubernetesMetrics::List(const std::string& reason) {
  lists_.Add({{"reason", reason}}).Increment();
}

void KubernetesMetrics::WatchEvent(const std::string& type) {
  watch_events_.Add({{"type", type}}).Increment();
}

void KubernetesMetrics::Dropped(const std::string& reason, double count) {
  dropped_.Add({{"reason", reason}}).Increment(count);
}

}  // namespace loupe
