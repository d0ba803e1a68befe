#include "userspace/tls/go_binary.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(IsGoBinary, CProgramIsNot) {
  const absl::StatusOr<bool> go = IsGoBinary("/proc/self/exe");  // this C++ test binary
  ASSERT_TRUE(go.ok()) << go.status();
  EXPECT_FALSE(*go);
}

TEST(IsGoBinary, MissingFileIsAnError) {
  EXPECT_FALSE(IsGoBinary("/nonexistent/binary").ok());
}

// A file with no ELF section headers falls back to the build-info magic, wherever it is.
TEST(IsGoBinary, BuildInfoMagicWithoutSections) {
  const std::string path = testing::TempDir() + "/go_magic.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string((1u << 20) - 5, 'x');  // the magic straddles the 1 MiB read boundary
    out << std::string("\xff Go buildinf:", 14) << std::string(100, '\0');
  }
  const absl::StatusOr<bool> go = IsGoBinary(path);
  ASSERT_TRUE(go.ok()) << go.status();
  EXPECT_TRUE(*go);
  std::remove(path.c_str());
}

TEST(IsGoBinary, NoMagicNoSections) {
  const std::string path = testing::TempDir() + "/not_go.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(4096, 'x');
  }
  const absl::StatusOr<bool> go = IsGoBinary(path);
  ASSERT_TRUE(go.ok()) << go.status();
  EXPECT_FALSE(*go);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace loupe
