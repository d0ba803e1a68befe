#include "userspace/process/process_selector.h"

#include <fnmatch.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace loupe {
namespace {

// The first pattern of `patterns` that `text` matches, or null.
const std::string* FirstMatch(const std::vector<std::string>& patterns, const std::string& text) {
  for (const std::string& pattern : patterns) {
    if (GlobMatches(pattern, text)) return &pattern;
  }
  return nullptr;
}

bool WorkloadMatches(const std::string& pattern, const WorkloadRef& workload) {
  if (workload.name.empty()) return false;
  if (pattern.find('/') != std::string::npos) {
    return GlobMatches(pattern, absl::StrCat(workload.kind, "/", workload.name));
  }
  return GlobMatches(pattern, workload.name);
}

bool LabelsMatch(const std::vector<std::pair<std::string, std::string>>& wanted,
                 const KubernetesIdentity& pod) {
  for (const auto& [key, value_pattern] : wanted) {
    bool found = false;
    for (const auto& [label, value] : pod.pod_labels) {
      if (label == key && GlobMatches(value_pattern, value)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

// Why `rule` matches `process` ("namespace \"kube-system\", executable \"java\""), or nullopt.
std::optional<std::string> Explain(const ProcessRule& rule, const ProcessResource& process) {
  std::vector<std::string> why;
  const KubernetesIdentity* pod = process.kubernetes.get();
  if (rule.NeedsKubernetes() && pod == nullptr) return std::nullopt;
  if (!rule.namespaces.empty()) {
    if (FirstMatch(rule.namespaces, pod->namespace_name) == nullptr) return std::nullopt;
    why.push_back(absl::StrCat("namespace \"", pod->namespace_name, "\""));
  }
  if (!rule.pod_labels.empty()) {
    if (!LabelsMatch(rule.pod_labels, *pod)) return std::nullopt;
    why.push_back("pod labels");
  }
  if (!rule.workloads.empty()) {
    bool matched = false;
    for (const std::string& pattern : rule.workloads) {
      if (WorkloadMatches(pattern, pod->workload)) {
        matched = true;
        break;
      }
    }
    if (!matched) return std::nullopt;
    why.push_back(absl::StrCat("workload \"", pod->workload.kind, "/", pod->workload.name, "\""));
  }
  if (!rule.executables.empty()) {
    if (FirstMatch(rule.executables, process.executable_name) == nullptr) return std::nullopt;
    why.push_back(absl::StrCat("executable \"", process.executable_name, "\""));
  }
  std::string joined;
  for (const std::string& part : why) {
    if (!joined.empty()) joined += ", ";
    joined += part;
  }
  return joined;
}

}  // namespace

bool GlobMatches(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

ProcessSelector::ProcessSelector(SelectionConfig selection,
                                 std::vector<std::string> exclude_processes,
                                 bool kubernetes_identities)
    : kubernetes_identities_(kubernetes_identities) {
  for (size_t i = 0; i < selection.include.size(); ++i) {
    include_.push_back({absl::StrCat("selection.include[", i, "]"), selection.include[i]});
  }
  for (size_t i = 0; i < selection.exclude.size(); ++i) {
    exclude_.push_back({absl::StrCat("selection.exclude[", i, "]"), selection.exclude[i]});
  }
  if (!exclude_processes.empty()) {
    ProcessRule rule;
    rule.executables = std::move(exclude_processes);
    exclude_.push_back({"exclude_processes", std::move(rule)});
  }
  for (const auto* rules : {&include_, &exclude_}) {
    for (const NamedRule& named : *rules) {
      rules_need_kubernetes_ = rules_need_kubernetes_ || named.rule.NeedsKubernetes();
    }
  }
}

bool ProcessSelector::decides_host_processes() const {
  if (!include_.empty()) return true;
  for (const NamedRule& named : exclude_) {
    if (!named.rule.NeedsKubernetes()) return true;
  }
  return false;
}

SelectionDecision ProcessSelector::Decide(const ProcessResource& process) const {
  SelectionDecision decision;
  // A process in a container whose pod the directory does not know yet may still match a rule
  // on pods: whatever is decided now is provisional.
  decision.final = !(rules_need_kubernetes_ && kubernetes_identities_ &&
                     process.kubernetes == nullptr && !process.container_id.empty());
  for (const NamedRule& named : exclude_) {
    if (std::optional<std::string> why = Explain(named.rule, process)) {
      decision.instrumented = false;
      decision.reason = absl::StrCat("excluded by ", named.name, ": ", *why);
      return decision;
    }
  }
  if (!include_.empty()) {
    for (const NamedRule& named : include_) {
      if (std::optional<std::string> why = Explain(named.rule, process)) {
        decision.reason = absl::StrCat("included by ", named.name, ": ", *why);
        return decision;
      }
    }
    decision.instrumented = false;
    decision.reason = decision.final ? "matches no selection.include rule"
                                     : "matches no selection.include rule (pod identity not "
                                       "known yet)";
    return decision;
  }
  decision.reason = "no rule excludes it";
  return decision;
}

}  // namespace loupe
