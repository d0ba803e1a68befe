// The one HTTP operation the exporters need, behind an interface so tests can fake it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace loupe {

struct HttpResponse {
  int status = 0;
  std::string body;  // bounded by the transport
  std::optional<absl::Duration> retry_after;  // from a Retry-After header in seconds
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // POSTs `body` as application/x-protobuf. A non-OK status means no HTTP response was had; its
  // message gives the cause as the HTTP library reported it, and its code the kind of cause
  // (TransportFailureReason): kUnavailable the connection could not be made or broke,
  // kNotFound the host name did not resolve, kUnauthenticated the TLS handshake or certificate
  // check failed, kDeadlineExceeded the timeout passed, anything else another failure.
  // Implementations never put header values or URL credentials in a message.
  virtual absl::StatusOr<HttpResponse> Post(const std::string& url, std::string_view body,
                                            const HttpHeaders& headers,
                                            absl::Duration timeout) = 0;
};

}  // namespace loupe
