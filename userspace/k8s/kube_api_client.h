// The two HTTP operations the pod watch needs from the Kubernetes API server: a bounded GET and a
// streamed watch. Behind an interface so the watch logic does not know about libcurl.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loupe {

// Where the API server is and how to authenticate. In a pod: https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT with the service account's token and CA (InClusterApiConfig).
struct KubeApiConfig {
  std::string base_url;    // "https://10.96.0.1:443"; no trailing slash
  std::string token_file;  // bearer token, re-read for every request (kubelet rotates it); "" none
  std::string ca_file;     // PEM bundle the server's certificate must chain to; "" system CAs
};

// The answer to a request that reached the server.
struct KubeResponse {
  int status = 0;
  std::string body;  // bounded: a larger body fails the request instead
};

class KubeApiClient {
 public:
  virtual ~KubeApiClient() = default;

  // GETs `path_and_query` (starting with "/"). A non-OK status means no HTTP answer was had:
  // kResourceExhausted the body was over the client's bound, else the kind of transport failure
  // (core/curl_common.h: unavailable, not found, unauthenticated, deadline exceeded, unknown).
  // Messages never contain the token.
  virtual absl::StatusOr<KubeResponse> Get(const std::string& path_and_query) = 0;

  // GETs a watch stream and calls `on_line` with each complete line of the body (one watch event
  // each) while it arrives; `on_line` returning false ends the stream. Returns the HTTP status
  // when the stream ends (the server closed it, `on_line` or `stop` ended it); when the status
  // is not 200 the body is returned as the response's body instead of being split into lines.
  // Errors as for Get; a line over the client's bound is kResourceExhausted.
  virtual absl::StatusOr<KubeResponse> Watch(
      const std::string& path_and_query, const std::function<bool(std::string_view)>& on_line,
      const std::atomic<bool>* stop) = 0;
};

struct CurlKubeApiOptions {
  size_t max_body_bytes = 32 << 20;     // a page of the pod list, an owner object
  size_t max_line_bytes = 4 << 20;      // one watch event (a pod)
  int connect_timeout_ms = 5'000;
  int request_timeout_ms = 30'000;      // Get only; a watch lasts as long as the server keeps it
  // A watch that receives nothing at all for this long is presumed dead (the server sends
  // bookmarks, and ends watches after their timeoutSeconds).
  int watch_idle_timeout_s = 360;
};

// Over libcurl. One instance per thread: not thread-safe.
class CurlKubeApiClient final : public KubeApiClient {
 public:
  static absl::StatusOr<std::unique_ptr<CurlKubeApiClient>> Create(KubeApiConfig config,
                                                                   CurlKubeApiOptions options);
  ~CurlKubeApiClient() override;

  absl::StatusOr<KubeResponse> Get(const std::string& path_and_query) override;
  absl::StatusOr<KubeResponse> Watch(const std::string& path_and_query,
                                     const std::function<bool(std::string_view)>& on_line,
                                     const std::atomic<bool>* stop) override;

 private:
  CurlKubeApiClient(KubeApiConfig config, CurlKubeApiOptions options, void* handle)
      : config_(std::move(config)), options_(options), handle_(handle) {}
  struct Transfer;
  absl::StatusOr<KubeResponse> Perform(const std::string& path_and_query, Transfer* transfer);

  const KubeApiConfig config_;
  const CurlKubeApiOptions options_;
  void* handle_;  // CURL*, reused so the connection is kept alive between requests
};

// Reads the environment of a pod: KUBERNETES_SERVICE_HOST/PORT and the service account's files
// under `service_account_dir`. An error says what is missing.
using KubeEnvLookup = std::function<const char*(const char* name)>;
absl::StatusOr<KubeApiConfig> InClusterApiConfig(const KubeEnvLookup& getenv,
                                                 const std::string& service_account_dir);

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

}  // namespace loupe
