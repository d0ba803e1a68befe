// Lets an exporter thread's waits (between retries, between periodic exports) end early once
// Shutdown(timeout) begins, so that shutdown takes at most about `timeout`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace loupe {

class ShutdownGate {
 public:
  // Idempotent: the first call's deadline stands.
  void BeginShutdown(absl::Duration timeout);
  bool shutting_down() const;
  bool PastDeadline() const;

  // Waits `d`. Returns false (early, if need be) when shutdown has begun and the wait would end
  // past the deadline.
  bool Sleep(absl::Duration d);

  // Waits up to `d` or until shutdown begins. Returns true if shutdown has begun.
  bool WaitForShutdown(absl::Duration d);

  // `d`, shortened to the time left before the deadline once shutdown has begun (at least 1 ms).
  absl::Duration CapToDeadline(absl::Duration d) const;

 private:
  using Clock = std::chrono::steady_clock;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Clock::time_point deadline_;
};

}  // namespace loupe
