#include "userspace/core/trace_context.h"

#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, ParsesSpecExample) {
  auto ctx = TraceContext::ParseTraceparent(kValid);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->trace_id[0], 0x4b);
  EXPECT_EQ(ctx->trace_id[15], 0x36);
  EXPECT_EQ(ctx->span_id[0], 0x00);
  EXPECT_EQ(ctx->span_id[1], 0xf0);
  EXPECT_EQ(ctx->span_id[7], 0xb7);
  EXPECT_TRUE(ctx->sampled);
}

TEST(TraceContextTest, RoundTrips) {
  auto ctx = TraceContext::ParseTraceparent(kValid);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->ToTraceparent(), kValid);

  auto unsampled =
      TraceContext::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled);
  EXPECT_EQ(unsampled->ToTraceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(TraceContextTest, SampledIsOnlyTheLowBitOfFlags) {
  auto ctx =
      TraceContext::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_FALSE(ctx->sampled);
  ctx = TraceContext::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_TRUE(ctx->sampled);
}

TEST(TraceContextTest, DefaultContextFormatsAsZeros) {
  TraceContext ctx;
  EXPECT_EQ(ctx.ToTraceparent(), "00-00000000000000000000000000000000-0000000000000000-00");
}

TEST(TraceContextTest, FutureVersionKeepsFirstFourFields) {
  auto ctx = TraceContext::ParseTraceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_TRUE(ctx->sampled);
  EXPECT_EQ(ctx->ToTraceparent(), kValid);
  // Exactly four fields is also fine for a future version.
  EXPECT_TRUE(TraceContext::ParseTraceparent(
                  "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                  .has_value());
}

struct InvalidCase {
  const char* name;
  std::string header;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class TraceparentInvalidTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(TraceparentInvalidTest, IsRejected) {
  EXPECT_FALSE(TraceContext::ParseTraceparent(GetParam().header).has_value()) << GetParam().header;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TraceparentInvalidTest,
    testing::Values(
        InvalidCase{"empty", ""},
        InvalidCase{"all_zero_trace_id",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
        InvalidCase{"all_zero_span_id",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},
        InvalidCase{"version_ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        InvalidCase{"uppercase_trace_id",
                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
        InvalidCase{"uppercase_span_id",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"},
        InvalidCase{"uppercase_version", "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        InvalidCase{"bad_hex_trace_id",
                    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"},
        InvalidCase{"bad_hex_flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"},
        InvalidCase{"short_trace_id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"},
        InvalidCase{"long_span_id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01"},
        InvalidCase{"wrong_separator",
                    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        InvalidCase{"version_00_with_extra_field",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00"},
        InvalidCase{"future_version_without_dash",
                    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"},
        InvalidCase{"surrounding_space",
                    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
    [](const testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

}  // namespace
}  // namespace loupe
