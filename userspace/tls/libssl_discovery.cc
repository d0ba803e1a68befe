#include "userspace/tls/libssl_discovery.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "userspace/core/small_file.h"

namespace loupe {

bool IsLibsslName(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  constexpr std::string_view kPrefix = "libssl.so.";
  return base.size() > kPrefix.size() && base.substr(0, kPrefix.size()) == kPrefix;
}

std::optional<LibsslMapping> ParseLibsslMapsLine(std::string_view line) {
  // address perms offset dev inode pathname
  std::vector<std::string_view> fields;
  for (size_t pos = 0; pos < line.size() && fields.size() < 6;) {
    const size_t start = line.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(line.find_first_of(" \t", start), line.size());
    fields.push_back(line.substr(start, end - start));
    pos = end;
  }
  if (fields.size() < 6) return std::nullopt;
  const std::string_view perms = fields[1];
  if (perms.size() < 3 || perms[2] != 'x') return std::nullopt;  // code, where uprobes live
  // The path is the rest of the line; it may hold spaces and a " (deleted)" suffix.
  const size_t path_start = line.find('/');
  if (path_start == std::string_view::npos) return std::nullopt;
  std::string_view path = line.substr(path_start);
  if (path.size() >= 10 && path.substr(path.size() - 10) == " (deleted)") return std::nullopt;
  if (!IsLibsslName(path)) return std::nullopt;
  LibsslMapping mapping;
  const absl::string_view inode(fields[4].data(), fields[4].size());
  if (!absl::SimpleAtoi(inode, &mapping.inode) || mapping.inode == 0) return std::nullopt;
  mapping.path = std::string(path);
  mapping.maps_dev = std::string(fields[3]);
  return mapping;
}

std::vector<LibsslMapping> LibsslMappingsOf(const std::string& proc_root, pid_t pid) {
  std::vector<LibsslMapping> out;
  // Bounded; a truncated read only loses mappings.
  const std::string maps =
      ReadSmallFile(absl::StrCat(proc_root, "/", pid, "/maps"), 16u << 20);
  for (size_t start = 0; start < maps.size();) {
    size_t end = maps.find('\n', start);
    if (end == std::string::npos) end = maps.size();
    const std::string_view line(maps.data() + start, end - start);
    start = end + 1;
    if (line.find("libssl.so.") == std::string_view::npos) continue;  // cheap pre-filter
    std::optional<LibsslMapping> mapping = ParseLibsslMapsLine(line);
    if (!mapping.has_value()) continue;
    bool seen = false;
    for (const LibsslMapping& m : out) {
      seen = seen || (m.inode == mapping->inode && m.maps_dev == mapping->maps_dev);
    }
    if (!seen) out.push_back(std::move(*mapping));
  }
  return out;
}

bool MapsLibssl(const std::string& proc_root, pid_t pid) {
  return !LibsslMappingsOf(proc_root, pid).empty();
}

std::vector<std::string> WellKnownLibsslPaths() {
  static constexpr const char* kDirs[] = {
      "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
      "/usr/local/lib", "/usr/local/lib64", "/usr/local/ssl/lib"};
  static constexpr const char* kNames[] = {"libssl.so.3", "libssl.so.1.1"};
  std::vector<std::string> out;
  for (const char* dir : kDirs) {
    for (const char* name : kNames) {
      std::string path = absl::StrCat(dir, "/", name);
      struct stat st{};
      if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(std::move(path));
    }
  }
  return out;
}

std::vector<pid_t> ListPids(const std::string& proc_root) {
  std::vector<pid_t> pids;
  DIR* dir = opendir(proc_root.c_str());
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    int pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

std::optional<FileId> StatFileId(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

}  // namespace loupe
