// `loupe ps`: a line per process a running agent knows, read from its /status endpoint — pid,
// service, Kubernetes namespace/pod and workload, protocols, exchanges counted, whether it is
// instrumented and, if not entirely, why. Exits 0 on an answer, 1 when no agent answers, 2 for
// a bad command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe {

int RunPsCommand(const std::vector<std::string>& args);

// The table `loupe ps` prints for a /status body (for tests). An error when `status_json` is
// not a /status answer.
absl::StatusOr<std::string> FormatProcessStatus(std::string_view status_json);

}  // namespace loupe
