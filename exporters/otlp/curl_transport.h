// HttpTransport over libcurl. One instance per exporter thread: not thread-safe.
#pragma once

#include <memory>

#include "exporters/otlp/http_transport.h"

namespace loupe {

class CurlTransport : public HttpTransport {
 public:
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create();
  ~CurlTransport() override;

  absl::StatusOr<HttpResponse> Post(const std::string& url, std::string_view body,
                                    const HttpHeaders& headers, absl::Duration timeout) override;

 private:
  explicit CurlTransport(void* handle) : handle_(handle) {}
  void* handle_;  // CURL*, reused so connections are kept alive between exports
};

// Parses a Retry-After header value in delta-seconds form; HTTP dates are not honoured.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value);

}  // namespace loupe
