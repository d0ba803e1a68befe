// The resource each service's metric series carry over OTLP (issue 15): the same identity as its
// spans, at the level the series aggregate. RED series are per service on this host, summed over
// the service's processes and pods, so their resource is workload-level: service.name,
// service.namespace, host.name and the Kubernetes namespace, workload and node — never a pod's
// name or uid, a container id or a pid (those stay on spans and in Prometheus' info series).
//
// RedMetrics fills it on the event thread when a service gets its first series; the OTLP metric
// exporter reads it on its own thread. Bounded by the services RedMetrics admits (its per-family
// service cap) and, to be safe on its own, by `max_services`; a service past that keeps the
// resource its labels give (service.name, service.namespace).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/record.h"
#include "userspace/core/resource.h"

namespace loupe {

class ServiceResources {
 public:
  explicit ServiceResources(size_t max_services = 4096) : max_services_(max_services) {}

  // Remembers the resource of `resource`'s service (service_namespace, service_name), unless
  // one is already known: the first process seen speaks for its service.
  void Remember(const ProcessResource& resource);

  // The service's resource attributes (service.name first), or just service.name and, when
  // given, service.namespace for a service never remembered.
  std::vector<Attribute> Find(std::string_view service_namespace,
                              std::string_view service_name) const;

  size_t size() const;

  // What a service's labels alone say: service.name and, when given, service.namespace.
  static std::vector<Attribute> FromLabels(std::string_view service_namespace,
                                           std::string_view service_name);

 private:
  static std::string Key(std::string_view service_namespace, std::string_view service_name);

  const size_t max_services_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::vector<Attribute>> by_service_;
};

}  // namespace loupe
