#include "userspace/loader/ring_layout.h"

#include <gtest/gtest.h>

#include <bit>

namespace loupe {
namespace {

TEST(RingLayoutTest, SplitsTheBudgetEvenlyBetweenOnlineCpus) {
  const RingLayout layout = PlanRings(16, 2);
  EXPECT_EQ(layout.count, 2u);
  EXPECT_EQ(layout.bytes_each, 8u << 20);
}

TEST(RingLayoutTest, RoundsEachRingDownToAPowerOfTwo) {
  const RingLayout layout = PlanRings(16, 3);  // 5.33 MiB each
  EXPECT_EQ(layout.count, 3u);
  EXPECT_EQ(layout.bytes_each, 4u << 20);
  EXPECT_TRUE(std::has_single_bit(layout.bytes_each));
}

TEST(RingLayoutTest, NeverGoesBelowTheMinimumRing) {
  const RingLayout layout = PlanRings(16, 192);  // 85 KiB each would be too small
  EXPECT_EQ(layout.count, 192u);
  EXPECT_EQ(layout.bytes_each, kMinRingBytes);
}

TEST(RingLayoutTest, AnUnknownCpuCountMeansOneRing) {
  const RingLayout layout = PlanRings(16, -1);
  EXPECT_EQ(layout.count, 1u);
  EXPECT_EQ(layout.bytes_each, 16u << 20);
}

}  // namespace
}  // namespace loupe
