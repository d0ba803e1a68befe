// `loupe doctor`: what this host lets Loupe do. Probes the prerequisites (kernel BTF, the
// capabilities held) and every optional kernel feature the way the agent does at start, and
// prints for each: available or refused (with errno), what it is for, what Loupe does instead
// and what to change. Exits 0 when the agent can run (even degraded), 1 when it cannot run at
// all, 2 for a bad command line.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "userspace/loader/kernel_features.h"

namespace loupe {

int RunDoctorCommand(const std::vector<std::string>& args);

// The report for already probed features (for tests). `btf` is the BTF check's result.
// Returns the exit code.
int PrintDoctorReport(const KernelFeatures& features, const absl::Status& btf,
                      const std::string& kernel_release, std::ostream& out);

}  // namespace loupe
