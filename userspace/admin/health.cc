#include "userspace/admin/health.h"

#include "absl/strings/str_cat.h"
#include "userspace/core/json.h"

namespace loupe {

bool HealthState::Live(uint64_t now_ns) const {
  const uint64_t last = last_heartbeat_ns_.load(std::memory_order_relaxed);
  // Before the loop starts the process is alive as long as it is starting up.
  if (last == 0) return !started_.load();
  return now_ns < last + kStaleAfterNs;
}

bool HealthState::Ready(uint64_t now_ns) const {
  return started_.load() && probes_attached_.load() && Live(now_ns);
}

void HealthState::AddDegradation(Degradation degradation) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Degradation& known : degradations_) {
    if (known.feature == degradation.feature) return;
  }
  degradations_.push_back(std::move(degradation));
}

std::vector<Degradation> HealthState::degradations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return degradations_;
}

std::string HealthState::Describe(uint64_t now_ns) const {
  const uint64_t last = last_heartbeat_ns_.load(std::memory_order_relaxed);
  const double age = last == 0 ? -1.0 : static_cast<double>(now_ns - last) / 1e9;
  std::string degraded;
  for (const Degradation& d : degradations()) {
    absl::StrAppend(&degraded, degraded.empty() ? "" : ",", "{\"feature\":", "\"", JsonEscape(d.feature), "\"",
                    ",\"effect\":", "\"", JsonEscape(d.effect), "\"", ",\"fix\":", "\"", JsonEscape(d.fix), "\"", "}");
  }
  return absl::StrCat("{\"started\":", started_.load() ? "true" : "false",
                      ",\"probes_attached\":", probes_attached_.load() ? "true" : "false",
                      ",\"event_loop_age_seconds\":", age, ",\"degraded\":[", degraded, "]}");
}

}  // namespace loupe
