// Health of the agent, as the admin endpoints report it. Written by the event thread, read by
// HTTP threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace loupe {

class HealthState {
 public:
  // The event loop calls this on every iteration (CLOCK_MONOTONIC ns).
  void Heartbeat(uint64_t now_ns) { last_heartbeat_ns_.store(now_ns, std::memory_order_relaxed); }
  void SetProbesAttached(bool attached) { probes_attached_.store(attached); }
  void SetStarted() { started_.store(true); }

  // Alive: the event loop has turned recently (it wakes at least every poll interval).
  bool Live(uint64_t now_ns) const;
  // Ready: probes attached and the loop is reading events.
  bool Ready(uint64_t now_ns) const;
  // Started: initialization (config, probes, first read) has completed.
  bool Started() const { return started_.load(); }

  // A one-line JSON explanation for the endpoints.
  std::string Describe(uint64_t now_ns) const;

  static constexpr uint64_t kStaleAfterNs = 10'000'000'000;

 private:
  std::atomic<uint64_t> last_heartbeat_ns_{0};
  std::atomic<bool> probes_attached_{false};
  std::atomic<bool> started_{false};
};

uint64_t MonotonicNowNs();

}  // namespace loupe
