#include "userspace/k8s/pod_watcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

// Percent-encodes everything but RFC 3986's unreserved characters (continue tokens are base64).
std::string QueryEscape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

ApiResult ResultOfStatus(int status) {
  switch (status) {
    case 200: return ApiResult::kOk;
    case 401: return ApiResult::kUnauthorized;
    case 403: return ApiResult::kForbidden;
    case 410: return ApiResult::kExpired;
    default: return ApiResult::kError;
  }
}

const char* EventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded: return "added";
    case WatchEventType::kModified: return "modified";
    case WatchEventType::kDeleted: return "deleted";
    case WatchEventType::kBookmark: return "bookmark";
    case WatchEventType::kError: return "error";
  }
  return "error";
}

}  // namespace

PodWatcher::PodWatcher(PodWatcherOptions options, KubeApiClient* client, OwnerResolver* owners,
                       KubernetesPodDirectory* directory, KubernetesMetrics* metrics)
    : options_(std::move(options)),
      client_(client),
      owners_(owners),
      directory_(directory),
      metrics_(metrics),
      backoff_ms_(options_.initial_backoff_ms) {}

PodWatcher::~PodWatcher() { Stop(); }

std::string PodWatcher::NodeSelector(std::string_view node_name) {
  return absl::StrCat("fieldSelector=", QueryEscape(absl::StrCat("spec.nodeName=", std::string(node_name))));
}

void PodWatcher::Start() { thread_ = std::thread([this] { Run(); }); }

void PodWatcher::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
}

void PodWatcher::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void PodWatcher::Run() {
  const char* reason = "start";
  Next next = Next::kList;
  while (!stop_.load()) {
    switch (next) {
      case Next::kList:
        next = List(reason);
        break;
      case Next::kWatch:
        next = WatchOnce();
        if (next == Next::kList) {
          reason = "expired";
          // A server that expires every watch at once would make this a busy loop.
          if (++lists_without_events_ > 1) Backoff();
        }
        break;
      case Next::kRetry:
        Backoff();
        reason = "retry";
        next = Next::kList;
        break;
      case Next::kStop:
        return;
    }
  }
}

PodWatcher::Next PodWatcher::List(const char* reason) {
  const std::string base =
      absl::StrCat("/api/v1/pods?", NodeSelector(options_.node_name), "&resourceVersion=0");
  std::vector<ResolvedPod> pods;
  std::string continue_token;
  std::string resource_version;
  do {
    const std::string path =
        continue_token.empty()
            ? base
            : absl::StrCat("/api/v1/pods?", NodeSelector(options_.node_name), "&continue=",
                           QueryEscape(continue_token));
    absl::StatusOr<KubeResponse> response = client_->Get(path);
    if (stop_.load()) return Next::kStop;
    if (!response.ok()) {
      const bool too_large = response.status().code() == absl::StatusCode::kResourceExhausted;
      Failed(ApiRequest::kList, too_large ? ApiResult::kError : ApiResult::kUnreachable,
             std::string(response.status().message()));
      return Next::kRetry;
    }
    const ApiResult result = ResultOfStatus(response->status);
    if (result != ApiResult::kOk) {
      Failed(ApiRequest::kList, result,
             absl::StrCat("HTTP ", response->status, ": ", StatusMessage(response->body)));
      return Next::kRetry;
    }
    absl::StatusOr<PodList> list = ParsePodList(response->body);
    if (!list.ok()) {
      Failed(ApiRequest::kList, ApiResult::kError, std::string(list.status().message()));
      return Next::kRetry;
    }
    for (PodInfo& pod : list->pods) {
      if (pod.node_name == options_.node_name) pods.push_back(Resolve(std::move(pod)));
    }
    continue_token = std::move(list->continue_token);
    resource_version = std::move(list->resource_version);
  } while (!continue_token.empty());

  metrics_->Request(ApiRequest::kList, ApiResult::kOk);
  metrics_->List(reason);
  directory_->ReplaceAll(std::move(pods));
  resource_version_ = std::move(resource_version);
  Succeeded();
  return Next::kWatch;
}

PodWatcher::Next PodWatcher::WatchOnce() {
  const std::string path = absl::StrCat(
      "/api/v1/pods?", NodeSelector(options_.node_name), "&watch=true&allowWatchBookmarks=true",
      "&resourceVersion=", QueryEscape(resource_version_), "&timeoutSeconds=",
      options_.watch_timeout_s);
  Next next = Next::kWatch;
  watch_result_ = ApiResult::kOk;
  watch_error_.clear();
  absl::StatusOr<KubeResponse> response = client_->Watch(
      path, [&](std::string_view line) { return OnEvent(line, &next); }, &stop_);
  if (stop_.load()) return Next::kStop;
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kResourceExhausted) {
      metrics_->Dropped("event_too_large");
      metrics_->Request(ApiRequest::kWatch, ApiResult::kError);
      return Next::kList;  // an event was lost: only a list can vouch for the directory again
    }
    Failed(ApiRequest::kWatch, ApiResult::kUnreachable, std::string(response.status().message()));
    return Next::kRetry;
  }
  const ApiResult result = ResultOfStatus(response->status);
  if (result == ApiResult::kExpired) {
    metrics_->Request(ApiRequest::kWatch, result);
    return Next::kList;
  }
  if (result != ApiResult::kOk) {
    Failed(ApiRequest::kWatch, result,
           absl::StrCat("HTTP ", response->status, ": ", StatusMessage(response->body)));
    return Next::kRetry;
  }
  // The stream was had; how it ended is what its events said.
  if (next == Next::kRetry) {
    Failed(ApiRequest::kWatch, watch_result_, watch_error_);
  } else {
    metrics_->Request(ApiRequest::kWatch, watch_result_);
  }
  return next;
}

bool PodWatcher::OnEvent(std::string_view line, Next* next) {
  absl::StatusOr<WatchEvent> event = ParseWatchEvent(line);
  if (!event.ok()) {
    metrics_->Dropped("event_invalid");
    watch_result_ = ApiResult::kError;
    *next = Next::kList;  // an event was lost: only a list can vouch for the directory again
    return false;
  }
  metrics_->WatchEvent(EventTypeName(event->type));
  if (event->type != WatchEventType::kError) lists_without_events_ = 0;
  switch (event->type) {
    case WatchEventType::kError:
      if (event->error_code == 410) {
        watch_result_ = ApiResult::kExpired;
        *next = Next::kList;  // the resourceVersion is too old: list again
      } else {
        watch_result_ = ApiResult::kError;
        watch_error_ = absl::StrCat("watch error ", event->error_code, ": ", event->error_message);
        *next = Next::kRetry;
      }
      return false;
    case WatchEventType::kBookmark:
      break;
    case WatchEventType::kDeleted:
      directory_->Remove(event->pod.uid);
      break;
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
      if (event->pod.node_name == options_.node_name) {
        std::string resource_version = event->pod.resource_version;
        directory_->Upsert(Resolve(std::move(event->pod)));
        resource_version_ = std::move(resource_version);
        return !stop_.load();
      }
      break;
  }
  if (!event->pod.resource_version.empty()) resource_version_ = event->pod.resource_version;
  return !stop_.load();
}

ResolvedPod PodWatcher::Resolve(PodInfo pod) {
  ResolvedPod resolved;
  resolved.workload = owners_->Resolve(pod.namespace_name, pod.owners);
  resolved.pod = std::move(pod);
  return resolved;
}

void PodWatcher::Failed(ApiRequest request, ApiResult result, const std::string& detail) {
  metrics_->Request(request, result);
  metrics_->SetApiAvailable(false);
  if (!available_) return;
  available_ = false;
  log::Warn("kubernetes API unavailable: processes are named from their own view until it "
            "answers again",
            {{"request", ApiRequestName(request)},
             {"result", ApiResultName(result)},
             {"node", options_.node_name},
             {"error", detail}});
}

void PodWatcher::Succeeded() {
  backoff_ms_ = options_.initial_backoff_ms;
  metrics_->SetApiAvailable(true);
  if (available_) return;
  available_ = true;
  log::Info("kubernetes API available again", {{"pods", directory_->pods()}});
}

void PodWatcher::Backoff() {
  // Jitter between half and all of the backoff, so the agents of many nodes do not retry in step
  // after the API server comes back.
  thread_local absl::BitGen random;
  const auto wait = std::chrono::milliseconds(
      static_cast<int64_t>(absl::Uniform<double>(random, 0.5, 1.0) * static_cast<double>(backoff_ms_)));
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, wait, [this] { return stop_.load(); });
}

}  // namespace loupe
