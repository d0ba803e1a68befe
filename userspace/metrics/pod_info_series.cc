#include "userspace/metrics/pod_info_series.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "userspace/core/resource_attributes.h"
#include "userspace/metrics/metric_registration.h"

namespace loupe {
namespace {

constexpr char kFamily[] = "loupe_service_pod_info";

prometheus::Labels LabelsOf(const ProcessResource& resource) {
  prometheus::Labels labels{{"service_name", resource.service_name}};
  // service.namespace, container.id, k8s.*: their Prometheus names (dots become underscores).
  for (const Attribute& attribute : IdentityAttributes(resource)) {
    labels[absl::StrReplaceAll(attribute.key, {{".", "_"}})] = attribute.value;
  }
  return labels;
}

}  // namespace

PodInfoSeries::PodInfoSeries(prometheus::Registry& registry, const PodDirectory* pods,
                             size_t max_series)
    : pods_(pods),
      max_series_(max_series),
      family_(&GaugeFamily(registry, kFamily,
                           "1 for each pod container and service the agent has seen a process "
                           "of: pod-level labels to join to the workload-level series on "
                           "service_name and service_namespace")),
      refused_(&AddCounter(registry, "loupe_service_pod_info_refused_total",
                           "Pod info series not created because loupe_service_pod_info was at "
                           "its bound")) {}

void PodInfoSeries::Update(const ProcessResource& resource) {
  if (resource.kubernetes == nullptr || resource.container_id.empty()) return;
  std::string key = absl::StrCat(resource.container_id, "\x1f", resource.service_namespace,
                                 "\x1f", resource.service_name);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.identity == resource.kubernetes) return;
    family_->Remove(it->second.gauge);  // the pod changed (labels, owner): relabel
    entries_.erase(it);
  } else if (entries_.size() >= max_series_) {
    refused_->Increment();
    return;
  }
  Entry entry;
  entry.gauge = &family_->Add(LabelsOf(resource));
  entry.gauge->Set(1);
  entry.container_id = resource.container_id;
  entry.identity = resource.kubernetes;
  entries_.emplace(std::move(key), std::move(entry));
}

void PodInfoSeries::Sweep() {
  if (pods_ == nullptr) return;
  const uint64_t generation = pods_->generation();
  if (generation == swept_generation_) return;
  swept_generation_ = generation;
  std::vector<std::string> gone;
  for (const auto& [key, entry] : entries_) {
    if (pods_->FindContainer(entry.container_id) == nullptr) gone.push_back(key);
  }
  for (const std::string& key : gone) {
    auto it = entries_.find(key);
    family_->Remove(it->second.gauge);
    entries_.erase(it);
  }
}

}  // namespace loupe
