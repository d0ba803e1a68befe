// `loupe slo`: prints Prometheus SLO rules (see slo_rules.h) for services named on the command
// line or discovered from a running agent's /metrics page.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe {

// `args` are the words after `loupe slo`. Prints YAML to stdout; on error prints to stderr and
// returns 2. Returns 0 on success (and for --help).
int RunSloCommand(const std::vector<std::string>& args);

// Same, with the output streams given (for tests).
int RunSloCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Reads a metrics page: an http:// or https:// URL is fetched with libcurl (10 s timeout,
// 64 MiB cap), anything else is read as a local file.
absl::StatusOr<std::string> ReadMetricsSource(const std::string& file_or_url);

}  // namespace loupe
