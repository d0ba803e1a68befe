#include "exporters/otlp/retry.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "userspace/core/redact.h"
#include "userspace/logging/log.h"

namespace loupe {

std::string_view TransportFailureReason(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return "connection";
    case absl::StatusCode::kNotFound:
      return "dns";
    case absl::StatusCode::kUnauthenticated:
      return "tls";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    default:
      return "other";
  }
}

std::string_view HttpFailureReason(int status) {
  if (status >= 400 && status < 500) return "http_4xx";
  if (status >= 500 && status < 600) return "http_5xx";
  return "http_other";
}

bool IsRetryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

absl::Duration BackoffFor(const RetryOptions& options, int retry) {
  double factor = std::pow(options.multiplier, std::max(0, retry - 1));
  absl::Duration wait = options.initial_backoff * factor;
  return std::min(wait, options.max_backoff);
}

SendResult SendWithRetry(HttpTransport& transport, const SendRequest& request,
                         const RetryOptions& options, const Clock& clock,
                         const RetryWait& wait, absl::BitGen& rng,
                         const std::function<void(std::string_view reason)>& on_failed_attempt) {
  SendResult result;
  const uint64_t start_ns = clock.MonotonicNs();
  for (int attempt = 1;; ++attempt) {
    result.attempts = attempt;
    absl::StatusOr<HttpResponse> response =
        transport.Post(*request.url, request.body, *request.headers, request.timeout);
    std::optional<absl::Duration> retry_after;
    if (response.ok()) {
      result.last_status = response->status;
      if (response->status >= 200 && response->status < 300) {
        result.outcome = SendOutcome::kSuccess;
        result.last_error.clear();
        result.last_reason = {};
        result.response_body = std::move(response->body);
        return result;
      }
      result.last_error = absl::StrCat("HTTP status ", response->status);
      result.last_reason = HttpFailureReason(response->status);
      on_failed_attempt(result.last_reason);
      if (!IsRetryableStatus(response->status)) {
        log::Warn("OTLP export rejected; not retrying",
                  {{"endpoint", RedactUrlCredentials(*request.url)},
                   {"http_status", response->status},
                   {"reason", result.last_reason}});
        result.outcome = SendOutcome::kPermanentFailure;
        return result;
      }
      retry_after = response->retry_after;
    } else {
      result.last_status = 0;
      result.last_error = std::string(response.status().message());
      result.last_reason = TransportFailureReason(response.status());
      on_failed_attempt(result.last_reason);
    }

    if (attempt >= options.max_attempts) break;
    absl::Duration pause;
    if (retry_after.has_value()) {
      pause = *retry_after;  // the server knows best when it can take more
    } else {
      double scale = absl::Uniform(rng, 1.0 - options.jitter, 1.0 + options.jitter);
      pause = BackoffFor(options, attempt) * scale;
    }
    const absl::Duration elapsed = absl::Nanoseconds(clock.MonotonicNs() - start_ns);
    if (elapsed + pause > options.max_elapsed) break;
    if (!wait(pause)) break;
  }
  log::Warn("OTLP export failed",
            {{"endpoint", RedactUrlCredentials(*request.url)},
             {"attempts", result.attempts},
             {"error", result.last_error},
             {"reason", result.last_reason}});
  result.outcome = SendOutcome::kGaveUp;
  return result;
}

}  // namespace loupe
