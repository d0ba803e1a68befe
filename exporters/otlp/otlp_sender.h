// What both OTLP exporters need to send one request to their endpoint: the transport (libcurl
// unless one is given), the retry rules (retry.h) with waits that Shutdown cuts short, the count
// of failed attempts by reason (loupe_otlp_export_failures_total{signal,reason}), and the reading
// of the endpoint's partial-success answer. The exporters keep only what differs: what they send
// and when.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "exporters/otlp/http_transport.h"
#include "exporters/otlp/otlp_config.h"
#include "exporters/otlp/retry.h"
#include "exporters/otlp/self_metrics.h"
#include "exporters/otlp/shutdown_gate.h"
#include "prometheus/registry.h"
#include "userspace/logging/log.h"

namespace loupe {

struct OtlpSenderOptions {
  RetryOptions retry;
  // Where the retry loop reads the time; must outlive the sender. Required.
  const Clock* clock = nullptr;
  // Tests: replaces the real wait between retries (the gate's, which shutdown cuts short).
  RetryWait retry_wait;
};

class OtlpSender {
 public:
  // Sends to `endpoint` (the signal's URL) with the config's headers and timeout. `signal`
  // ("traces", "metrics") labels its failures in `self_metrics`, which must outlive it.
  // InvalidArgument when retry.max_attempts < 1 or without a clock; `transport` defaults to
  // libcurl.
  static absl::StatusOr<std::unique_ptr<OtlpSender>> Create(
      const OtlpConfig& config, std::string endpoint, std::string_view signal,
      prometheus::Registry& self_metrics, OtlpSenderOptions options,
      std::unique_ptr<HttpTransport> transport);

  OtlpSender(const OtlpSender&) = delete;
  OtlpSender& operator=(const OtlpSender&) = delete;

  // Sends `body`, retrying; every failed attempt is counted by reason, and a request given up or
  // refused is logged once (SendWithRetry). Once shutdown has begun, the request's timeout and
  // retry waits end at the gate's deadline. One caller at a time: the transport is not
  // thread-safe.
  SendResult Send(std::string_view body);

  // Ends the waits of Send and of the exporter's own thread (shutdown_gate.h).
  ShutdownGate& gate() { return gate_; }

 private:
  OtlpSender(const OtlpConfig& config, std::string endpoint, std::string_view signal,
             prometheus::Registry& self_metrics, OtlpSenderOptions options,
             std::unique_ptr<HttpTransport> transport);

  const std::string endpoint_;
  const HttpHeaders headers_;
  const absl::Duration timeout_;
  const RetryOptions retry_;
  std::unique_ptr<HttpTransport> transport_;
  ExportFailureCounter failures_;
  ShutdownGate gate_;
  const Clock* clock_;
  RetryWait retry_wait_;
  absl::BitGen rng_;
};

// The items of an accepted export that the endpoint refused in its partial-success answer, from
// 0 to `sent`; a refusal is logged as `log_message` with the endpoint's error message. `Response`
// is the signal's Export*ServiceResponse; `rejected_count` reads the refused items from its
// partial_success.
template <typename Response, typename RejectedCount>
double RejectedItems(const SendResult& result, double sent, RejectedCount rejected_count,
                     std::string_view log_message) {
  Response response;
  if (result.response_body.empty() || !response.ParseFromString(result.response_body) ||
      !response.has_partial_success()) {
    return 0;
  }
  const double rejected =
      std::clamp(static_cast<double>(rejected_count(response.partial_success())), 0.0, sent);
  if (rejected > 0) {
    log::Warn(log_message, {{"rejected", rejected},
                            {"sent", sent},
                            {"error", response.partial_success().error_message()}});
  }
  return rejected;
}

}  // namespace loupe
