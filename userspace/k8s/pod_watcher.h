// This node's pods, kept current in a KubernetesPodDirectory by one thread: a LIST of the pods
// whose spec.nodeName is this node (never the cluster's), then a WATCH from the list's
// resourceVersion. A watch the server ends is resumed where it stopped; an expired
// resourceVersion (410 Gone) or anything the watch cannot vouch for is a new list; a failure
// waits (exponential backoff with jitter) and lists again. The first failure of an outage logs
// one warning and the recovery one line; every request is counted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "userspace/k8s/kube_api_client.h"
#include "userspace/k8s/kubernetes_metrics.h"
#include "userspace/k8s/owner_resolver.h"
#include "userspace/k8s/pod_directory.h"

namespace loupe {

struct PodWatcherOptions {
  std::string node_name;
  // The server ends each watch after this long (timeoutSeconds); the watch then resumes from the
  // last resourceVersion without a new list.
  int watch_timeout_s = 300;
  uint64_t initial_backoff_ms = 1'000;
  uint64_t max_backoff_ms = 30'000;
};

class PodWatcher {
 public:
  // `client` is the watch's own (a watch holds its connection); `owners` has another one.
  PodWatcher(PodWatcherOptions options, KubeApiClient* client, OwnerResolver* owners,
             KubernetesPodDirectory* directory, KubernetesMetrics* metrics);
  ~PodWatcher();  // stops the thread

  void Start();
  // Asks the thread to end without waiting for it: a wait ends at once, a request within about a
  // second (curl's progress callback).
  void RequestStop();
  // RequestStop, then joins the thread.
  void Stop();

  // The query selecting this node's pods, for the list and the watch.
  static std::string NodeSelector(std::string_view node_name);

 private:
  enum class Next { kWatch, kList, kRetry, kStop };

  void Run();
  // Lists every pod of the node (resourceVersion=0: served from the API server's cache, as the
  // kubelet does, not from etcd) into the directory.
  Next List(const char* reason);
  Next WatchOnce();
  // Applies one watch event; false ends the watch, with *next saying what follows.
  bool OnEvent(std::string_view line, Next* next);
  ResolvedPod Resolve(PodInfo pod);
  void Failed(ApiRequest request, ApiResult result, const std::string& detail);
  void Succeeded();
  // Waits the current backoff (cut short by Stop) and doubles it.
  void Backoff();

  const PodWatcherOptions options_;
  KubeApiClient* const client_;
  OwnerResolver* const owners_;
  KubernetesPodDirectory* const directory_;
  KubernetesMetrics* const metrics_;

  // The watch thread's own state.
  std::string resource_version_;
  uint64_t backoff_ms_;
  bool available_ = true;
  int lists_without_events_ = 0;  // lists since a watch last delivered an event
  // How the current watch stream ended, as its events said (OnEvent).
  ApiResult watch_result_ = ApiResult::kOk;
  std::string watch_error_;  // false from a failure to the next success: one warning per outage

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace loupe
