// Time, injected. Every part that needs the time is given a Clock when it is built and reads it
// there, so tests drive time with a FakeClock instead of sleeping, and there is one place that
// knows how the kernel's timestamps map to wall time.
#pragma once

#include <atomic>
#include <cstdint>

namespace loupe {

class Clock {
 public:
  virtual ~Clock() = default;
  // CLOCK_MONOTONIC nanoseconds: the clock of the kernel's timestamps (Record::start_ns).
  virtual uint64_t MonotonicNs() const = 0;
  // Wall time, Unix-epoch nanoseconds.
  virtual uint64_t UnixNs() const = 0;
  // A CLOCK_MONOTONIC timestamp (from the kernel or MonotonicNs) as Unix-epoch nanoseconds.
  virtual uint64_t MonotonicToUnixNs(uint64_t monotonic_ns) const = 0;
};

// The system's clocks. The offset between CLOCK_MONOTONIC and CLOCK_REALTIME is sampled once,
// at construction, with the realtime reading bracketed by two monotonic ones (the tightest
// bracket of a few tries), so spans of one run keep consistent times even if NTP steps the wall
// clock meanwhile.
class RealClock final : public Clock {
 public:
  RealClock() : offset_ns_(SampleOffsetNs()) {}
  uint64_t MonotonicNs() const override;
  uint64_t UnixNs() const override;
  uint64_t MonotonicToUnixNs(uint64_t monotonic_ns) const override {
    return static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns) + offset_ns_);
  }

 private:
  static int64_t SampleOffsetNs();
  const int64_t offset_ns_;
};

// Tests: time stands still until the test moves it. Safe to read from other threads (exporter
// threads) while the test advances it.
class FakeClock final : public Clock {
 public:
  // Unix time is monotonic time plus `unix_offset_ns` (by default: monotonic 1 s is
  // 2023-11-14T22:13:21Z).
  explicit FakeClock(uint64_t monotonic_ns = 1'000'000'000,
                     int64_t unix_offset_ns = 1'700'000'000'000'000'000)
      : monotonic_ns_(monotonic_ns), unix_offset_ns_(unix_offset_ns) {}

  uint64_t MonotonicNs() const override { return monotonic_ns_.load(); }
  uint64_t UnixNs() const override { return MonotonicToUnixNs(MonotonicNs()); }
  uint64_t MonotonicToUnixNs(uint64_t monotonic_ns) const override {
    return static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns) + unix_offset_ns_);
  }

  void Advance(uint64_t ns) { monotonic_ns_.fetch_add(ns); }
  void SetMonotonicNs(uint64_t ns) { monotonic_ns_.store(ns); }

 private:
  std::atomic<uint64_t> monotonic_ns_;
  const int64_t unix_offset_ns_;
};

}  // namespace loupe
