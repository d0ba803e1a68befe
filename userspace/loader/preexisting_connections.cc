#include "userspace/loader/preexisting_connections.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "userspace/core/small_file.h"

namespace loupe {
namespace {

constexpr char kEstablished[] = "01";
constexpr char kListen[] = "0A";
// Userspace-made connection ids live in the upper half so they never meet the kernel's counter.
constexpr uint64_t kLearnedIdBase = 1ull << 63;

// /proc/net/tcp{,6} grow with the host's connections (~150 bytes each): 64 MiB is ~400,000.
constexpr size_t kMaxProcFileBytes = 64u << 20;

// "0100007F:1F90": the address as the kernel's 32-bit words printed in host order, then the
// port in hex.
bool ParseEndpoint(const std::string& text, uint16_t family, uint8_t addr[16], uint16_t* port) {
  const size_t colon = text.find(':');
  const size_t hex_len = family == AF_INET ? 8 : 32;
  if (colon != hex_len) return false;
  for (size_t word = 0; word < hex_len / 8; ++word) {
    uint32_t value = 0;
    if (!absl::SimpleHexAtoi(text.substr(word * 8, 8), &value)) return false;
    std::memcpy(addr + word * 4, &value, 4);  // host order == the kernel's in-memory order
  }
  uint32_t p = 0;
  if (!absl::SimpleHexAtoi(text.substr(colon + 1), &p) || p > 0xffff) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

void ParseProcNetTcp(const std::string& text, uint16_t family,
                     absl::flat_hash_map<uint64_t, ProcTcpSocket>* established,
                     std::vector<uint16_t>* listening_ports) {
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode_text;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode_text)) {
      continue;
    }
    ProcTcpSocket socket;
    socket.tuple.family = family;
    if (!ParseEndpoint(local, family, socket.tuple.local_addr, &socket.tuple.local_port) ||
        !ParseEndpoint(remote, family, socket.tuple.remote_addr, &socket.tuple.remote_port)) {
      continue;
    }
    if (state == kListen) {
      listening_ports->push_back(socket.tuple.local_port);
      continue;
    }
    if (state != kEstablished || !absl::SimpleAtoi(inode_text, &socket.inode) ||
        socket.inode == 0) {
      continue;
    }
    established->emplace(socket.inode, socket);
  }
}

PreexistingResult LearnPreexistingConnections(int conns_fd, uint32_t self_tgid, uint64_t max,
                                              const LearnedConnectionCallback& on_learned) {
  absl::flat_hash_map<uint64_t, ProcTcpSocket> established;
  std::vector<uint16_t> listening;
  ParseProcNetTcp(ReadSmallFile("/proc/net/tcp", kMaxProcFileBytes), AF_INET, &established,
                  &listening);
  ParseProcNetTcp(ReadSmallFile("/proc/net/tcp6", kMaxProcFileBytes), AF_INET6, &established,
                  &listening);
  std::sort(listening.begin(), listening.end());

  PreexistingResult result;
  if (established.empty()) return result;
  loupe_conn value{};
  uint64_t next_id = kLearnedIdBase;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return result;
  while (dirent* entry = readdir(proc)) {
    uint32_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid == self_tgid) continue;
    const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    const std::string comm = ReadSmallFile(absl::StrCat("/proc/", pid, "/comm"), kMaxProcFileBytes);
    while (dirent* fd_entry = readdir(fds)) {
      int fd = 0;
      if (!absl::SimpleAtoi(fd_entry->d_name, &fd)) continue;
      char target[64] = {};
      const std::string link = absl::StrCat(fd_dir, "/", fd_entry->d_name);
      if (readlink(link.c_str(), target, sizeof(target) - 1) <= 0) continue;
      uint64_t inode = 0;
      const std::string_view text(target);
      if (text.rfind("socket:[", 0) != 0 ||
          !absl::SimpleAtoi(absl::string_view(target + 8, text.size() - 9), &inode)) {
        continue;
      }
      auto socket = established.find(inode);
      if (socket == established.end()) continue;
      if (result.learned + result.table_full >= max) break;
      std::memset(&value, 0, sizeof(value));
      value.conn_id = next_id++;
      value.tuple = socket->second.tuple;
      // A local port someone listens on means this end was accepted.
      value.tuple.role = std::binary_search(listening.begin(), listening.end(),
                                            value.tuple.local_port)
                             ? LOUPE_ROLE_SERVER
                             : LOUPE_ROLE_CLIENT;
      value.phase = LOUPE_PHASE_SYNC;
      std::memcpy(value.comm, comm.data(), std::min(comm.size() ? comm.size() - 1 : 0,
                                                    sizeof(value.comm) - 1));
      loupe_conn_key key{pid, fd};
      // BPF_NOEXIST: a connection the kernel already tracks (accepted since we attached) wins.
      const int err = bpf_map_update_elem(conns_fd, &key, &value, BPF_NOEXIST);
      if (err == 0) {
        ++result.learned;
        if (on_learned) on_learned(pid, std::string_view(comm).substr(0, comm.find('\n')));
      } else if (errno == E2BIG || errno == ENOMEM) {
        ++result.table_full;
      }
    }
    closedir(fds);
  }
  closedir(proc);
  return result;
}

}  // namespace loupe
