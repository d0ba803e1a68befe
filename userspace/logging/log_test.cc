#include "userspace/logging/log.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::log {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

TEST(JsonEscapeTest, QuotesAndBackslashes) {
  EXPECT_EQ(JsonEscape(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(JsonEscape(R"(C:\path\)"), R"(C:\\path\\)");
  EXPECT_EQ(JsonEscape(""), "");
  EXPECT_EQ(JsonEscape("plain text /slash"), "plain text /slash");
}

TEST(JsonEscapeTest, ControlCharacters) {
  EXPECT_EQ(JsonEscape("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(JsonEscape(std::string("\x00", 1)), "\\u0000");
  EXPECT_EQ(JsonEscape("\x01\x1f"), "\\u0001\\u001f");
  EXPECT_EQ(JsonEscape("\b\f"), "\\b\\f");
  EXPECT_EQ(JsonEscape("\x7f"), "\\u007f");
  EXPECT_EQ(JsonEscape(" ~"), " ~") << "0x20 and 0x7e are printable";
  // Every control character becomes an escape: no raw byte below 0x20 survives.
  for (int c = 0; c < 0x20; ++c) {
    const std::string escaped = JsonEscape(std::string(1, static_cast<char>(c)));
    EXPECT_EQ(escaped[0], '\\') << c;
    for (char e : escaped) EXPECT_GE(static_cast<unsigned char>(e), 0x20) << c;
  }
}

TEST(JsonEscapeTest, Utf8PassesThrough) {
  const std::string utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8d";  // café € 🔍
  EXPECT_EQ(JsonEscape(utf8), utf8);
}

TEST(LogLevelTest, UnknownLevelsAreRejected) {
  for (const char* bad : {"", "INFO", "trace", "warning", "fatal"}) {
    const absl::Status status = SetLevel(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("'" + std::string(bad) + "'"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("debug, info, warn, error"));
  }
  for (const char* good : {"debug", "info", "warn", "error"}) {
    EXPECT_TRUE(SetLevel(good).ok()) << good;
  }
}

TEST(FieldTest, RendersJsonValues) {
  EXPECT_EQ(Field("k", "v\"x").json, R"("v\"x")");
  EXPECT_EQ(Field("k", std::string("s")).json, R"("s")");
  EXPECT_EQ(Field("k", -5).json, "-5");
  EXPECT_EQ(Field("k", uint64_t{18446744073709551615ull}).json, "18446744073709551615");
  EXPECT_EQ(Field("k", true).json, "true");
  EXPECT_EQ(Field("k", false).json, "false");
  EXPECT_EQ(Field("k", 0.25).json, "0.25");
  EXPECT_EQ(Field("k", std::nan("")).json, "null") << "NaN is not JSON";
  EXPECT_EQ(Field("k", std::numeric_limits<double>::infinity()).json, "null");
}

// Captures what the logger writes to stdout during `fn`.
template <typename Fn>
std::vector<std::string> CaptureLines(Fn fn) {
  ::testing::internal::CaptureStdout();
  fn();
  const std::string out = ::testing::internal::GetCapturedStdout();
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return lines;
}

TEST(LogWriteTest, OneJsonObjectPerLineWithEscapedFields) {
  ASSERT_TRUE(SetLevel("info").ok());
  const auto lines = CaptureLines([] {
    Info("probes attached", {{"hook", "tp_btf"}, {"count", 3}, {"path", "a\"b\nc"}});
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex(R"(\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z",.*\})"));
  EXPECT_THAT(lines[0], HasSubstr(R"("level":"info","msg":"probes attached")"));
  EXPECT_THAT(lines[0], HasSubstr(R"("hook":"tp_btf","count":3,"path":"a\"b\nc"})"));
}

TEST(LogWriteTest, LevelFiltersMessages) {
  ASSERT_TRUE(SetLevel("warn").ok());
  auto lines = CaptureLines([] {
    Debug("d");
    Info("i");
    Warn("w");
    Error("e", {{"k", "v"}});
  });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(R"("level":"warn","msg":"w")"));
  EXPECT_THAT(lines[1], HasSubstr(R"("level":"error","msg":"e","k":"v")"));

  ASSERT_TRUE(SetLevel("debug").ok());
  lines = CaptureLines([] { Debug("now visible"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("level":"debug")"));

  // A rejected level leaves the previous one in force.
  EXPECT_FALSE(SetLevel("loud").ok());
  lines = CaptureLines([] { Debug("still visible"); });
  EXPECT_EQ(lines.size(), 1u);
  ASSERT_TRUE(SetLevel("info").ok());
}

TEST(LogWriteTest, MessageIsEscapedToo) {
  ASSERT_TRUE(SetLevel("info").ok());
  const auto lines = CaptureLines([] { Info("quote \" and \\ and \x01"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("msg":"quote \" and \\ and \u0001")"));
  EXPECT_THAT(lines[0], StartsWith("{"));
}

TEST(LineBudgetTest, BurstThenSteadyRate) {
  LineBudget budget(/*lines_per_second=*/10, /*burst=*/3);
  const uint64_t t0 = 1'000'000'000;
  EXPECT_TRUE(budget.Take(t0));
  EXPECT_TRUE(budget.Take(t0));
  EXPECT_TRUE(budget.Take(t0));
  EXPECT_FALSE(budget.Take(t0)) << "burst spent";
  EXPECT_FALSE(budget.Take(t0 + 50'000'000)) << "half a token after 50 ms";
  EXPECT_TRUE(budget.Take(t0 + 100'000'000)) << "one token after 100 ms";
  EXPECT_FALSE(budget.Take(t0 + 100'000'000));
  // A long quiet spell refills to the burst, never beyond it.
  int taken = 0;
  while (budget.Take(t0 + 3'600'000'000'000)) ++taken;
  EXPECT_EQ(taken, 3);
}

TEST(LineBudgetTest, ClockGoingBackGrantsNothing) {
  LineBudget budget(1000, 1);
  EXPECT_TRUE(budget.Take(5'000'000'000));
  EXPECT_FALSE(budget.Take(1'000'000'000));
  EXPECT_FALSE(budget.Take(5'000'000'000));
  EXPECT_TRUE(budget.Take(5'001'000'000));
}

TEST(LogWriteTest, FloodIsSuppressedCountedAndAnnounced) {
  ASSERT_TRUE(SetLevel("debug").ok());
  uint64_t now = 1'000'000'000;
  SetLineBudgetForTest(/*lines_per_second=*/1, /*burst=*/5, [&now] { return now; });
  const uint64_t debug_before = SuppressedLines(Level::kDebug);
  const uint64_t info_before = SuppressedLines(Level::kInfo);
  auto lines = CaptureLines([] {
    for (int i = 0; i < 10000; ++i) Debug("per event detail", {{"i", i}});
    Info("also over budget");
    Error("errors are never suppressed");
  });
  ASSERT_EQ(lines.size(), 7u);
  for (int i = 0; i < 5; ++i) EXPECT_THAT(lines[i], HasSubstr(R"("msg":"per event detail")"));
  // The first line written after a suppression says how many were lost.
  EXPECT_THAT(lines[5], HasSubstr(R"("level":"warn","msg":"log lines suppressed by the rate limit","suppressed":9996)"));
  EXPECT_THAT(lines[6], HasSubstr(R"("level":"error","msg":"errors are never suppressed")"));
  EXPECT_EQ(SuppressedLines(Level::kDebug) - debug_before, 9995u);
  EXPECT_EQ(SuppressedLines(Level::kInfo) - info_before, 1u);

  now += 2'000'000'000;  // tokens again; nothing suppressed since the announcement
  lines = CaptureLines([] {
    Warn("after the flood");
    Info("and another");
    Info("over budget again");
  });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(R"("msg":"after the flood")"));
  EXPECT_THAT(lines[1], HasSubstr(R"("msg":"and another")"));

  SetLineBudgetForTest(kLogLinesPerSecond, kLogBurstLines, nullptr);
  ASSERT_TRUE(SetLevel("info").ok());
}

}  // namespace
}  // namespace loupe::log
