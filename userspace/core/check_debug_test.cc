// LOUPE_DCHECK as debug builds have it, whatever this test binary is built as.
// gtest comes first so that only check.h sees the NDEBUG chosen here.
#include "gtest/gtest.h"

#undef NDEBUG
#include "userspace/core/check.h"

namespace loupe {
namespace {

TEST(DcheckDebugTest, TrueConditionPasses) {
  int evaluated = 0;
  LOUPE_DCHECK(++evaluated == 1);
  EXPECT_EQ(evaluated, 1);
}

TEST(DcheckDebugDeathTest, FalseConditionAbortsNamingFileLineAndCondition) {
  const int size = 2;
  EXPECT_DEATH(LOUPE_DCHECK(size == 3),
               "check_debug_test\\.cc:[0-9]+: LOUPE_DCHECK failed: size == 3");
}

}  // namespace
}  // namespace loupe
