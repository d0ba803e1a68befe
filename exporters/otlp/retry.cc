#include "exporters/otlp/retry.h"

#include <algorithm>
#include <cmath>

#include "spdlog/spdlog.h"

namespace loupe {

bool IsRetryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

absl::Duration BackoffFor(const RetryOptions& options, int retry) {
  double factor = std::pow(options.multiplier, std::max(0, retry - 1));
  absl::Duration wait = options.initial_backoff * factor;
  return std::min(wait, options.max_backoff);
}

SendResult SendWithRetry(HttpTransport& transport, const SendRequest& request,
                         const RetryOptions& options, const RetryClock& clock,
                         absl::BitGen& rng, const std::function<void()>& on_failed_attempt) {
  SendResult result;
  const absl::Time start = clock.now();
  for (int attempt = 1;; ++attempt) {
    result.attempts = attempt;
    absl::StatusOr<HttpResponse> response =
        transport.Post(*request.url, request.body, *request.headers, request.timeout);
    std::optional<absl::Duration> retry_after;
    if (response.ok()) {
      result.last_status = response->status;
      if (response->status >= 200 && response->status < 300) {
        result.outcome = SendOutcome::kSuccess;
        result.response_body = std::move(response->body);
        return result;
      }
      on_failed_attempt();
      if (!IsRetryableStatus(response->status)) {
        spdlog::warn("OTLP export to {} rejected with HTTP {}; not retrying", *request.url,
                     response->status);
        result.outcome = SendOutcome::kPermanentFailure;
        return result;
      }
      retry_after = response->retry_after;
    } else {
      result.last_status = 0;
      on_failed_attempt();
    }

    if (attempt >= options.max_attempts) break;
    absl::Duration wait;
    if (retry_after.has_value()) {
      wait = *retry_after;  // the server knows best when it can take more
    } else {
      double scale = absl::Uniform(rng, 1.0 - options.jitter, 1.0 + options.jitter);
      wait = BackoffFor(options, attempt) * scale;
    }
    if (clock.now() + wait - start > options.max_elapsed) break;
    if (!clock.sleep(wait)) break;
  }
  spdlog::warn("OTLP export to {} failed after {} attempt(s) (last HTTP status {})", *request.url,
               result.attempts, result.last_status);
  result.outcome = SendOutcome::kGaveUp;
  return result;
}

}  // namespace loupe
