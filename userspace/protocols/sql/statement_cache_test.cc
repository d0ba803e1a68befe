#include "userspace/protocols/sql/statement_cache.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

// MySQL keys statements by the id the server gave in PREPARE_OK.
TEST(StatementCache, IsBoundedWithNumericIds) {
  StatementCache<uint32_t> cache;
  for (uint32_t i = 0; i < 1000; ++i) cache.Put(i, "SELECT ?");
  EXPECT_EQ(cache.size(), StatementCache<uint32_t>::kMaxEntries);
  EXPECT_EQ(cache.Get(0), nullptr);
  EXPECT_NE(cache.Get(999), nullptr);
}

// PostgreSQL keys statements and portals by name.
TEST(StatementCache, IsBoundedWithNames) {
  StatementCache<std::string> cache;
  for (int i = 0; i < 1000; ++i) cache.Put("s" + std::to_string(i), "SELECT ?");
  EXPECT_EQ(cache.size(), StatementCache<std::string>::kMaxEntries);
  EXPECT_EQ(cache.Get("s0"), nullptr);
  ASSERT_NE(cache.Get("s999"), nullptr);
  cache.Erase("s999");
  EXPECT_EQ(cache.Get("s999"), nullptr);
}

TEST(StatementCache, PutReplacesAndEraseFreesItsPlace) {
  StatementCache<uint32_t> cache;
  cache.Put(7, "SELECT ?");
  cache.Put(7, "UPDATE t SET a = ?");
  ASSERT_NE(cache.Get(7), nullptr);
  EXPECT_EQ(*cache.Get(7), "UPDATE t SET a = ?");
  EXPECT_EQ(cache.size(), 1u);
  cache.Erase(7);
  cache.Erase(7);  // unknown keys are fine
  EXPECT_EQ(cache.size(), 0u);
  for (uint32_t i = 0; i < StatementCache<uint32_t>::kMaxEntries; ++i) cache.Put(i, "SELECT ?");
  EXPECT_NE(cache.Get(0), nullptr) << "an erased key does not count against the bound";
}

}  // namespace
}  // namespace loupe
