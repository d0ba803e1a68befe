#include "userspace/protocols/http1/http1_stream.h"

#include <algorithm>
#include <utility>

#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {
namespace {

constexpr size_t kMaxChunkLine = 1024;  // a chunk-size line with extensions
constexpr size_t kCompactAfter = 4096;  // consumed bytes kept before the buffer is shifted

// The method of a stored request head (leading empty lines skipped, as the parser does).
std::string_view MethodOf(std::string_view head) {
  const size_t start = head.find_first_not_of("\r\n");
  if (start == std::string_view::npos) return {};
  head.remove_prefix(start);
  return head.substr(0, head.find(' '));
}

// A chunk-size line without its line end: hex digits, then nothing or an extension.
bool ParseChunkSize(std::string_view line, uint64_t* size) {
  uint64_t n = 0;
  size_t digits = 0;
  for (char c : line) {
    int value = -1;
    if (c >= '0' && c <= '9') value = c - '0';
    if (c >= 'a' && c <= 'f') value = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') value = c - 'A' + 10;
    if (value < 0) break;
    if (++digits > 12) return false;
    n = n * 16 + static_cast<uint64_t>(value);
  }
  if (digits == 0) return false;
  if (digits < line.size()) {
    const char after = line[digits];
    if (after != ';' && after != ' ' && after != '\t') return false;
  }
  *size = n;
  return true;
}

// One line starting at pos: its text without CR/LF, and the offset after its LF. False when
// the bytes hold no LF yet.
bool NextLine(std::string_view bytes, size_t pos, std::string_view* text, size_t* next) {
  const size_t lf = bytes.find('\n', pos);
  if (lf == std::string_view::npos) return false;
  *text = bytes.substr(pos, lf - pos);
  if (!text->empty() && text->back() == '\r') text->remove_suffix(1);
  *next = lf + 1;
  return true;
}

}  // namespace

void Http1Stream::OnData(StreamDirection d, std::string_view bytes, uint64_t ts_ns, uint32_t tid,
                         StreamOutput* out) {
  Direction& x = dir(d);
  x.last_ts = ts_ns;
  if (x.broken) {
    counts_.bytes_unparsed[static_cast<int>(d)][static_cast<int>(x.loss)] += bytes.size();
    return;
  }
  if (x.pos == x.buf.size()) {
    x.buf.clear();
    x.pos = 0;
    x.buf_ts = ts_ns;
    x.buf_tid = tid;
  }
  x.buf.append(bytes);
  while (!x.broken && Step(d, ts_ns, tid, out)) {
  }
  if (x.pos == x.buf.size()) {
    x.buf.clear();
    x.pos = 0;
  } else if (x.pos > kCompactAfter) {
    x.buf.erase(0, x.pos);
    x.pos = 0;
  }
}

void Http1Stream::OnGap(StreamDirection d, uint64_t n, bool lost, uint64_t ts_ns,
                        StreamOutput* out) {
  Direction& x = dir(d);
  x.last_ts = ts_ns;
  const StreamLoss loss = lost ? StreamLoss::kLost : StreamLoss::kTruncated;
  while (n > 0) {
    if (x.broken) {
      counts_.bytes_unparsed[static_cast<int>(d)][static_cast<int>(x.loss)] += n;
      return;
    }
    // Bytes of a head or a framing line are pending: the gap cuts them.
    if (x.pos != x.buf.size()) {
      Break(d, loss, 0, out);
      continue;
    }
    if (x.part == Part::kLength || x.part == Part::kChunkData) {
      const uint64_t take = std::min(x.remaining, n);
      x.remaining -= take;
      n -= take;
      if (x.remaining == 0) {
        if (x.part == Part::kLength) {
          MessageEnd(d, ts_ns, out);
        } else {
          x.part = Part::kChunkEnd;
        }
      }
      continue;
    }
    if (x.part == Part::kUntilClose) return;
    Break(d, loss, 0, out);  // a head or framing inside the gap
  }
}

bool Http1Stream::Step(StreamDirection d, uint64_t ts, uint32_t tid, StreamOutput* out) {
  Direction& x = dir(d);
  if (x.part != Part::kHead) return StepBody(d, ts, out);
  if (x.pos == x.buf.size()) return false;
  return d == StreamDirection::kRequest ? RequestHeadStep(ts, tid, out)
                                        : ResponseHeadStep(ts, tid, out);
}

bool Http1Stream::RequestHeadStep(uint64_t ts, uint32_t tid, StreamOutput* out) {
  Direction& x = dir(StreamDirection::kRequest);
  const std::string_view rest = std::string_view(x.buf).substr(x.pos);
  const RequestHead head = ParseRequestHead(rest);
  if (head.state == HeadState::kInvalid) {
    Break(StreamDirection::kRequest, StreamLoss::kInvalid, 0, out);
    return false;
  }
  if (head.state == HeadState::kTruncated) {
    if (rest.size() > kMaxHead) Break(StreamDirection::kRequest, StreamLoss::kHeadTooLarge, 0, out);
    return false;
  }
  if (overflow_ > 0 || queue_.size() >= kMaxQueued) {
    ++overflow_;
  } else {
    queue_.push_back(Queued{std::string(rest.substr(0, std::min(head.head_size, kMaxStoredHead))),
                            x.buf_ts, ts, x.buf_tid});
  }
  x.pos += head.head_size;
  x.buf_ts = ts;  // what follows a head completed now starts in this chunk
  x.buf_tid = tid;
  if (head.chunked) {
    x.part = Part::kChunkSize;
  } else if (head.content_length.value_or(0) > 0) {
    x.part = Part::kLength;
    x.remaining = *head.content_length;
  }
  return true;
}

bool Http1Stream::ResponseHeadStep(uint64_t ts, uint32_t tid, StreamOutput* out) {
  Direction& x = dir(StreamDirection::kResponse);
  const std::string_view rest = std::string_view(x.buf).substr(x.pos);
  const ResponseHead head = ParseResponseHead(rest);
  if (head.state == HeadState::kInvalid) {
    Break(StreamDirection::kResponse, StreamLoss::kInvalid, 0, out);
    return false;
  }
  if (head.state == HeadState::kTruncated) {
    if (rest.size() > kMaxHead) {
      Break(StreamDirection::kResponse, StreamLoss::kHeadTooLarge, 0, out);
    }
    return false;
  }
  const uint64_t head_ts = x.buf_ts;
  x.pos += head.head_size;
  x.buf_ts = ts;
  x.buf_tid = tid;
  if (head.status < 200 && head.status != 101) return true;  // interim: the final one follows
  response_active_ = true;
  response_status_ = head.status;
  response_start_ns_ = head_ts;
  if (head.status == 101) {
    // Switching protocols: what follows is not HTTP/1 any more, in either direction.
    ResponseEnd(ts, false, out);
    Break(StreamDirection::kRequest, StreamLoss::kUpgraded, 0, out);
    Break(StreamDirection::kResponse, StreamLoss::kUpgraded, 0, out);
    return false;
  }
  const std::string_view method = queue_.empty() ? std::string_view() : MethodOf(queue_.front().head);
  if (ResponseHasNoBody(method, head.status)) {
    MessageEnd(StreamDirection::kResponse, ts, out);
  } else if (head.chunked) {
    x.part = Part::kChunkSize;
  } else if (head.content_length.has_value()) {
    if (*head.content_length == 0) {
      MessageEnd(StreamDirection::kResponse, ts, out);
    } else {
      x.part = Part::kLength;
      x.remaining = *head.content_length;
    }
  } else {
    x.part = Part::kUntilClose;
  }
  return true;
}

bool Http1Stream::StepBody(StreamDirection d, uint64_t ts, StreamOutput* out) {
  Direction& x = dir(d);
  const std::string_view bytes(x.buf);
  const size_t avail = bytes.size() - x.pos;
  std::string_view line;
  size_t next = 0;
  switch (x.part) {
    case Part::kHead:
      return false;
    case Part::kLength:
    case Part::kChunkData: {
      if (avail == 0) return false;
      const uint64_t take = std::min<uint64_t>(x.remaining, avail);
      x.pos += static_cast<size_t>(take);
      x.remaining -= take;
      if (x.remaining > 0) return false;
      if (x.part == Part::kLength) {
        MessageEnd(d, ts, out);
      } else {
        x.part = Part::kChunkEnd;
      }
      return true;
    }
    case Part::kUntilClose:
      x.pos = bytes.size();
      return false;
    case Part::kChunkSize: {
      if (!NextLine(bytes, x.pos, &line, &next)) {
        if (avail > kMaxChunkLine) Break(d, StreamLoss::kInvalid, 0, out);
        return false;
      }
      uint64_t size = 0;
      if (!ParseChunkSize(line, &size)) {
        Break(d, StreamLoss::kInvalid, 0, out);
        return false;
      }
      x.pos = next;
      if (size == 0) {
        x.part = Part::kTrailer;
      } else {
        x.part = Part::kChunkData;
        x.remaining = size;
      }
      return true;
    }
    case Part::kChunkEnd: {
      if (avail == 0) return false;
      if (bytes[x.pos] == '\n') {
        x.pos += 1;
      } else if (bytes[x.pos] == '\r') {
        if (avail < 2) return false;
        if (bytes[x.pos + 1] != '\n') {
          Break(d, StreamLoss::kInvalid, 0, out);
          return false;
        }
        x.pos += 2;
      } else {
        Break(d, StreamLoss::kInvalid, 0, out);
        return false;
      }
      x.part = Part::kChunkSize;
      return true;
    }
    case Part::kTrailer: {
      if (!NextLine(bytes, x.pos, &line, &next)) {
        if (avail > kMaxHead) Break(d, StreamLoss::kHeadTooLarge, 0, out);
        return false;
      }
      x.pos = next;
      if (line.empty()) MessageEnd(d, ts, out);
      return true;
    }
  }
  return false;
}

void Http1Stream::MessageEnd(StreamDirection d, uint64_t ts, StreamOutput* out) {
  Direction& x = dir(d);
  x.part = Part::kHead;
  x.remaining = 0;
  x.buf_ts = ts;
  if (d == StreamDirection::kResponse) ResponseEnd(ts, false, out);
}

void Http1Stream::ResponseEnd(uint64_t ts, bool cut, StreamOutput* out) {
  if (!response_active_) return;
  response_active_ = false;
  if (queue_.empty()) {
    // The server answered a request whose head was not kept (past kMaxQueued) or never parsed.
    if (overflow_ > 0) --overflow_;
    ++counts_.request_not_captured;
    return;
  }
  const Queued request = std::move(queue_.front());
  queue_.pop_front();
  Emit(request, response_status_, response_start_ns_, ts, out);
  if (cut) MarkResponseCut(&out->records.back());
}

void Http1Stream::Break(StreamDirection d, StreamLoss loss, uint64_t gap_bytes,
                        StreamOutput* out) {
  Direction& x = dir(d);
  if (x.broken) return;
  x.broken = true;
  x.loss = loss;
  counts_.bytes_unparsed[static_cast<int>(d)][static_cast<int>(loss)] +=
      (x.buf.size() - x.pos) + gap_bytes;
  x.buf.clear();
  x.pos = 0;
  // A response whose head was parsed was answered with its status: report it, ending here.
  if (d == StreamDirection::kResponse) ResponseEnd(x.last_ts, false, out);
}

void Http1Stream::Emit(const Queued& request, int status, uint64_t response_start_ns,
                       uint64_t response_end_ns, StreamOutput* out) {
  Exchange exchange;
  exchange.role = endpoints_.role;
  exchange.request_start_ns = request.start_ns;
  exchange.request_end_ns = request.end_ns;
  exchange.response_start_ns = response_start_ns;
  exchange.response_end_ns = response_end_ns;
  exchange.final = true;
  exchange.thread_id = request.tid;
  exchange.tls = tls_;
  const RequestHead head = ParseRequestHead(request.head);
  out->records.push_back(BuildRecord(head, status, exchange, endpoints_));
  out->thread_ids.push_back(request.tid);
}

void Http1Stream::OnClose(StreamOutput* out) {
  Direction& response = dir(StreamDirection::kResponse);
  if (response_active_) {
    // A body delimited by the close ends here; one short of its declared length was cut.
    ResponseEnd(response.last_ts, response.part != Part::kUntilClose, out);
  }
  if (response.broken && response.loss != StreamLoss::kUpgraded) {
    counts_.response_not_captured += queue_.size() + overflow_;
  } else if (endpoints_.role == Role::kClient) {
    for (const Queued& request : queue_) {
      Emit(request, 0, 0, 0, out);
      MarkNoResponse(&out->records.back());
    }
    counts_.unanswered += overflow_;
  } else {
    counts_.unanswered += queue_.size() + overflow_;
  }
  queue_.clear();
  overflow_ = 0;
}

}  // namespace loupe::http1
