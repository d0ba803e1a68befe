// Which processes and connections the agent instruments: the `selection` section of the config
// file (docs/configuration.md). Parsed and checked here; decided by process/process_selector.h
// (per process) and by the kernel's port map (per connection, bpf/selection.bpf.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace YAML {
class Node;
}

namespace loupe {

// One rule about a process. Every field given must match (a rule is an AND of its fields); an
// empty field is not consulted. Patterns are shell globs (fnmatch: `*`, `?`, `[...]`); a pattern
// without them matches exactly.
struct ProcessRule {
  std::vector<std::string> namespaces;  // the pod's namespace
  // label key → value pattern; the pod must carry every key with a matching value.
  std::vector<std::pair<std::string, std::string>> pod_labels;
  // The pod's workload: "Kind/name" patterns (a '/' in the pattern) or name patterns.
  std::vector<std::string> workloads;
  std::vector<std::string> executables;  // the executable's file name (not its path)

  // True when the rule can only match a process whose pod identity is known.
  bool NeedsKubernetes() const {
    return !namespaces.empty() || !pod_labels.empty() || !workloads.empty();
  }
};

// Namespaces Kubernetes itself runs in: excluded unless the config says otherwise.
inline std::vector<std::string> DefaultExcludedNamespaces() {
  return {"kube-system", "kube-public", "kube-node-lease"};
}

struct SelectionConfig {
  // Empty: every process that no exclude rule names. Otherwise only processes an include rule
  // names.
  std::vector<ProcessRule> include;
  // Given in the config, this list replaces the default (write the default back to keep it).
  std::vector<ProcessRule> exclude = {ProcessRule{DefaultExcludedNamespaces(), {}, {}, {}}};
  // Per connection, by its server port (the local port of an accepted connection, the remote
  // port of one made), decided in the kernel. Empty include_ports: every port.
  std::vector<uint16_t> include_ports;
  std::vector<uint16_t> exclude_ports;
};

// Bounds that keep the per-process decision and the kernel's port map small.
inline constexpr size_t kMaxSelectionRules = 64;      // per list
inline constexpr size_t kMaxPatternsPerField = 64;
inline constexpr size_t kMaxSelectionPorts = 64;      // per list

// Applies the `selection` mapping. Unknown keys, wrong types, empty rules and bad ports are
// errors whose message names the key (e.g. "selection.exclude[1].namespaces").
absl::Status ApplySelectionYaml(const YAML::Node& node, SelectionConfig* selection);

}  // namespace loupe
