// Health of the agent, as the admin endpoints report it. Written by the event thread, read by
// HTTP threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace loupe {

// A feature the configuration asks for that the kernel or the capabilities refuse.
struct Degradation {
  std::string feature;  // a KernelFeatureName, or another stable name
  std::string effect;   // what the agent does not see because of it
  std::string fix;      // what to change
};

class HealthState {
 public:
  // The event loop calls this on every iteration. All times here are CLOCK_MONOTONIC ns, read
  // from the agent's Clock by the caller.
  void Heartbeat(uint64_t now_ns) { last_heartbeat_ns_.store(now_ns, std::memory_order_relaxed); }
  void SetProbesAttached(bool attached) { probes_attached_.store(attached); }
  void SetStarted() { started_.store(true); }
  // Ready stays true while degraded (the agent still sees everything else; a DaemonSet whose
  // pods turned unready for a missing uprobe would block rollouts and stop nothing), but the
  // endpoints say "degraded" and list each one.
  void AddDegradation(Degradation degradation);
  std::vector<Degradation> degradations() const;

  // Alive: the event loop has turned recently (it wakes at least every poll interval).
  bool Live(uint64_t now_ns) const;
  // Ready: probes attached and the loop is reading events.
  bool Ready(uint64_t now_ns) const;
  // Started: initialization (config, probes, first read) has completed.
  bool Started() const { return started_.load(); }

  // A one-line JSON explanation for the endpoints, with "degraded":[...] listing each
  // degradation.
  std::string Describe(uint64_t now_ns) const;

  static constexpr uint64_t kStaleAfterNs = 10'000'000'000;

 private:
  std::atomic<uint64_t> last_heartbeat_ns_{0};
  std::atomic<bool> probes_attached_{false};
  std::atomic<bool> started_{false};
  mutable std::mutex mu_;
  std::vector<Degradation> degradations_;  // guarded by mu_
};

}  // namespace loupe
