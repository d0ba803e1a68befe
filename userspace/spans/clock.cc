#include "userspace/spans/clock.h"

#include <time.h>

namespace loupe {
namespace {

int64_t Read(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void MonotonicToUnix::Refresh() {
  int64_t best_width = INT64_MAX;
  for (int i = 0; i < 5; ++i) {
    const int64_t before = Read(CLOCK_MONOTONIC);
    const int64_t wall = Read(CLOCK_REALTIME);
    const int64_t after = Read(CLOCK_MONOTONIC);
    if (after - before < best_width) {
      best_width = after - before;
      offset_ns_ = wall - (before + (after - before) / 2);
    }
  }
}

}  // namespace loupe
