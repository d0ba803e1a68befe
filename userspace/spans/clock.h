// Kernel timestamps are CLOCK_MONOTONIC; spans need Unix time. The offset between the two clocks
// is sampled with the realtime reading bracketed by two monotonic ones, keeping the tightest
// bracket, and refreshed periodically (NTP may slew the wall clock).
#pragma once

#include <cstdint>

namespace loupe {

class MonotonicToUnix {
 public:
  MonotonicToUnix() { Refresh(); }
  void Refresh();
  uint64_t ToUnixNs(uint64_t monotonic_ns) const {
    return static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns) + offset_ns_);
  }
  int64_t offset_ns() const { return offset_ns_; }

 private:
  int64_t offset_ns_ = 0;
};

}  // namespace loupe
