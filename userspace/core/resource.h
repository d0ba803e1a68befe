// Who an instrumented process is, in OpenTelemetry terms (read by process/, carried by spans).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "userspace/core/kubernetes_identity.h"
#include "userspace/core/record.h"

namespace loupe {

// The OpenTelemetry resource of one instrumented process. Shared by all its spans.
struct ProcessResource {
  std::string service_name;
  // service.namespace: the process's own (OTEL_RESOURCE_ATTRIBUTES), else its Kubernetes
  // namespace, else the agent's; empty when none says.
  std::string service_namespace;
  std::string service_instance_id;  // "<host>:<pid>:<start time>" — stable for the process
  std::string host_name;
  int64_t pid = 0;
  std::string executable_name;
  std::string command_line;  // with secret-looking arguments redacted
  std::vector<Attribute> extra;  // from OTEL_RESOURCE_ATTRIBUTES (agent's and process's own)
  std::string container_id;      // container.id, from /proc/<pid>/cgroup; empty on the host
  // Null outside Kubernetes or while the node's pod watch does not know the container.
  std::shared_ptr<const KubernetesIdentity> kubernetes;
};

}  // namespace loupe
