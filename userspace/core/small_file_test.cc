#include "userspace/core/small_file.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

class SmallFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/loupe_small_file_XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = name;
  }
  void TearDown() override { unlink(path_.c_str()); }

  void Write(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::string path_;
};

TEST_F(SmallFileTest, ReadsTheWholeFileWithNulBytes) {
  const std::string bytes("python3\0app.py\0--port\0", 22);
  Write(bytes);
  EXPECT_EQ(ReadSmallFile(path_, 1 << 20), bytes);
}

TEST_F(SmallFileTest, StopsPastTheCap) {
  Write(std::string(200'000, 'x'));
  const std::string read = ReadSmallFile(path_, 100'000);
  EXPECT_GE(read.size(), 100'000u);
  EXPECT_LT(read.size(), 200'000u);
}

TEST_F(SmallFileTest, MissingFileIsEmpty) {
  EXPECT_EQ(ReadSmallFile(path_ + ".missing", 1 << 20), "");
}

TEST(SmallFileProcTest, ReadsProcFiles) {
  // /proc files report size 0: they must be read until EOF, not by their stat size.
  EXPECT_NE(ReadSmallFile("/proc/self/stat", 1 << 20), "");
}

}  // namespace
}  // namespace loupe
