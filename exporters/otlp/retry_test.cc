#include "exporters/otlp/retry.h"

#include <algorithm>
#include <deque>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
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

// The retry loop's time: waits are recorded and move the fake clock at once.
struct FakeTime {
  FakeClock clock;
  std::vector<absl::Duration> sleeps;
  RetryWait wait() {
    return [this](absl::Duration d) {
      sleeps.push_back(d);
      clock.Advance(static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)));
      return true;
    };
  }
};

HttpResponse Status(int code, std::optional<absl::Duration> retry_after = std::nullopt) {
  return HttpResponse{code, "", retry_after};
}

class RetryTest : public ::testing::Test {
 protected:
  SendResult Send(const RetryOptions& options) {
    return SendWithRetry(transport_, SendRequest{&url_, "body", &headers_, absl::Seconds(1)},
                         options, time_.clock, time_.wait(), rng_, [this](std::string_view reason) {
                           ++failures_;
                           reasons_.emplace_back(reason);
                         });
  }
  ScriptedTransport transport_;
  FakeTime time_;
  absl::BitGen rng_;
  std::string url_ = "http://127.0.0.1:1/v1/traces";
  HttpHeaders headers_;
  int failures_ = 0;
  std::vector<std::string> reasons_;
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
  RetryWait cut_short = [](absl::Duration) { return false; };
  SendRequest request{&url_, "b", &headers_, absl::Seconds(1)};
  SendResult result = SendWithRetry(transport_, request, RetryOptions{}, time_.clock, cut_short,
                                    rng_, [](std::string_view) {});
  EXPECT_EQ(result.outcome, SendOutcome::kGaveUp);
  EXPECT_EQ(transport_.calls, 1);
}

// Issue 20: a failure without an HTTP response was logged as "last HTTP status 0", hiding why.
TEST_F(RetryTest, FailuresCarryTheirCauseAndABoundedReason) {
  transport_.script = {absl::NotFoundError("POST x failed: Could not resolve host: collector"),
                       absl::DeadlineExceededError("POST x failed: Operation timed out"),
                       absl::UnauthenticatedError("POST x failed: SSL certificate problem"),
                       absl::InternalError("POST x failed: something else"), Status(503),
                       Status(429),
                       absl::UnavailableError(
                           "POST x failed: Failed to connect (Connection refused)")};
  RetryOptions options;
  options.max_attempts = 7;
  options.max_elapsed = absl::Hours(1);
  testing::internal::CaptureStdout();
  SendResult result = Send(options);
  const std::string logged = testing::internal::GetCapturedStdout();
  EXPECT_EQ(result.outcome, SendOutcome::kGaveUp);
  EXPECT_THAT(reasons_, ::testing::ElementsAre("dns", "timeout", "tls", "other", "http_5xx",
                                               "http_4xx", "connection"));
  EXPECT_EQ(result.last_error, "POST x failed: Failed to connect (Connection refused)");
  EXPECT_EQ(result.last_reason, "connection");
  // One JSON line from the project's logger, with the cause, never "status 0".
  EXPECT_THAT(logged, ::testing::AllOf(::testing::HasSubstr("\"msg\":\"OTLP export failed\""),
                                       ::testing::HasSubstr("Connection refused"),
                                       ::testing::HasSubstr("\"reason\":\"connection\""),
                                       ::testing::HasSubstr("\"attempts\":7"),
                                       ::testing::Not(::testing::HasSubstr("status 0"))));
  EXPECT_EQ(std::count(logged.begin(), logged.end(), '\n'), 1) << logged;
}

TEST_F(RetryTest, RejectedRequestIsLoggedWithItsStatus) {
  transport_.script = {Status(400)};
  testing::internal::CaptureStdout();
  SendResult result = Send(RetryOptions{});
  const std::string logged = testing::internal::GetCapturedStdout();
  EXPECT_EQ(result.last_error, "HTTP status 400");
  EXPECT_THAT(reasons_, ::testing::ElementsAre("http_4xx"));
  EXPECT_THAT(logged, ::testing::AllOf(::testing::HasSubstr("\"http_status\":400"),
                                       ::testing::HasSubstr("\"reason\":\"http_4xx\"")));
}

TEST(ExportFailureReasonTest, EveryReasonIsInTheBoundedSet) {
  const std::vector<std::string_view> known(std::begin(kExportFailureReasons),
                                            std::end(kExportFailureReasons));
  for (absl::StatusCode code :
       {absl::StatusCode::kUnavailable, absl::StatusCode::kNotFound,
        absl::StatusCode::kUnauthenticated, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kInternal, absl::StatusCode::kUnknown}) {
    EXPECT_THAT(known, ::testing::Contains(TransportFailureReason(absl::Status(code, "x"))));
  }
  for (int status : {100, 301, 400, 404, 429, 500, 503, 599, 600, 999}) {
    EXPECT_THAT(known, ::testing::Contains(HttpFailureReason(status))) << status;
  }
  EXPECT_EQ(HttpFailureReason(302), "http_other");
  EXPECT_EQ(HttpFailureReason(429), "http_4xx");
  EXPECT_EQ(HttpFailureReason(502), "http_5xx");
}

}  // namespace
}  // namespace loupe
