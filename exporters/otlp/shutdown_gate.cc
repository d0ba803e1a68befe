#include "exporters/otlp/shutdown_gate.h"

#include <algorithm>

namespace loupe {

void ShutdownGate::BeginShutdown(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    deadline_ = Clock::now() + absl::ToChronoNanoseconds(timeout);
  }
  cv_.notify_all();
}

bool ShutdownGate::shutting_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

bool ShutdownGate::PastDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_ && Clock::now() >= deadline_;
}

bool ShutdownGate::Sleep(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  const Clock::time_point until = Clock::now() + absl::ToChronoNanoseconds(d);
  bool cut = cv_.wait_until(lock, until, [&] { return stopping_ && until > deadline_; });
  return !cut;
}

bool ShutdownGate::WaitForShutdown(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [&] { return stopping_; });
}

absl::Duration ShutdownGate::CapToDeadline(absl::Duration d) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopping_) return d;
  absl::Duration left = absl::FromChrono(deadline_ - Clock::now());
  return std::max(absl::Milliseconds(1), std::min(d, left));
}

}  // namespace loupe
