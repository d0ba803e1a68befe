#include "userspace/protocols/http1/field_scan.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {
namespace {

size_t PlainFindControlByte(const std::string& s, size_t from) {
  size_t i = from;
  while (i < s.size() && static_cast<unsigned char>(s[i]) >= 0x20) ++i;
  return i;
}

size_t PlainSkipTokenBytes(const std::string& s, size_t from) {
  size_t i = from;
  while (i < s.size() && IsTokenChar(s[i])) ++i;
  return i;
}

// Mostly header-like bytes, so scans run long enough to cross the 16- and 8-byte steps, with
// every byte value mixed in.
std::string RandomFieldBytes(std::mt19937& rng) {
  static const std::string kCommon =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
  std::uniform_int_distribution<int> length(0, 70);
  std::uniform_int_distribution<int> pick(0, 99);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::uniform_int_distribution<size_t> common(0, kCommon.size() - 1);
  std::string s(static_cast<size_t>(length(rng)), '\0');
  for (char& c : s) {
    c = pick(rng) < 92 ? kCommon[common(rng)] : static_cast<char>(any_byte(rng));
  }
  return s;
}

TEST(FieldScanTest, MatchesThePlainLoopsOnRandomBytes) {
  std::mt19937 rng(20261121);
  for (int round = 0; round < 200000; ++round) {
    const std::string s = RandomFieldBytes(rng);
    const size_t from = s.empty() ? 0 : static_cast<size_t>(rng() % (s.size() + 1));
    ASSERT_EQ(FindControlByte(s.data(), from, s.size()), PlainFindControlByte(s, from))
        << "bytes: " << testing::PrintToString(s) << " from " << from;
    ASSERT_EQ(SkipTokenBytes(s.data(), from, s.size()), PlainSkipTokenBytes(s, from))
        << "bytes: " << testing::PrintToString(s) << " from " << from;
  }
}

TEST(FieldScanTest, EveryByteValueAtEveryPositionOfABlock) {
  // A 40-byte token run with one byte replaced: the scans must stop exactly there, or not at all.
  for (size_t position = 0; position < 40; ++position) {
    for (int value = 0; value < 256; ++value) {
      std::string s(40, 'a');
      s[position] = static_cast<char>(value);
      const size_t token_end = IsTokenChar(s[position]) ? s.size() : position;
      const size_t control_at = value < 0x20 ? position : s.size();
      ASSERT_EQ(SkipTokenBytes(s.data(), 0, s.size()), token_end) << position << " " << value;
      ASSERT_EQ(FindControlByte(s.data(), 0, s.size()), control_at) << position << " " << value;
    }
  }
}

TEST(FieldScanTest, EmptyRangesReturnTheirStart) {
  const std::string s = "Host: x\r\n";
  EXPECT_EQ(SkipTokenBytes(s.data(), s.size(), s.size()), s.size());
  EXPECT_EQ(FindControlByte(s.data(), s.size(), s.size()), s.size());
  EXPECT_EQ(SkipTokenBytes(s.data(), 0, s.size()), 4u);
  EXPECT_EQ(FindControlByte(s.data(), 5, s.size()), 7u);
}

}  // namespace
}  // namespace loupe::http1
