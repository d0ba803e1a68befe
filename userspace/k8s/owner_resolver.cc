#include "userspace/k8s/owner_resolver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

// The API paths of the two kinds whose owner is worth a read.
std::string ObjectPath(const std::string& kind, const std::string& namespace_name,
                       const std::string& name) {
  if (kind == "ReplicaSet") {
    return absl::StrCat("/apis/apps/v1/namespaces/", namespace_name, "/replicasets/", name);
  }
  return absl::StrCat("/apis/batch/v1/namespaces/", namespace_name, "/jobs/", name);
}

ApiResult ResultOf(int status) {
  if (status == 200) return ApiResult::kOk;
  if (status == 401) return ApiResult::kUnauthorized;
  if (status == 403) return ApiResult::kForbidden;
  return ApiResult::kError;
}

}  // namespace

OwnerResolver::OwnerResolver(OwnerResolverOptions options, KubeApiClient* client,
                             const Clock* clock, KubernetesMetrics* metrics)
    : options_(options), client_(client), clock_(clock), metrics_(metrics) {}

WorkloadRef OwnerResolver::Resolve(const std::string& namespace_name,
                                   const std::vector<OwnerReference>& owners) {
  const OwnerReference* controller = ControllerOf(owners);
  if (controller == nullptr) return {};
  std::string parent_kind;
  if (controller->kind == "ReplicaSet") {
    parent_kind = "Deployment";
  } else if (controller->kind == "Job") {
    parent_kind = "CronJob";
  } else {
    return {controller->kind, controller->name};
  }
  std::string key = absl::StrCat(controller->kind, "/", namespace_name, "/", controller->name);
  const uint64_t now_ns = clock_->MonotonicNs();
  if (auto it = cache_.find(key);
      it != cache_.end() && (it->second.expires_ns == 0 || now_ns < it->second.expires_ns)) {
    return it->second.workload;
  }
  bool failed = false;
  WorkloadRef workload =
      Lookup(namespace_name, controller->kind, controller->name, parent_kind, &failed);
  Remember(std::move(key), workload, failed ? now_ns + options_.retry_after_failure_ns : 0);
  metrics_->SetOwnerCacheEntries(cache_.size());
  return workload;
}

WorkloadRef OwnerResolver::Lookup(const std::string& namespace_name, const std::string& kind,
                                  const std::string& name, const std::string& parent_kind,
                                  bool* failed) {
  const WorkloadRef itself{kind, name};
  absl::StatusOr<KubeResponse> response = client_->Get(ObjectPath(kind, namespace_name, name));
  if (!response.ok()) {
    metrics_->Request(ApiRequest::kOwner, ApiResult::kUnreachable);
    *failed = true;
    return itself;
  }
  if (response->status == 404) {
    // Deleted meanwhile (its pods go with it): the pod is named after what it said.
    metrics_->Request(ApiRequest::kOwner, ApiResult::kOk);
    return itself;
  }
  const ApiResult result = ResultOf(response->status);
  metrics_->Request(ApiRequest::kOwner, result);
  if (result != ApiResult::kOk) {
    *failed = true;
    if (!warned_) {
      warned_ = true;
      log::Warn("cannot read a pod's owner: its workload is named after the ReplicaSet or Job "
                "(check the ClusterRole grants get on replicasets and jobs)",
                {{"kind", kind},
                 {"status", response->status},
                 {"message", StatusMessage(response->body)}});
    }
    return itself;
  }
  absl::StatusOr<OwnedObject> object = ParseOwnedObject(response->body);
  if (!object.ok()) {
    *failed = true;
    return itself;
  }
  const OwnerReference* parent = ControllerOf(object->owners);
  if (parent != nullptr && parent->kind == parent_kind) return {parent->kind, parent->name};
  return itself;
}

void OwnerResolver::Remember(std::string key, WorkloadRef workload, uint64_t expires_ns) {
  auto [it, inserted] = cache_.try_emplace(key);
  it->second = Entry{std::move(workload), expires_ns};
  if (!inserted) return;
  order_.push_back(std::move(key));
  while (cache_.size() > options_.capacity && !order_.empty()) {
    cache_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace loupe
