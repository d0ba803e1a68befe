// Reads the BPF ring buffers, one per CPU. The kernel submits without wakeups (except when a lot
// is pending), so the reader waits on a short timer and then drains everything available. Each
// connection writes to one ring only, so draining the rings one after another keeps every
// connection's events in order; events of different connections may interleave differently than
// they happened, which nothing downstream depends on (spans are assembled over a time window).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

struct ring_buffer;

namespace loupe {

class RawEventHandler {
 public:
  virtual ~RawEventHandler() = default;
  virtual void OnRawEvent(const void* data, size_t size) = 0;
};

class RingReader {
 public:
  // ring_bytes: the size of each ring.
  static absl::StatusOr<std::unique_ptr<RingReader>> Create(const std::vector<int>& ring_fds,
                                                            uint64_t ring_bytes,
                                                            RawEventHandler* handler);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Waits up to timeout_ms for a wakeup, then drains. Returns the number of events consumed.
  absl::StatusOr<int> PollAndDrain(int timeout_ms);

  // Fraction of the fullest ring holding unread events, read from its producer/consumer
  // positions: the ring closest to dropping events.
  double FillRatio() const;

 private:
  // Our own read-only view of one ring's positions pages (libbpf 1.1 has no API for them).
  struct Positions {
    const volatile uint64_t* consumer = nullptr;
    const volatile uint64_t* producer = nullptr;
  };

  RingReader(ring_buffer* rb, uint64_t ring_bytes, size_t page_size)
      : rb_(rb), ring_bytes_(ring_bytes), page_size_(page_size) {}

  ring_buffer* rb_;
  std::vector<Positions> positions_;
  uint64_t ring_bytes_;
  size_t page_size_;
};

}  // namespace loupe
