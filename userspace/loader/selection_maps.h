// The kernel's half of process selection (bpf/selection.bpf.h): the map of excluded processes
// the daemon writes, and the port map it fills once before the programs attach.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace loupe {

// The excluded processes the kernel skips at accept/connect. An interface so the daemon's
// exclusion stage is tested without a kernel.
class ExcludedProcessMap {
 public:
  virtual ~ExcludedProcessMap() = default;
  // False when the map is full (the process's records are then dropped in userspace instead).
  virtual bool Add(uint32_t tgid) = 0;
  virtual void Remove(uint32_t tgid) = 0;
  // Deletes the tracked connections of these processes (opened before they were excluded), so
  // that their data stops at the connection lookup too. Returns how many went.
  virtual uint64_t ForgetConnections(const absl::flat_hash_set<uint32_t>& tgids) = 0;
};

// Over the capture's maps; holds its own duplicates of their fds.
absl::StatusOr<std::unique_ptr<ExcludedProcessMap>> MakeBpfExcludedProcessMap(int excluded_fd,
                                                                             int conns_fd);

// The port_rules mode (LOUPE_PORTS_*) for these lists.
uint8_t PortRulesMode(const std::vector<uint16_t>& include_ports,
                      const std::vector<uint16_t>& exclude_ports);

// Writes the port verdicts; an excluded port stays excluded when it is also listed as included.
absl::Status FillSelectedPorts(int ports_fd, const std::vector<uint16_t>& include_ports,
                               const std::vector<uint16_t>& exclude_ports);

}  // namespace loupe
