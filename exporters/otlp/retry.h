// Sending one OTLP request with the retry rules of the OTLP/HTTP specification: 429, 502, 503,
// 504 and connection errors are retried with exponential backoff and jitter (or after the
// server's Retry-After), within a bounded number of attempts and elapsed time; everything else
// that is not 2xx is a permanent failure.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/random/random.h"
#include "absl/time/time.h"
#include "exporters/otlp/http_transport.h"
#include "userspace/core/clock.h"

namespace loupe {

struct RetryOptions {
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration max_elapsed = absl::Seconds(60);
  double multiplier = 2.0;
  double jitter = 0.2;  // each wait is scaled by a random factor in [1 - jitter, 1 + jitter]
};

// How the retry loop waits `d` between attempts: the exporter's shutdown-interruptible wait, or
// in tests one that advances a FakeClock at once. Returns false when the wait was cut short
// because the caller is shutting down (then no further attempt is made).
using RetryWait = std::function<bool(absl::Duration)>;

enum class SendOutcome {
  kSuccess,           // 2xx
  kPermanentFailure,  // non-retryable status
  kGaveUp,            // retryable failures until attempts / time / shutdown ran out
};

struct SendResult {
  SendOutcome outcome = SendOutcome::kGaveUp;
  int attempts = 0;
  int last_status = 0;  // 0 when the last attempt had no HTTP response
  // Why the last attempt failed: the transport's message ("... Connection refused") or the HTTP
  // status; and its label in kExportFailureReasons. Empty when it succeeded.
  std::string last_error;
  std::string_view last_reason;
  std::string response_body;  // of the successful response
};

// The bounded `reason` label of loupe_otlp_export_failures_total (docs/metrics.md).
inline constexpr std::string_view kExportFailureReasons[] = {
    "connection", "dns", "tls", "timeout", "other", "http_4xx", "http_5xx", "http_other"};

// The reason of an attempt that had no HTTP response, from the status code the transport chose
// (HttpTransport::Post), and of one answered with a non-2xx HTTP status.
std::string_view TransportFailureReason(const absl::Status& status);
std::string_view HttpFailureReason(int status);

bool IsRetryableStatus(int status);

// The wait before retry number `retry` (1 for the first retry), without jitter.
absl::Duration BackoffFor(const RetryOptions& options, int retry);

struct SendRequest {
  const std::string* url;
  std::string_view body;
  const HttpHeaders* headers;
  absl::Duration timeout;
};

// Sends `request`, retrying as described above; the elapsed time is read from `clock`, the
// waits go through `wait`. `on_failed_attempt` runs after every attempt
// that did not succeed, with its reason (for the export-failure counter). A request given up
// or refused is logged once, with the cause of its last failure.
SendResult SendWithRetry(HttpTransport& transport, const SendRequest& request,
                         const RetryOptions& options, const Clock& clock,
                         const RetryWait& wait, absl::BitGen& rng,
                         const std::function<void(std::string_view reason)>& on_failed_attempt);

}  // namespace loupe
