// Reads the BPF ring buffer. The kernel submits without wakeups (except when a lot is pending),
// so the reader waits on a short timer and then drains everything available.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

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
  static absl::StatusOr<std::unique_ptr<RingReader>> Create(int ringbuf_fd, uint64_t ring_bytes,
                                                            RawEventHandler* handler);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Waits up to timeout_ms for a wakeup, then drains. Returns the number of events consumed.
  absl::StatusOr<int> PollAndDrain(int timeout_ms);

  // Fraction of the ring holding unread events, read from the producer/consumer positions.
  double FillRatio() const;

 private:
  RingReader(ring_buffer* rb, const volatile uint64_t* consumer, const volatile uint64_t* producer,
             uint64_t ring_bytes, size_t page_size)
      : rb_(rb), consumer_(consumer), producer_(producer), ring_bytes_(ring_bytes),
        page_size_(page_size) {}

  ring_buffer* rb_;
  const volatile uint64_t* consumer_;
  const volatile uint64_t* producer_;
  uint64_t ring_bytes_;
  size_t page_size_;
};

}  // namespace loupe
