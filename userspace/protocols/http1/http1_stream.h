// HTTP/1.x over a connection in stream mode (bpf/stream.bpf.h): both directions arrive whole and
// in order, so every request head and every response is parsed, however the bytes were written
// (one huge pipelined write, byte-sized writes, bodies, heads past the exchange prefix).
//
// Requests are queued in order as their heads complete; each final response pairs with the
// oldest queued request and makes one record when its body ends (Content-Length, chunked
// terminator, no-body rules, or the close for a body delimited by it). Timestamps: the request
// starts when the chunk holding its head's first byte moved, the response starts with its head's
// first chunk and ends with the chunk (or gap) holding its last byte.
//
// Gaps (bytes moved but not copied: sendfile, the kernel's per-syscall budget, lost records) are
// skipped exactly inside a body of known length. Anywhere else the direction loses sync: its
// later bytes are counted by reason (StreamCounts::bytes_unparsed) and never parsed again. Then:
//   - request direction lost: each later response is still counted, as request_not_captured
//     (the server answered a request the agent cannot describe);
//   - response direction lost: queued and later requests are counted at close as
//     response_not_captured.
// At close: a response whose body was delimited by the close ends there; one cut short of its
// declared length is reported with error_type="response_cut". Requests still without a response
// are `unanswered`: a client's are reported with error_type="no_response" (the calls failed); a
// server's are only counted (a server that closes with pipelined requests unread, like nginx at
// keepalive_requests, never handled them and does not log them).
//
// Memory per connection is bounded: a head longer than kMaxHead loses sync, at most kMaxQueued
// request heads (each cut to kMaxStoredHead bytes) wait for responses; requests past that are
// counted, and their responses counted as request_not_captured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "userspace/protocols/http1/http1_record.h"
#include "userspace/protocols/protocol.h"

namespace loupe::http1 {

inline constexpr size_t kMaxHead = 64 * 1024;
inline constexpr size_t kMaxQueued = 1024;
inline constexpr size_t kMaxStoredHead = 2048;

class Http1Stream final : public StreamParser {
 public:
  Http1Stream(Endpoints endpoints, bool tls) : endpoints_(std::move(endpoints)), tls_(tls) {}

  void OnData(StreamDirection direction, std::string_view bytes, uint64_t ts_ns, uint32_t tid,
              StreamOutput* out) override;
  void OnGap(StreamDirection direction, uint64_t n, bool lost, uint64_t ts_ns,
             StreamOutput* out) override;
  void OnClose(StreamOutput* out) override;

  size_t queued() const { return queue_.size() + overflow_; }

 private:
  // Where a direction is in its current message.
  enum class Part : uint8_t {
    kHead = 0,        // waiting for a message head
    kLength = 1,      // `remaining` body bytes (Content-Length)
    kChunkSize = 2,   // chunked: a chunk-size line
    kChunkData = 3,   // chunked: `remaining` bytes of chunk data
    kChunkEnd = 4,    // chunked: the CRLF after chunk data
    kTrailer = 5,     // chunked: trailer lines up to a blank line
    kUntilClose = 6,  // response body delimited by the connection's close
  };
  struct Direction {
    std::string buf;      // bytes not consumed yet are buf[pos..)
    size_t pos = 0;
    uint64_t buf_ts = 0;  // when the first byte of buf[pos..) moved
    uint32_t buf_tid = 0;
    uint64_t last_ts = 0;
    Part part = Part::kHead;
    uint64_t remaining = 0;
    bool broken = false;
    StreamLoss loss = StreamLoss::kInvalid;
  };
  struct Queued {
    std::string head;  // the request head, cut to kMaxStoredHead
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    uint32_t tid = 0;
  };

  Direction& dir(StreamDirection d) { return dirs_[static_cast<int>(d)]; }
  // Consumes one step of the direction's current part; false when it needs more bytes (or
  // the direction lost sync).
  bool Step(StreamDirection d, uint64_t ts, uint32_t tid, StreamOutput* out);
  bool StepBody(StreamDirection d, uint64_t ts, StreamOutput* out);
  bool RequestHeadStep(uint64_t ts, uint32_t tid, StreamOutput* out);
  bool ResponseHeadStep(uint64_t ts, uint32_t tid, StreamOutput* out);
  // The message in direction d ended at ts.
  void MessageEnd(StreamDirection d, uint64_t ts, StreamOutput* out);
  // The final response in progress ended: pairs it with the oldest queued request.
  void ResponseEnd(uint64_t ts, bool cut, StreamOutput* out);
  // The direction loses sync: its pending bytes and `gap_bytes` are counted under `loss`.
  void Break(StreamDirection d, StreamLoss loss, uint64_t gap_bytes, StreamOutput* out);
  void Emit(const Queued& request, int status, uint64_t response_start_ns,
            uint64_t response_end_ns, StreamOutput* out);

  Endpoints endpoints_;
  bool tls_ = false;
  Direction dirs_[2];
  std::deque<Queued> queue_;
  uint64_t overflow_ = 0;       // requests past kMaxQueued, behind queue_, heads not kept
  bool response_active_ = false;
  int response_status_ = 0;
  uint64_t response_start_ns_ = 0;
};

}  // namespace loupe::http1
