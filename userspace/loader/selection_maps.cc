#include "userspace/loader/selection_maps.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "bpf/shared/loupe_abi.h"

namespace loupe {
namespace {

// Mirrors bpf/selection.bpf.h.
constexpr uint8_t kPortsNone = 0;
constexpr uint8_t kPortsExclude = 1;
constexpr uint8_t kPortsInclude = 2;
constexpr uint32_t kPortIncluded = 1;
constexpr uint32_t kPortExcluded = 2;

class BpfExcludedProcessMap : public ExcludedProcessMap {
 public:
  BpfExcludedProcessMap(int excluded_fd, int conns_fd)
      : excluded_fd_(excluded_fd), conns_fd_(conns_fd) {}
  ~BpfExcludedProcessMap() override {
    close(excluded_fd_);
    close(conns_fd_);
  }

  bool Add(uint32_t tgid) override {
    const uint32_t one = 1;
    return bpf_map_update_elem(excluded_fd_, &tgid, &one, BPF_ANY) == 0;
  }

  void Remove(uint32_t tgid) override { bpf_map_delete_elem(excluded_fd_, &tgid); }

  // Keys first, deletes after: deleting while walking would restart the walk (the kernel answers
  // a vanished key with the first key), quadratic in the table's size.
  uint64_t ForgetConnections(const absl::flat_hash_set<uint32_t>& tgids) override {
    std::vector<loupe_conn_key> doomed;
    loupe_conn_key key{};
    loupe_conn_key next{};
    const void* previous = nullptr;
    while (bpf_map_get_next_key(conns_fd_, previous, &next) == 0) {
      if (tgids.contains(next.tgid)) doomed.push_back(next);
      key = next;
      previous = &key;
    }
    uint64_t forgotten = 0;
    for (const loupe_conn_key& conn : doomed) {
      if (bpf_map_delete_elem(conns_fd_, &conn) == 0) ++forgotten;
    }
    return forgotten;
  }

 private:
  int excluded_fd_;
  int conns_fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExcludedProcessMap>> MakeBpfExcludedProcessMap(int excluded_fd,
                                                                             int conns_fd) {
  const int excluded = fcntl(excluded_fd, F_DUPFD_CLOEXEC, 0);
  if (excluded < 0) {
    return absl::InternalError(
        absl::StrCat("duplicating the excluded_tgids map fd failed: ", strerror(errno)));
  }
  const int conns = fcntl(conns_fd, F_DUPFD_CLOEXEC, 0);
  if (conns < 0) {
    const int err = errno;
    close(excluded);
    return absl::InternalError(
        absl::StrCat("duplicating the conns map fd failed: ", strerror(err)));
  }
  return std::unique_ptr<ExcludedProcessMap>(new BpfExcludedProcessMap(excluded, conns));
}

uint8_t PortRulesMode(const std::vector<uint16_t>& include_ports,
                      const std::vector<uint16_t>& exclude_ports) {
  if (!include_ports.empty()) return kPortsInclude;
  if (!exclude_ports.empty()) return kPortsExclude;
  return kPortsNone;
}

absl::Status FillSelectedPorts(int ports_fd, const std::vector<uint16_t>& include_ports,
                               const std::vector<uint16_t>& exclude_ports) {
  const auto put = [ports_fd](uint16_t port, uint32_t verdict) -> absl::Status {
    const uint32_t key = port;
    if (bpf_map_update_elem(ports_fd, &key, &verdict, BPF_ANY) != 0) {
      return absl::InternalError(
          absl::StrCat("writing port ", port, " to the selected_ports map failed: ",
                       strerror(errno)));
    }
    return absl::OkStatus();
  };
  for (uint16_t port : include_ports) {
    if (absl::Status status = put(port, kPortIncluded); !status.ok()) return status;
  }
  for (uint16_t port : exclude_ports) {  // after: exclusion wins
    if (absl::Status status = put(port, kPortExcluded); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace loupe
