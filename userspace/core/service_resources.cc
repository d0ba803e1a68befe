#include "userspace/core/service_resources.h"

#include "absl/strings/str_cat.h"
#include "userspace/core/resource_attributes.h"

namespace loupe {

std::string ServiceResources::Key(std::string_view service_namespace,
                                  std::string_view service_name) {
  return absl::StrCat(absl::string_view(service_namespace.data(), service_namespace.size()),
                      "\x1f", absl::string_view(service_name.data(), service_name.size()));
}

void ServiceResources::Remember(const ProcessResource& resource) {
  std::string key = Key(resource.service_namespace, resource.service_name);
  std::lock_guard<std::mutex> lock(mu_);
  if (by_service_.size() >= max_services_ || by_service_.contains(key)) return;
  std::vector<Attribute> attributes;
  attributes.push_back(Attribute{"service.name", resource.service_name, false});
  if (!resource.host_name.empty()) {
    attributes.push_back(Attribute{"host.name", resource.host_name, false});
  }
  for (Attribute& a : WorkloadAttributes(resource)) attributes.push_back(std::move(a));
  by_service_.emplace(std::move(key), std::move(attributes));
}

std::vector<Attribute> ServiceResources::Find(std::string_view service_namespace,
                                              std::string_view service_name) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_service_.find(Key(service_namespace, service_name));
    if (it != by_service_.end()) return it->second;
  }
  return FromLabels(service_namespace, service_name);
}

std::vector<Attribute> ServiceResources::FromLabels(std::string_view service_namespace,
                                                    std::string_view service_name) {
  std::vector<Attribute> attributes;
  attributes.push_back(Attribute{"service.name", std::string(service_name), false});
  if (!service_namespace.empty()) {
    attributes.push_back(Attribute{"service.namespace", std::string(service_namespace), false});
  }
  return attributes;
}

size_t ServiceResources::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_service_.size();
}

}  // namespace loupe
