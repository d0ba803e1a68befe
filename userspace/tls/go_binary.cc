#include "userspace/tls/go_binary.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

namespace loupe {
namespace {

constexpr std::string_view kBuildInfoMagic = "\xff Go buildinf:";
constexpr size_t kMaxScanBytes = 64u << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// nullopt: the file has no section headers to tell.
std::optional<bool> HasGoSection(int fd) {
  if (elf_version(EV_CURRENT) == EV_NONE) return std::nullopt;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf == nullptr) return std::nullopt;
  std::optional<bool> found;
  size_t shstrndx = 0;
  if (elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    found = false;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr header;
      if (gelf_getshdr(scn, &header) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, header.sh_name);
      if (name != nullptr && strcmp(name, ".go.buildinfo") == 0) {
        found = true;
        break;
      }
    }
  }
  elf_end(elf);
  return found;
}

bool HasBuildInfoMagic(int fd) {
  std::vector<char> buffer(1u << 20);
  std::string carry;
  size_t scanned = 0;
  off_t offset = 0;
  while (scanned < kMaxScanBytes) {
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), offset);
    if (n <= 0) return false;
    std::string window = carry;
    window.append(buffer.data(), static_cast<size_t>(n));
    if (window.find(kBuildInfoMagic) != std::string::npos) return true;
    carry = window.substr(window.size() - std::min(window.size(), kBuildInfoMagic.size() - 1));
    offset += n;
    scanned += static_cast<size_t>(n);
  }
  return false;
}

}  // namespace

absl::StatusOr<bool> IsGoBinary(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::NotFoundError(absl::StrCat("opening ", path, ": ", strerror(errno)));
  }
  if (std::optional<bool> section = HasGoSection(fd.get()); section.has_value()) return *section;
  return HasBuildInfoMagic(fd.get());
}

}  // namespace loupe
