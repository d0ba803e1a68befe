// The pod watch's own metrics (loupe_kubernetes_*, docs/metrics.md). Written by the watch thread
// and, for lookups, by the event thread; prometheus-cpp's series are thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace loupe {

enum class ApiRequest { kList, kWatch, kOwner };
// How a request to the API server ended: the reasons a user acts on differently.
enum class ApiResult { kOk, kUnreachable, kUnauthorized, kForbidden, kExpired, kError };

const char* ApiRequestName(ApiRequest request);
const char* ApiResultName(ApiResult result);

class KubernetesMetrics {
 public:
  explicit KubernetesMetrics(prometheus::Registry& registry);

  void Request(ApiRequest request, ApiResult result);
  // 1 while the last list or watch worked, 0 from a failure until the next success.
  void SetApiAvailable(bool available) { api_available_.Set(available ? 1 : 0); }
  // reason: "start", "expired" (410 Gone), "retry" (after a failure).
  void List(const std::string& reason);
  // type: "added", "modified", "deleted", "bookmark", "error".
  void WatchEvent(const std::string& type);
  // reason: "max_pods", "label_bound", "event_invalid", "event_too_large".
  void Dropped(const std::string& reason, double count = 1);
  void Lookup(bool hit) { (hit ? lookup_hit_ : lookup_miss_).Increment(); }
  void SetPods(size_t pods, size_t containers) {
    pods_.Set(static_cast<double>(pods));
    containers_.Set(static_cast<double>(containers));
  }
  void SetOwnerCacheEntries(size_t n) { owner_cache_entries_.Set(static_cast<double>(n)); }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& lists_;
  prometheus::Family<prometheus::Counter>& watch_events_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Gauge& api_available_;
  prometheus::Counter& lookup_hit_;
  prometheus::Counter& lookup_miss_;
  prometheus::Gauge& pods_;
  prometheus::Gauge& containers_;
  prometheus::Gauge& owner_cache_entries_;
};

}  // namespace loupe
