#include "userspace/loader/ring_reader.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace loupe {
namespace {

int Dispatch(void* ctx, void* data, size_t size) {
  static_cast<RawEventHandler*>(ctx)->OnRawEvent(data, size);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RingReader>> RingReader::Create(int ringbuf_fd, uint64_t ring_bytes,
                                                               RawEventHandler* handler) {
  ring_buffer* rb = ring_buffer__new(ringbuf_fd, Dispatch, handler, nullptr);
  if (rb == nullptr) {
    return absl::InternalError(absl::StrCat("ring_buffer__new failed: ", strerror(errno)));
  }
  // Our own read-only view of the positions page, for the fill gauge (libbpf 1.1 has no API).
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* consumer = mmap(nullptr, page, PROT_READ, MAP_SHARED, ringbuf_fd, 0);
  void* producer = mmap(nullptr, page, PROT_READ, MAP_SHARED, ringbuf_fd, static_cast<off_t>(page));
  if (consumer == MAP_FAILED || producer == MAP_FAILED) {
    int err = errno;
    if (consumer != MAP_FAILED) munmap(consumer, page);
    if (producer != MAP_FAILED) munmap(producer, page);
    ring_buffer__free(rb);
    return absl::InternalError(absl::StrCat("mapping ring buffer positions failed: ", strerror(err)));
  }
  return std::unique_ptr<RingReader>(
      new RingReader(rb, static_cast<const volatile uint64_t*>(consumer),
                     static_cast<const volatile uint64_t*>(producer), ring_bytes, page));
}

RingReader::~RingReader() {
  munmap(const_cast<uint64_t*>(consumer_), page_size_);
  munmap(const_cast<uint64_t*>(producer_), page_size_);
  ring_buffer__free(rb_);
}

absl::StatusOr<int> RingReader::PollAndDrain(int timeout_ms) {
  int polled = ring_buffer__poll(rb_, timeout_ms);
  if (polled < 0 && polled != -EINTR) {
    return absl::InternalError(absl::StrCat("ring buffer poll failed: ", strerror(-polled)));
  }
  // Without a wakeup, poll returns on its timeout having consumed nothing: drain explicitly.
  int drained = ring_buffer__consume(rb_);
  if (drained < 0 && drained != -EINTR) {
    return absl::InternalError(absl::StrCat("ring buffer consume failed: ", strerror(-drained)));
  }
  return (polled > 0 ? polled : 0) + (drained > 0 ? drained : 0);
}

double RingReader::FillRatio() const {
  const uint64_t producer = *producer_;
  const uint64_t consumer = *consumer_;
  if (producer <= consumer || ring_bytes_ == 0) return 0.0;
  return static_cast<double>(producer - consumer) / static_cast<double>(ring_bytes_);
}

}  // namespace loupe
