#include "userspace/tls/libssl_discovery.h"

#include <unistd.h>

#include <algorithm>

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(IsLibsslName, OpenSslSonames) {
  EXPECT_TRUE(IsLibsslName("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
  EXPECT_TRUE(IsLibsslName("/lib/libssl.so.1.1"));
  EXPECT_TRUE(IsLibsslName("libssl.so.1.0.2"));
  EXPECT_FALSE(IsLibsslName("/usr/lib/x86_64-linux-gnu/libssl3.so"));  // NSS, not OpenSSL
  EXPECT_FALSE(IsLibsslName("/usr/lib/libssl.so"));                    // dev symlink only
  EXPECT_FALSE(IsLibsslName("/usr/lib/libcrypto.so.3"));
  EXPECT_FALSE(IsLibsslName("/opt/libssl.so.3/other.so"));
}

TEST(ParseLibsslMapsLine, ExecutableMappingOfLibssl) {
  const auto mapping = ParseLibsslMapsLine(
      "7f1c2a5e0000-7f1c2a63b000 r-xp 00020000 fd:01 1837421                    "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  ASSERT_TRUE(mapping.has_value());
  EXPECT_EQ(mapping->path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(mapping->maps_dev, "fd:01");
  EXPECT_EQ(mapping->inode, 1837421u);
}

TEST(ParseLibsslMapsLine, PathWithSpaces) {
  const auto mapping = ParseLibsslMapsLine(
      "7f1c2a5e0000-7f1c2a63b000 r-xp 00020000 00:2a 99 /opt/my app/lib/libssl.so.1.1");
  ASSERT_TRUE(mapping.has_value());
  EXPECT_EQ(mapping->path, "/opt/my app/lib/libssl.so.1.1");
}

TEST(ParseLibsslMapsLine, IgnoresDataMappingsOtherFilesAndDeletedFiles) {
  EXPECT_FALSE(ParseLibsslMapsLine("7f1c2a5c0000-7f1c2a5e0000 r--p 00000000 fd:01 1837421 "
                                   "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
  EXPECT_FALSE(ParseLibsslMapsLine("7f1c2a5e0000-7f1c2a63b000 r-xp 00020000 fd:01 1837422 "
                                   "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"));
  EXPECT_FALSE(ParseLibsslMapsLine("7f1c2a5e0000-7f1c2a63b000 r-xp 00020000 fd:01 1837421 "
                                   "/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)"));
  EXPECT_FALSE(ParseLibsslMapsLine("7ffd1b5f6000-7ffd1b5f8000 r-xp 00000000 00:00 0 [vdso]"));
  EXPECT_FALSE(ParseLibsslMapsLine("garbage"));
}

TEST(ListPids, SeesThisProcess) {
  const std::vector<pid_t> pids = ListPids("/proc");
  EXPECT_NE(std::find(pids.begin(), pids.end(), getpid()), pids.end());
  EXPECT_TRUE(ListPids("/nonexistent-proc").empty());
}

TEST(StatFileId, SameFileSameIdThroughDifferentPaths) {
  const auto direct = StatFileId("/proc/self/exe");
  ASSERT_TRUE(direct.has_value());
  const auto again = StatFileId("/proc/self/root/proc/self/exe");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*direct, *again);
  EXPECT_FALSE(StatFileId("/nonexistent/file").has_value());
}

}  // namespace
}  // namespace loupe
