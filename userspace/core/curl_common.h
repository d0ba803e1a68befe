// A failed libcurl transfer as an absl::Status, the same for every part that speaks HTTP through
// libcurl (the OTLP exporters, the Kubernetes API client). Its own small library
// (loupe_curl_common), so that the rest of core does not link libcurl.
#pragma once

#include <curl/curl.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loupe {

// A new easy handle (curl_global_init once per process, first); the caller cleans it up.
absl::StatusOr<CURL*> NewCurlHandle();

// The kind of cause: kUnavailable the connection could not be made or broke, kNotFound the host
// name did not resolve, kUnauthenticated the TLS handshake or certificate check failed,
// kDeadlineExceeded the timeout passed, kUnknown anything else.
absl::StatusCode CurlFailureCode(CURLcode result);

// "<prefix><cause>": curl's precise message from `error_buffer` (CURLOPT_ERRORBUFFER; "Failed
// to connect to 127.0.0.1 port 4318 after 0 ms: Connection refused") or its generic one, and the
// system's error when there was one. curl's messages name the URL's host at most, never headers.
absl::Status CurlFailure(CURL* curl, CURLcode result, const char* error_buffer,
                         std::string_view prefix);

}  // namespace loupe
