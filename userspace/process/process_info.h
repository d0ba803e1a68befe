// Who a process is: its service name and OpenTelemetry resource, read from /proc once and cached
// (bounded; entries are re-validated against the process start time so a reused pid is noticed).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/kubernetes_identity.h"
#include "userspace/core/resource.h"

namespace loupe {

// What /proc tells about a process; separated from the cache so naming rules are unit-tested.
struct ProcessFacts {
  int64_t pid = 0;
  std::string exe_path;                // readlink /proc/pid/exe
  std::vector<std::string> argv;       // /proc/pid/cmdline
  std::string comm;                    // /proc/pid/comm
  std::optional<std::string> otel_service_name;        // from the process's environment
  std::optional<std::string> otel_resource_attributes;  // from the process's environment
  uint64_t start_time_ticks = 0;       // /proc/pid/stat field 22
  std::string container_id;            // from /proc/pid/cgroup (container_id.h); "" on the host
};

std::optional<ProcessFacts> ReadProcessFacts(int64_t pid);

// Whether `pid` still exists: <proc_root>/<pid> is there ("/proc" outside tests).
bool ProcessAlive(const std::string& proc_root, uint32_t pid);

// The name a process gives itself: OTEL_SERVICE_NAME, then service.name in
// OTEL_RESOURCE_ATTRIBUTES; "" when it gives none.
std::string ExplicitServiceName(const ProcessFacts& facts);

// The name the process's own view suggests: the script an interpreter runs (python app.py ->
// "app"; python -m http.server -> "http.server"), then the executable's name, then comm.
std::string ProcessViewServiceName(const ProcessFacts& facts);

// The OpenTelemetry naming order (issue 15), the same for spans, OTLP metrics and Prometheus:
// the process's own name (`explicit_name`: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES), then,
// in Kubernetes, the pod's `resource.opentelemetry.io/service.name` annotation, its
// `app.kubernetes.io/name` label, its workload's name (Deployment, StatefulSet, ...), its
// container's name; then the process view.
std::string ServiceNameFor(std::string_view explicit_name, const KubernetesIdentity* kubernetes,
                           std::string_view process_view);

// ServiceNameFor a process outside Kubernetes (or not yet known there).
std::string ServiceNameOf(const ProcessFacts& facts);

class ProcessInfoCache {
 public:
  using Reader = std::function<std::optional<ProcessFacts>(int64_t pid)>;

  // `agent_attributes` (the agent's own OTEL_RESOURCE_ATTRIBUTES) are added to every resource.
  // The command line (process.command_line) is only filled with `export_command_line`, redacted
  // by RedactCommandLine (core/redact.h): no redactor knows every program's way of taking a
  // password, so by default it is not exported at all.
  // `pods` (optional, must outlive the cache) gives processes in a container their Kubernetes
  // identity; a process whose container it did not know is looked up again once its
  // generation() moved (one lookup per Get after each move, never a scan).
  ProcessInfoCache(std::string host_name, size_t max_entries, Reader reader = ReadProcessFacts,
                   std::vector<Attribute> agent_attributes = {}, bool export_command_line = false,
                   const PodDirectory* pods = nullptr);

  // Never null. A process that exited before we looked is named after `comm_hint` (the comm the
  // kernel saw when the connection opened), never after its pid, to keep service names bounded.
  std::shared_ptr<const ProcessResource> Get(uint32_t tgid, uint64_t now_ns,
                                             std::string_view comm_hint = {});

  size_t size() const { return entries_.size(); }

  // Optional: told of every resource the cache builds or renames (a new process, a reused pid,
  // a Kubernetes identity that arrived or changed), on the caller's thread, before Get returns
  // it. Set before the first Get.
  using ResourceListener = std::function<void(const ProcessResource&)>;
  void set_resource_listener(ResourceListener listener) { listener_ = std::move(listener); }

 private:
  // What naming needs besides the Kubernetes identity, kept so that a late identity renames
  // the process without reading /proc again.
  struct Naming {
    std::string explicit_name;       // ExplicitServiceName
    std::string explicit_namespace;  // service.namespace in the process's OTEL_RESOURCE_ATTRIBUTES
    std::string process_view;        // ProcessViewServiceName (or the comm hint)
  };
  struct Entry {
    std::shared_ptr<const ProcessResource> resource;
    Naming naming;
    uint64_t start_time_ticks = 0;
    uint64_t checked_ns = 0;
    uint64_t pods_generation = 0;  // of `pods_` when the identity was last looked up
    std::list<uint32_t>::iterator lru;
  };

  // Fills entry->resource, naming and pods_generation.
  void Build(uint32_t tgid, const ProcessFacts* facts, std::string_view comm_hint,
             Entry* entry) const;
  // Names the resource after `naming` and its identity (service.name, service.namespace).
  void ApplyNaming(const Naming& naming, ProcessResource* resource) const;
  // A process in a container is looked up again when the pod directory changed since its last
  // lookup; the resource is replaced (never modified: spans hold it) when its identity did.
  // Returns whether it replaced the resource.
  bool RefreshIdentity(Entry* entry) const;
  // Tells the listener (if any) of the entry's resource.
  void Announce(const Entry& entry) const;

  std::string host_name_;
  std::string agent_namespace_;  // service.namespace in the agent's own attributes
  const PodDirectory* pods_;
  size_t max_entries_;
  std::vector<Attribute> agent_attributes_;
  bool export_command_line_;
  Reader reader_;
  ResourceListener listener_;
  absl::flat_hash_map<uint32_t, Entry> entries_;
  std::list<uint32_t> lru_;
};

// Parses "k1=v1,k2=v2" (values percent-decoded) as in OTEL_RESOURCE_ATTRIBUTES; bad pairs are
// skipped.
std::vector<Attribute> ParseResourceAttributes(std::string_view text);

}  // namespace loupe
