#include "userspace/process/container_id.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "userspace/core/small_file.h"

namespace loupe {
namespace {

constexpr size_t kContainerIdLength = 64;
// /proc/<pid>/cgroup is one line per hierarchy (a dozen at most); capped so that nothing odd
// makes the agent read much.
constexpr size_t kMaxCgroupFileBytes = 64 * 1024;

bool IsContainerId(absl::string_view s) {
  if (s.size() != kContainerIdLength) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

// The id one path component names ("" if none): "<id>", "<runtime>-<id>" or "<runtime>-<id>.scope".
std::string IdOfComponent(absl::string_view component) {
  absl::ConsumeSuffix(&component, ".scope");
  // Monitors named like their container, but not in it.
  if (absl::StartsWith(component, "crio-conmon-") ||
      absl::StartsWith(component, "libpod-conmon-")) {
    return "";
  }
  static constexpr std::array<absl::string_view, 6> kRuntimePrefixes = {
      "cri-containerd-", "crio-", "docker-", "libpod-", "containerd-", "cri-o-"};
  for (absl::string_view prefix : kRuntimePrefixes) {
    if (absl::ConsumePrefix(&component, prefix)) break;
  }
  return IsContainerId(component) ? std::string(component) : "";
}

std::string IdOfPath(absl::string_view path) {
  std::vector<absl::string_view> components = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (auto it = components.rbegin(); it != components.rend(); ++it) {
    std::string id = IdOfComponent(*it);
    if (!id.empty()) return id;
  }
  return "";
}

}  // namespace

std::string ContainerIdFromCgroup(std::string_view text) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), text.size()), '\n', absl::SkipEmpty())) {
    // "hierarchy-id:controllers:path"; the path may itself hold ':' (it is the rest of the line).
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    std::string id = IdOfPath(absl::StripTrailingAsciiWhitespace(fields[2]));
    if (!id.empty()) return id;
  }
  return "";
}

std::string ReadContainerId(std::string_view proc_root, int64_t pid) {
  return ContainerIdFromCgroup(ReadSmallFile(
      absl::StrCat(absl::string_view(proc_root.data(), proc_root.size()), "/", pid, "/cgroup"),
      kMaxCgroupFileBytes));
}

}  // namespace loupe
