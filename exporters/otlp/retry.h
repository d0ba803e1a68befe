// Sending one OTLP request with the retry rules of the OTLP/HTTP specification: 429, 502, 503,
// 504 and connection errors are retried with exponential backoff and jitter (or after the
// server's Retry-After), within a bounded number of attempts and elapsed time; everything else
// that is not 2xx is a permanent failure.
#pragma once

#include <functional>
#include <string>

#include "absl/random/random.h"
#include "absl/time/time.h"
#include "exporters/otlp/http_transport.h"

namespace loupe {

struct RetryOptions {
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration max_elapsed = absl::Seconds(60);
  double multiplier = 2.0;
  double jitter = 0.2;  // each wait is scaled by a random factor in [1 - jitter, 1 + jitter]
};

// Time as the retry loop sees it, injectable so tests never really sleep.
struct RetryClock {
  std::function<absl::Time()> now;
  // Waits `d`. Returns false when the wait was cut short because the caller is shutting down
  // (then no further attempt is made).
  std::function<bool(absl::Duration)> sleep;
};

enum class SendOutcome {
  kSuccess,           // 2xx
  kPermanentFailure,  // non-retryable status
  kGaveUp,            // retryable failures until attempts / time / shutdown ran out
};

struct SendResult {
  SendOutcome outcome = SendOutcome::kGaveUp;
  int attempts = 0;
  int last_status = 0;  // 0 when the last attempt had no HTTP response
  std::string response_body;  // of the successful response
};

bool IsRetryableStatus(int status);

// The wait before retry number `retry` (1 for the first retry), without jitter.
absl::Duration BackoffFor(const RetryOptions& options, int retry);

struct SendRequest {
  const std::string* url;
  std::string_view body;
  const HttpHeaders* headers;
  absl::Duration timeout;
};

// Sends `request`, retrying as described above. `on_failed_attempt` runs after every attempt
// that did not succeed (for the export-failure counter).
SendResult SendWithRetry(HttpTransport& transport, const SendRequest& request,
                         const RetryOptions& options, const RetryClock& clock,
                         absl::BitGen& rng, const std::function<void()>& on_failed_attempt);

}  // namespace loupe
