// Connections that were open before the agent started are not in the kernel's connection map, so
// their traffic would never be seen (a database pool opened before the agent, say). At start-up
// they are learned from /proc: tuple and role from /proc/net/tcp{,6}, owner from /proc/<pid>/fd.
// They enter the map in the SYNC phase, so the kernel ignores them until a response-to-request
// direction change gives a clean boundary: nothing is parsed mid-message.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "bpf/shared/loupe_abi.h"

namespace loupe {

// One established TCP socket from /proc/net/tcp or tcp6.
struct ProcTcpSocket {
  uint64_t inode = 0;
  loupe_tuple tuple{};  // role left unset
};

// Parses the text of /proc/net/tcp (family AF_INET) or /proc/net/tcp6 (AF_INET6): established
// sockets by inode, and the set of listening ports.
void ParseProcNetTcp(const std::string& text, uint16_t family,
                     absl::flat_hash_map<uint64_t, ProcTcpSocket>* established,
                     std::vector<uint16_t>* listening_ports);

struct PreexistingResult {
  uint64_t learned = 0;       // inserted into the kernel map in SYNC
  uint64_t table_full = 0;    // could not be inserted
};

// Walks /proc and inserts every established TCP connection owned by a process (other than
// `self_tgid`) into the conns map (fd `conns_fd`), at most `max` of them. `on_learned`, when
// given, is told the owner of each connection learned (its pid and comm).
using LearnedConnectionCallback = std::function<void(uint32_t pid, std::string_view comm)>;
PreexistingResult LearnPreexistingConnections(int conns_fd, uint32_t self_tgid, uint64_t max,
                                              const LearnedConnectionCallback& on_learned = {});

}  // namespace loupe
