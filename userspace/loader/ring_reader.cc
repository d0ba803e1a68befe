#include "userspace/loader/ring_reader.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace loupe {
namespace {

int Dispatch(void* ctx, void* data, size_t size) {
  static_cast<RawEventHandler*>(ctx)->OnRawEvent(data, size);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RingReader>> RingReader::Create(const std::vector<int>& ring_fds,
                                                               uint64_t ring_bytes,
                                                               RawEventHandler* handler) {
  if (ring_fds.empty()) return absl::InvalidArgumentError("no ring buffer to read");
  ring_buffer* rb = ring_buffer__new(ring_fds[0], Dispatch, handler, nullptr);
  if (rb == nullptr) {
    return absl::InternalError(absl::StrCat("ring_buffer__new failed: ", strerror(errno)));
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::unique_ptr<RingReader> reader(new RingReader(rb, ring_bytes, page));
  for (size_t i = 0; i < ring_fds.size(); ++i) {
    const int fd = ring_fds[i];
    if (i > 0 && ring_buffer__add(rb, fd, Dispatch, handler) != 0) {
      return absl::InternalError(
          absl::StrCat("adding ring buffer ", i, " to the reader failed: ", strerror(errno)));
    }
    void* consumer = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
    void* producer = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
    if (consumer == MAP_FAILED || producer == MAP_FAILED) {
      const int err = errno;
      if (consumer != MAP_FAILED) munmap(consumer, page);
      if (producer != MAP_FAILED) munmap(producer, page);
      return absl::InternalError(
          absl::StrCat("mapping ring buffer ", i, " positions failed: ", strerror(err)));
    }
    reader->positions_.push_back({static_cast<const volatile uint64_t*>(consumer),
                                  static_cast<const volatile uint64_t*>(producer)});
  }
  return reader;
}

RingReader::~RingReader() {
  for (const Positions& ring : positions_) {
    munmap(const_cast<uint64_t*>(ring.consumer), page_size_);
    munmap(const_cast<uint64_t*>(ring.producer), page_size_);
  }
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
  if (ring_bytes_ == 0) return 0.0;
  uint64_t fullest = 0;
  for (const Positions& ring : positions_) {
    const uint64_t producer = *ring.producer;
    const uint64_t consumer = *ring.consumer;
    if (producer > consumer) fullest = std::max(fullest, producer - consumer);
  }
  return static_cast<double>(fullest) / static_cast<double>(ring_bytes_);
}

}  // namespace loupe
