// The two byte scans of HTTP/1 field lines that dominate the agent's parsing time, vectorised.
// Each returns exactly what the plain per-byte loop in its comment would (field_scan_test.cc
// checks that on random bytes).
#pragma once

#include <cstddef>

namespace loupe::http1 {

// First offset in data[from, size) holding a byte below 0x20 (HTAB, CR, LF or a byte no field
// value may hold), or size:
//   while (i < size && (unsigned char)data[i] >= 0x20) ++i;
size_t FindControlByte(const char* data, size_t from, size_t size);

// First offset in data[from, size) holding a byte that is not an RFC 9110 token byte (tchar), or
// size: the end of a field name.
//   while (i < size && IsTokenChar(data[i])) ++i;
size_t SkipTokenBytes(const char* data, size_t from, size_t size);

}  // namespace loupe::http1
