#include "userspace/core/clock.h"

#include <time.h>

namespace loupe {
namespace {

int64_t Read(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

uint64_t RealClock::MonotonicNs() const { return static_cast<uint64_t>(Read(CLOCK_MONOTONIC)); }

uint64_t RealClock::UnixNs() const { return static_cast<uint64_t>(Read(CLOCK_REALTIME)); }

int64_t RealClock::SampleOffsetNs() {
  int64_t best_width = INT64_MAX;
  int64_t best_offset = 0;
  for (int i = 0; i < 5; ++i) {
    const int64_t before = Read(CLOCK_MONOTONIC);
    const int64_t wall = Read(CLOCK_REALTIME);
    const int64_t after = Read(CLOCK_MONOTONIC);
    if (after - before < best_width) {
      best_width = after - before;
      best_offset = wall - (before + (after - before) / 2);
    }
  }
  return best_offset;
}

}  // namespace loupe
