#include "userspace/core/small_file.h"

#include <fcntl.h>
#include <unistd.h>

namespace loupe {

std::string ReadSmallFile(const std::string& path, size_t max_bytes) {
  std::string out;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buffer[65536];
  while (out.size() < max_bytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace loupe
