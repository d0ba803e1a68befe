#include "exporters/otlp/otlp_sender.h"

#include <utility>

#include "exporters/otlp/curl_transport.h"

namespace loupe {

absl::StatusOr<std::unique_ptr<OtlpSender>> OtlpSender::Create(
    const OtlpConfig& config, std::string endpoint, std::string_view signal,
    prometheus::Registry& self_metrics, OtlpSenderOptions options,
    std::unique_ptr<HttpTransport> transport) {
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("OTLP retry max_attempts must be >= 1");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("OTLP sender needs a clock");
  if (transport == nullptr) {
    auto curl = CurlTransport::Create();
    if (!curl.ok()) return curl.status();
    transport = *std::move(curl);
  }
  return std::unique_ptr<OtlpSender>(new OtlpSender(config, std::move(endpoint), signal,
                                                    self_metrics, std::move(options),
                                                    std::move(transport)));
}

OtlpSender::OtlpSender(const OtlpConfig& config, std::string endpoint, std::string_view signal,
                       prometheus::Registry& self_metrics, OtlpSenderOptions options,
                       std::unique_ptr<HttpTransport> transport)
    : endpoint_(std::move(endpoint)),
      headers_(config.headers),
      timeout_(config.timeout),
      retry_(options.retry),
      transport_(std::move(transport)),
      failures_(self_metrics, signal),
      clock_(options.clock) {
  retry_wait_ = options.retry_wait ? std::move(options.retry_wait)
                                   : [this](absl::Duration d) { return gate_.Sleep(d); };
}

SendResult OtlpSender::Send(std::string_view body) {
  SendRequest request{&endpoint_, body, &headers_, gate_.CapToDeadline(timeout_)};
  return SendWithRetry(*transport_, request, retry_, *clock_, retry_wait_, rng_,
                       [this](std::string_view reason) { failures_.Increment(reason); });
}

}  // namespace loupe
