// A process resource's identity as OpenTelemetry attributes (semantic conventions for service,
// container and Kubernetes), written once for every exporter: OTLP spans, OTLP metrics, the JSON
// span printer, the Prometheus info series.
#pragma once

#include <string_view>
#include <vector>

#include "userspace/core/record.h"
#include "userspace/core/resource.h"

namespace loupe {

// "k8s.deployment.name" for "Deployment", and so for StatefulSet, DaemonSet, ReplicaSet, Job and
// CronJob; "" for any other kind (or none: a bare pod).
std::string_view WorkloadAttributeKey(std::string_view kind);

// service.namespace, container.id, then k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
// k8s.container.name, k8s.node.name and the workload's k8s.<kind>.name; empty values left out.
// What a span's resource carries beyond service.name and the process attributes.
std::vector<Attribute> IdentityAttributes(const ProcessResource& resource);

// The part of IdentityAttributes every process of one workload on this node shares:
// service.namespace, k8s.namespace.name, the workload's k8s.<kind>.name and k8s.node.name. The
// resource of metric series, which aggregate over the workload's pods: never a pod's name, uid,
// container id or pid.
std::vector<Attribute> WorkloadAttributes(const ProcessResource& resource);

}  // namespace loupe
