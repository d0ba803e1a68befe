#include "exporters/otlp/retry.h"

#include <deque>

#include "gtest/gtest.h"

namespace loupe {
namespace {

// Answers from a script; records what it was asked.
class ScriptedTransport : public HttpTransport {
 public:
  std::deque<absl::StatusOr<HttpResponse>> script;
  int calls = 0;

  absl::StatusOr<HttpResponse> Post(const std::string&, std::string_view, const HttpHeaders&,
                                    absl::Duration) override {
    ++calls;
    if (script.empty()) return HttpResponse{200, "", std::nullopt};
    auto next = script.front();
    script.pop_front();
    return next;
  }
};

struct FakeTime {
  absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<absl::Duration> sleeps;
  RetryClock clock() {
    return RetryClock{[this] { return now; },
                      [this](absl::Duration d) {
                        sleeps.push_back(d);
                        now += d;
                        return true;
                      }};
  }
};

HttpResponse Status(int code, std::optional<absl::Duration> retry_after = std::nullopt) {
  return HttpResponse{code, "", retry_after};
}

class RetryTest : public ::testing::Test {
 protected:
  SendResult Send(const RetryOptions& options) {
    return SendWithRetry(transport_, SendRequest{&url_, "body", &headers_, absl::Seconds(1)},
                         options, time_.clock(), rng_, [this] { ++failures_; });
  }
  ScriptedTransport transport_;
  FakeTime time_;
  absl::BitGen rng_;
  std::string url_ = "http://127.0.0.1:1/v1/traces";
  HttpHeaders headers_;
  int failures_ = 0;
};

TEST_F(RetryTest, RetryableStatuses) {
  for (int code : {429, 502, 503, 504}) EXPECT_TRUE(IsRetryableStatus(code)) << code;
  for (int code : {200, 400, 401, 403, 404, 413, 500, 501}) {
    EXPECT_FALSE(IsRetryableStatus(code)) << code;
  }
}

TEST_F(RetryTest, BackoffGrowsAndIsCapped) {
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(100);
  options.max_backoff = absl::Milliseconds(500);
  EXPECT_EQ(BackoffFor(options, 1), absl::Milliseconds(100));
  EXPECT_EQ(BackoffFor(options, 2), absl::Milliseconds(200));
  EXPECT_EQ(BackoffFor(options, 3), absl::Milliseconds(400));
  EXPECT_EQ(BackoffFor(options, 4), absl::Milliseconds(500));
}

TEST_F(RetryTest, HonoursRetryAfterThenSucceeds) {
  transport_.script = {Status(503, absl::Seconds(7)), Status(200)};
  SendResult result = Send(RetryOptions{});
  EXPECT_EQ(result.outcome, SendOutcome::kSuccess);
  EXPECT_EQ(result.attempts, 2);
  ASSERT_EQ(time_.sleeps.size(), 1u);
  EXPECT_EQ(time_.sleeps[0], absl::Seconds(7));
  EXPECT_EQ(failures_, 1);
}

TEST_F(RetryTest, JitteredExponentialBackoffOnConnectionErrors) {
  transport_.script = {absl::UnavailableError("refused"), absl::UnavailableError("refused"),
                       absl::UnavailableError("refused"), Status(200)};
  RetryOptions options;
  options.initial_backoff = absl::Seconds(1);
  options.jitter = 0.2;
  SendResult result = Send(options);
  EXPECT_EQ(result.outcome, SendOutcome::kSuccess);
  ASSERT_EQ(time_.sleeps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    absl::Duration base = absl::Seconds(1) * (1 << i);
    EXPECT_GE(time_.sleeps[i], base * 0.8) << i;
    EXPECT_LE(time_.sleeps[i], base * 1.2) << i;
  }
}

TEST_F(RetryTest, PermanentFailureIsNotRetried) {
  transport_.script = {Status(400)};
  SendResult result = Send(RetryOptions{});
  EXPECT_EQ(result.outcome, SendOutcome::kPermanentFailure);
  EXPECT_EQ(result.last_status, 400);
  EXPECT_EQ(transport_.calls, 1);
  EXPECT_TRUE(time_.sleeps.empty());
  EXPECT_EQ(failures_, 1);
}

TEST_F(RetryTest, GivesUpAfterMaxAttempts) {
  for (int i = 0; i < 10; ++i) transport_.script.push_back(Status(502));
  RetryOptions options;
  options.max_attempts = 3;
  SendResult result = Send(options);
  EXPECT_EQ(result.outcome, SendOutcome::kGaveUp);
  EXPECT_EQ(transport_.calls, 3);
  EXPECT_EQ(failures_, 3);
}

TEST_F(RetryTest, GivesUpWhenRetryAfterExceedsElapsedBudget) {
  transport_.script = {Status(429, absl::Seconds(120)), Status(200)};
  RetryOptions options;
  options.max_elapsed = absl::Seconds(60);
  SendResult result = Send(options);
  EXPECT_EQ(result.outcome, SendOutcome::kGaveUp);
  EXPECT_EQ(transport_.calls, 1);
  EXPECT_TRUE(time_.sleeps.empty());
}

TEST_F(RetryTest, StopsWhenSleepIsCutShort) {
  transport_.script = {Status(503), Status(200)};
  RetryClock clock{[] { return absl::Now(); }, [](absl::Duration) { return false; }};
  SendRequest request{&url_, "b", &headers_, absl::Seconds(1)};
  SendResult result = SendWithRetry(transport_, request, RetryOptions{}, clock, rng_, [] {});
  EXPECT_EQ(result.outcome, SendOutcome::kGaveUp);
  EXPECT_EQ(transport_.calls, 1);
}

}  // namespace
}  // namespace loupe
