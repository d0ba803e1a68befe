#include "userspace/core/clock.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(RealClockTest, MonotonicAdvancesAndMapsToWallTime) {
  RealClock clock;
  const uint64_t a = clock.MonotonicNs();
  const uint64_t b = clock.MonotonicNs();
  EXPECT_GT(a, 0u);
  EXPECT_GE(b, a);
  // "Now" in monotonic time converts to about "now" in wall time (NTP may step it a little).
  const int64_t converted = static_cast<int64_t>(clock.MonotonicToUnixNs(clock.MonotonicNs()));
  const int64_t wall = static_cast<int64_t>(clock.UnixNs());
  EXPECT_LT(std::llabs(wall - converted), 1'000'000'000);
  EXPECT_GT(wall, 1'600'000'000'000'000'000);  // after 2020
}

TEST(FakeClockTest, MovesOnlyWhenTheTestMovesIt) {
  FakeClock clock(/*monotonic_ns=*/5, /*unix_offset_ns=*/1'000);
  EXPECT_EQ(clock.MonotonicNs(), 5u);
  EXPECT_EQ(clock.UnixNs(), 1'005u);
  clock.Advance(10);
  EXPECT_EQ(clock.MonotonicNs(), 15u);
  EXPECT_EQ(clock.MonotonicToUnixNs(100), 1'100u);
  clock.SetMonotonicNs(7);
  EXPECT_EQ(clock.MonotonicNs(), 7u);
}

}  // namespace
}  // namespace loupe
