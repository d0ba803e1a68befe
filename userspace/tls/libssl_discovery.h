// Finds the OpenSSL libssl files processes use: in the well-known library directories, and in
// the memory maps of running processes (which also reveals libraries inside containers, through
// /proc/<pid>/root). A uprobe is attached per library FILE, so discovery reports each file once,
// identified by device and inode.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const FileId& id) {
    return H::combine(std::move(h), id.dev, id.ino);
  }
};

// True for libssl.so.3, libssl.so.1.1, libssl.so.1.0.2 and the like (OpenSSL's soname scheme).
bool IsLibsslName(std::string_view path);

// One executable mapping of a libssl file from a /proc/<pid>/maps line, or nothing.
struct LibsslMapping {
  std::string path;      // as the process sees it (inside its mount namespace)
  std::string maps_dev;  // "fd:01" as printed in maps
  uint64_t inode = 0;
};
std::optional<LibsslMapping> ParseLibsslMapsLine(std::string_view line);

// The libssl mappings of one process (reads <proc_root>/<pid>/maps).
std::vector<LibsslMapping> LibsslMappingsOf(const std::string& proc_root, pid_t pid);

// Whether the process maps any libssl file.
bool MapsLibssl(const std::string& proc_root, pid_t pid);

// libssl files that exist in the usual library directories of this host.
std::vector<std::string> WellKnownLibsslPaths();

// Numeric entries of <proc_root>.
std::vector<pid_t> ListPids(const std::string& proc_root);

std::optional<FileId> StatFileId(const std::string& path);

}  // namespace loupe
