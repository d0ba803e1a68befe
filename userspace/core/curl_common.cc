#include "userspace/core/curl_common.h"

#include <mutex>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace loupe {

absl::StatusOr<CURL*> NewCurlHandle() {
  static std::once_flag once;
  static CURLcode init_result = CURLE_OK;
  std::call_once(once, [] { init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_result != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init failed: ", curl_easy_strerror(init_result)));
  }
  CURL* handle = curl_easy_init();
  if (handle == nullptr) return absl::InternalError("curl_easy_init failed");
  return handle;
}

absl::StatusCode CurlFailureCode(CURLcode result) {
  switch (result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return absl::StatusCode::kNotFound;
    case CURLE_OPERATION_TIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return absl::StatusCode::kUnauthenticated;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status CurlFailure(CURL* curl, CURLcode result, const char* error_buffer,
                         std::string_view prefix) {
  std::string cause =
      error_buffer != nullptr && error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result);
  long os_errno = 0;
  if (curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
    absl::StrAppend(&cause, " (",
                    std::error_code(static_cast<int>(os_errno), std::generic_category()).message(),
                    ")");
  }
  return absl::Status(CurlFailureCode(result),
                      absl::StrCat(absl::string_view(prefix.data(), prefix.size()), cause));
}

}  // namespace loupe
