#include "exporters/otlp/curl_transport.h"

#include <curl/curl.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "userspace/core/curl_common.h"
#include "userspace/core/redact.h"

namespace loupe {
namespace {

// Responses are small status messages; anything longer is cut rather than buffered.
constexpr size_t kMaxResponseBody = 64 * 1024;

struct ResponseState {
  HttpResponse response;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* state = static_cast<ResponseState*>(user);
  size_t bytes = size * nmemb;
  std::string& body = state->response.body;
  if (body.size() < kMaxResponseBody) {
    body.append(data, std::min(bytes, kMaxResponseBody - body.size()));
  }
  return bytes;
}

size_t ReadHeader(char* data, size_t size, size_t nitems, void* user) {
  auto* state = static_cast<ResponseState*>(user);
  absl::string_view line(data, size * nitems);
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos &&
      absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), "retry-after")) {
    absl::string_view value = line.substr(colon + 1);
    state->response.retry_after = ParseRetryAfter({value.data(), value.size()});
  }
  return size * nitems;
}

// The status code for a failed transfer, as HttpTransport::Post documents it.

}  // namespace

std::optional<absl::Duration> ParseRetryAfter(std::string_view value) {
  int64_t seconds = 0;
  absl::string_view trimmed = absl::StripAsciiWhitespace({value.data(), value.size()});
  if (!absl::SimpleAtoi(trimmed, &seconds) || seconds < 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create() {
  absl::StatusOr<CURL*> handle = NewCurlHandle();
  if (!handle.ok()) return handle.status();
  return std::unique_ptr<CurlTransport>(new CurlTransport(*handle));
}

CurlTransport::~CurlTransport() { curl_easy_cleanup(static_cast<CURL*>(handle_)); }

absl::StatusOr<HttpResponse> CurlTransport::Post(const std::string& url, std::string_view body,
                                                 const HttpHeaders& headers,
                                                 absl::Duration timeout) {
  CURL* curl = static_cast<CURL*>(handle_);
  curl_easy_reset(curl);

  curl_slist* header_list = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  // An empty Expect stops curl from waiting for "100 Continue" on larger bodies.
  header_list = curl_slist_append(header_list, "Expect:");
  for (const auto& [name, value] : headers) {
    header_list = curl_slist_append(header_list, absl::StrCat(name, ": ", value).c_str());
  }

  ResponseState state;
  long timeout_ms = static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // we run on our own thread; no SIGALRM
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  // The precise cause ("Failed to connect to 127.0.0.1 port 4318 after 0 ms: Connection
  // refused"); curl_easy_strerror alone gives only the class ("Couldn't connect to server").
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

  CURLcode result = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(header_list);
  if (result != CURLE_OK) {
    // curl's message names the URL's host at most, never our headers. The system's own error
    // ("Connection refused", "No route to host") is added when there was one.
    return CurlFailure(curl, result, error,
                       absl::StrFormat("POST %s failed: ", RedactUrlCredentials(url)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  state.response.status = static_cast<int>(status);
  return std::move(state.response);
}

}  // namespace loupe
