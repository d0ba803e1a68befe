#include "userspace/k8s/kube_api_client.h"

#include <curl/curl.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "userspace/core/curl_common.h"
#include "userspace/core/small_file.h"

namespace loupe {
namespace {

// A service account token is a JWT of a few KiB.
constexpr size_t kMaxTokenBytes = 64 << 10;


}  // namespace

// What one request collects while curl runs it.
struct CurlKubeApiClient::Transfer {
  CURL* curl = nullptr;
  size_t max_body = 0;
  size_t max_line = 0;
  // Watch only: lines go here while the status is 200.
  const std::function<bool(std::string_view)>* on_line = nullptr;
  const std::atomic<bool>* stop = nullptr;
  std::string body;  // a Get's body, a failed watch's body, or a watch's unfinished line
  bool too_large = false;
  bool ended_by_caller = false;  // on_line said stop, or *stop became true

  static size_t OnData(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<Transfer*>(user);
    const size_t bytes = size * nmemb;
    long status = 0;
    curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
    if (self->on_line == nullptr || status != 200) {
      if (self->body.size() + bytes > self->max_body) {
        self->too_large = true;
        return 0;  // aborts the transfer
      }
      self->body.append(data, bytes);
      return bytes;
    }
    std::string_view rest(data, bytes);
    while (!rest.empty()) {
      const size_t newline = rest.find('\n');
      const std::string_view piece = rest.substr(0, newline);
      if (self->body.size() + piece.size() > self->max_line) {
        self->too_large = true;
        return 0;
      }
      self->body.append(piece);
      if (newline == std::string_view::npos) break;
      rest.remove_prefix(newline + 1);
      if (!self->body.empty() && !(*self->on_line)(self->body)) {
        self->ended_by_caller = true;
        return 0;
      }
      self->body.clear();
    }
    return bytes;
  }

  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Transfer*>(user);
    if (self->stop != nullptr && self->stop->load()) {
      self->ended_by_caller = true;
      return 1;  // aborts the transfer
    }
    return 0;
  }
};

absl::StatusOr<std::unique_ptr<CurlKubeApiClient>> CurlKubeApiClient::Create(
    KubeApiConfig config, CurlKubeApiOptions options) {
  absl::StatusOr<CURL*> handle = NewCurlHandle();
  if (!handle.ok()) return handle.status();
  return std::unique_ptr<CurlKubeApiClient>(
      new CurlKubeApiClient(std::move(config), options, *handle));
}

CurlKubeApiClient::~CurlKubeApiClient() { curl_easy_cleanup(static_cast<CURL*>(handle_)); }

absl::StatusOr<KubeResponse> CurlKubeApiClient::Get(const std::string& path_and_query) {
  Transfer transfer;
  transfer.max_body = options_.max_body_bytes;
  return Perform(path_and_query, &transfer);
}

absl::StatusOr<KubeResponse> CurlKubeApiClient::Watch(
    const std::string& path_and_query, const std::function<bool(std::string_view)>& on_line,
    const std::atomic<bool>* stop) {
  Transfer transfer;
  transfer.max_body = options_.max_body_bytes;
  transfer.max_line = options_.max_line_bytes;
  transfer.on_line = &on_line;
  transfer.stop = stop;
  return Perform(path_and_query, &transfer);
}

absl::StatusOr<KubeResponse> CurlKubeApiClient::Perform(const std::string& path_and_query,
                                                        Transfer* transfer) {
  CURL* curl = static_cast<CURL*>(handle_);
  curl_easy_reset(curl);
  transfer->curl = curl;
  const bool watch = transfer->on_line != nullptr;

  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!config_.token_file.empty()) {
    // Re-read every time: the kubelet replaces a projected token long before it expires.
    std::string token(absl::StripAsciiWhitespace(ReadSmallFile(config_.token_file, kMaxTokenBytes)));
    if (!token.empty()) {
      headers = curl_slist_append(headers, absl::StrCat("Authorization: Bearer ", token).c_str());
    }
  }
  const std::string url = config_.base_url + path_and_query;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  if (watch) {
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.watch_idle_timeout_s));
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));
  }
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Transfer::OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, transfer);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

  const CURLcode result = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);  // holds the token: gone before anything else can see it

  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (transfer->too_large) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "GET ", path_and_query, ": ", watch && status == 200 ? "a watch event" : "the body",
        " is larger than the client's bound"));
  }
  if (result != CURLE_OK && !transfer->ended_by_caller) {
    return CurlFailure(curl, result, error, absl::StrCat("GET ", path_and_query, ": "));
  }
  if (watch && status == 200 && !transfer->ended_by_caller && !transfer->body.empty()) {
    (*transfer->on_line)(transfer->body);  // the server ended the stream without a newline
  }
  KubeResponse response;
  response.status = static_cast<int>(status);
  if (!watch || status != 200) response.body = std::move(transfer->body);
  return response;
}

absl::StatusOr<KubeApiConfig> InClusterApiConfig(const KubeEnvLookup& getenv,
                                                 const std::string& service_account_dir) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not in a pod?): set "
        "kubernetes.api_url");
  }
  KubeApiConfig config;
  const absl::string_view host_view(host);
  // An IPv6 service address goes in brackets in a URL.
  config.base_url = absl::StrContains(host_view, ":")
                        ? absl::StrCat("https://[", host_view, "]:", port)
                        : absl::StrCat("https://", host_view, ":", port);
  config.token_file = service_account_dir + "/token";
  config.ca_file = service_account_dir + "/ca.crt";
  if (ReadSmallFile(config.token_file, kMaxTokenBytes).empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read the service account token ", config.token_file,
        ": mount the service account token (automountServiceAccountToken) or set "
        "kubernetes.token_file"));
  }
  return config;
}

}  // namespace loupe
