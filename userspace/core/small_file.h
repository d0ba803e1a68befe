// Reading a small file (/proc entries, /proc/net/tcp) whole.
#pragma once

#include <cstddef>
#include <string>

namespace loupe {

// The file's bytes, at most about `max_bytes` (reading stops at the first read that passes it),
// or "" when it cannot be opened. A read error ends the file where it happened: /proc files of a
// process that exits mid-read fail with ESRCH, and libstdc++'s filebuf throws on read errors, so
// this uses plain POSIX reads and never throws.
std::string ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace loupe
