// Decides, from a process's resource alone, whether the agent instruments it, and says why.
// Pure: no /proc, no kernel, no clock; the pipeline calls it and writes the verdict to the
// kernel's map of excluded processes (daemon/process_exclusion.h).
//
// The rules (config/selection_config.h), in order:
//   1. an exclude rule that matches           → excluded ("excluded by selection.exclude[0]: ...")
//      (`exclude_processes` names count as one more exclude rule on executables)
//   2. include rules given and none matches   → excluded ("matches no selection.include rule")
//   3. otherwise                               → instrumented
// A rule on namespaces, pod labels or workloads cannot match before the process's pod identity
// is known. While a containerized process awaits it, the verdict is provisional (`final` false):
// it is applied to records in userspace but not written to the kernel, and taken again when the
// resource changes.
#pragma once

#include <string>
#include <vector>

#include "userspace/config/selection_config.h"
#include "userspace/core/resource.h"

namespace loupe {

struct SelectionDecision {
  bool instrumented = true;
  // False while a rule needs the pod identity that this process (in a container) does not have
  // yet: the verdict may change when it arrives.
  bool final = true;
  std::string reason;
};

class ProcessSelector {
 public:
  // `exclude_processes`: executable names, the setting that came before `selection`.
  // `kubernetes_identities`: whether a pod directory can ever fill ProcessResource::kubernetes;
  // without one, a container's missing identity is final.
  ProcessSelector(SelectionConfig selection, std::vector<std::string> exclude_processes,
                  bool kubernetes_identities);

  SelectionDecision Decide(const ProcessResource& process) const;

  // True when no process rule could ever exclude anything.
  bool selects_everything() const { return include_.empty() && exclude_.empty(); }
  // True when a process outside any container can be excluded (an include rule, or an exclude
  // rule that does not need a pod): only then is scanning the running processes at start useful.
  bool decides_host_processes() const;

 private:
  struct NamedRule {
    std::string name;  // as the config spells its place, e.g. "selection.exclude[2]"
    ProcessRule rule;
  };

  std::vector<NamedRule> include_;
  std::vector<NamedRule> exclude_;
  bool kubernetes_identities_;
  bool rules_need_kubernetes_ = false;
};

// fnmatch(3) without flags: `*`, `?`, `[...]`; a pattern without them is an exact match.
bool GlobMatches(const std::string& pattern, const std::string& text);

}  // namespace loupe
