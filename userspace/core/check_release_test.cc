// LOUPE_DCHECK as release builds have it, whatever this test binary is built as.
// gtest comes first so that only check.h sees the NDEBUG chosen here.
#include "gtest/gtest.h"

#ifndef NDEBUG
#define NDEBUG
#endif
#include "userspace/core/check.h"

namespace loupe {
namespace {

TEST(DcheckReleaseTest, ConditionIsNeitherEvaluatedNorEnforced) {
  bool evaluated = false;
  LOUPE_DCHECK((evaluated = true) && false);  // would abort if it ran
  EXPECT_FALSE(evaluated);
}

}  // namespace
}  // namespace loupe
