#include "userspace/k8s/pod_directory.h"

#include <utility>

namespace loupe {
namespace {

constexpr char kAppNameLabel[] = "app.kubernetes.io/name";

bool SameIdentity(const KubernetesIdentity& a, const KubernetesIdentity& b) {
  return a.container_id == b.container_id && a.container_name == b.container_name &&
         a.pod_uid == b.pod_uid && a.pod_name == b.pod_name &&
         a.namespace_name == b.namespace_name && a.node_name == b.node_name &&
         a.workload.kind == b.workload.kind && a.workload.name == b.workload.name &&
         a.service_name_annotation == b.service_name_annotation &&
         a.app_name_label == b.app_name_label && a.pod_labels == b.pod_labels;
}

bool Finished(const PodInfo& pod) { return pod.phase == "Succeeded" || pod.phase == "Failed"; }

}  // namespace

KubernetesPodDirectory::KubernetesPodDirectory(PodDirectoryLimits limits,
                                               KubernetesMetrics* metrics)
    : limits_(limits), metrics_(metrics), snapshot_(std::make_shared<const ContainerMap>()) {}

std::shared_ptr<const KubernetesIdentity> KubernetesPodDirectory::FindContainer(
    std::string_view container_id) const {
  std::shared_ptr<const ContainerMap> snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot = snapshot_;
  }
  auto it = snapshot->find(absl::string_view(container_id.data(), container_id.size()));
  const bool hit = it != snapshot->end();
  metrics_->Lookup(hit);
  return hit ? it->second : nullptr;
}

size_t KubernetesPodDirectory::pods() const { return pod_count_.load(std::memory_order_relaxed); }

KubernetesPodDirectory::Identities KubernetesPodDirectory::IdentitiesOf(const ResolvedPod& resolved,
                                                                        bool count_drops) const {
  const PodInfo& pod = resolved.pod;
  const size_t max_length = limits_.max_label_length;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string app_name;
  size_t dropped = 0;
  for (const auto& [key, value] : pod.labels) {  // sorted by key: the same ones are kept each time
    if (key.size() > max_length || value.size() > max_length) {
      ++dropped;
      continue;
    }
    if (key == kAppNameLabel) app_name = value;
    if (labels.size() >= limits_.max_labels_per_pod) {
      ++dropped;
      continue;
    }
    labels.emplace_back(key, value);
  }
  std::string annotation = pod.service_name_annotation;
  if (annotation.size() > max_length) {
    annotation.clear();  // a cut name would be a wrong name
    ++dropped;
  }
  if (count_drops && dropped > 0) metrics_->Dropped("label_bound", static_cast<double>(dropped));

  Identities identities;
  identities.reserve(pod.containers.size());
  for (const ContainerRef& container : pod.containers) {
    auto identity = std::make_shared<KubernetesIdentity>();
    identity->namespace_name = pod.namespace_name;
    identity->pod_name = pod.name;
    identity->pod_uid = pod.uid;
    identity->container_name = container.name;
    identity->node_name = pod.node_name;
    identity->container_id = container.id;
    identity->workload = resolved.workload;
    identity->service_name_annotation = annotation;
    identity->app_name_label = app_name;
    identity->pod_labels = labels;
    identities.push_back(std::move(identity));
  }
  return identities;
}

bool KubernetesPodDirectory::Changes(const std::string& uid, const Identities& identities) const {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return true;
  const Identities& old = it->second;
  if (old.size() != identities.size()) return true;
  for (size_t i = 0; i < old.size(); ++i) {
    if (!SameIdentity(*old[i], *identities[i])) return true;
  }
  return false;
}

bool KubernetesPodDirectory::Store(ResolvedPod resolved) {
  const std::string& uid = resolved.pod.uid;
  if (uid.empty()) return false;
  if (Finished(resolved.pod)) {
    auto it = pods_.find(uid);
    if (it == pods_.end()) return false;
    containers_ -= it->second.size();
    pods_.erase(it);
    return true;
  }
  const bool known = pods_.contains(uid);
  if (!known && pods_.size() >= limits_.max_pods) {
    metrics_->Dropped("max_pods");
    return false;
  }
  // Bounds are applied first, so a pod compares equal to what was kept of it before.
  Identities identities = IdentitiesOf(resolved, /*count_drops=*/false);
  if (!Changes(uid, identities)) return false;
  identities = IdentitiesOf(resolved, /*count_drops=*/true);
  Identities& slot = pods_[uid];
  containers_ = containers_ - slot.size() + identities.size();
  slot = std::move(identities);
  return true;
}

void KubernetesPodDirectory::ReplaceAll(std::vector<ResolvedPod> pods) {
  // Pods the list shows unchanged keep their identities (the same pointers), so readers that
  // compare what they hold see no change.
  absl::flat_hash_map<std::string, Identities> before = std::move(pods_);
  pods_.clear();
  containers_ = 0;
  for (ResolvedPod& pod : pods) {
    auto old = before.find(pod.pod.uid);
    if (old != before.end() && !Finished(pod.pod) && pods_.size() < limits_.max_pods) {
      Identities& slot = pods_[old->first];
      slot = std::move(old->second);
      containers_ += slot.size();
    }
    Store(std::move(pod));
  }
  Publish();
  synced_.store(true, std::memory_order_release);
}

void KubernetesPodDirectory::Upsert(ResolvedPod pod) {
  if (Store(std::move(pod))) Publish();
}

void KubernetesPodDirectory::Remove(const std::string& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  containers_ -= it->second.size();
  pods_.erase(it);
  Publish();
}

void KubernetesPodDirectory::Publish() {
  auto map = std::make_shared<ContainerMap>();
  map->reserve(containers_);
  for (const auto& [uid, identities] : pods_) {
    for (const auto& identity : identities) map->emplace(identity->container_id, identity);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(map);
  }
  pod_count_.store(pods_.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  metrics_->SetPods(pods_.size(), containers_);
}

}  // namespace loupe
