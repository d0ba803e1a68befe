#include "userspace/protocols/http1/http1_stitcher.h"

#include <string_view>

namespace loupe::http1 {
namespace {

// Parses pipelined requests until the prefix ends, a body runs past it, or the cap is reached.
// Returns false when the first request is not HTTP/1.x.
bool ParseRequests(std::string_view bytes, Stitched* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (out->requests.size() == kMaxPipelinedRequests) {
      ++out->uncounted_requests;
      return true;
    }
    const std::string_view rest = bytes.substr(pos);
    RequestHead head = ParseRequestHead(rest);
    if (head.state == HeadState::kInvalid) return !out->requests.empty();
    if (head.method.empty()) {
      // Cut inside the method. For the first request this may still become a request; for a
      // later one it is a request we know of but cannot describe.
      const bool only_line_endings = rest.find_first_not_of("\r\n") == std::string_view::npos;
      if (!out->requests.empty() && !only_line_endings) ++out->uncounted_requests;
      return true;
    }
    out->requests.push_back(head);
    if (head.state != HeadState::kComplete) return true;
    pos += head.head_size;
    if (head.chunked) {
      const ChunkedScan body = ScanChunkedBody(bytes.substr(pos));
      if (body.state != HeadState::kComplete) return true;
      pos += body.size;
    } else {
      const uint64_t length = head.content_length.value_or(0);  // no framing: no body
      if (length > bytes.size() - pos) return true;
      pos += static_cast<size_t>(length);
    }
  }
  return true;
}

// Parses responses from the response prefix, pairing the i-th final response with the i-th
// request to know whether it has a body. Returns false when the bytes are not HTTP/1.x.
bool ParseResponses(std::string_view bytes, Stitched* out) {
  size_t pos = 0;
  bool saw_any = false;
  while (pos < bytes.size() && out->responses.size() < kMaxPipelinedRequests) {
    const ResponseHead head = ParseResponseHead(bytes.substr(pos));
    if (head.state == HeadState::kInvalid) return saw_any;
    saw_any = true;
    if (head.status == 0) return true;  // status line cut
    const bool interim = head.status < 200 && head.status != 101;
    if (interim) {
      if (head.state != HeadState::kComplete) return true;
      pos += head.head_size;  // 1xx has no body; the final response follows
      continue;
    }
    ResponseSummary summary;
    summary.status = head.status;
    const size_t index = out->responses.size();
    const std::string_view method =
        index < out->requests.size() ? out->requests[index].method : std::string_view();
    summary.head_complete = head.state == HeadState::kComplete;
    if (summary.head_complete) {
      const size_t body_start = pos + head.head_size;
      if (ResponseHasNoBody(method, head.status)) {
        summary.end = body_start;
      } else if (head.chunked) {
        const ChunkedScan body = ScanChunkedBody(bytes.substr(body_start));
        if (body.state == HeadState::kComplete) summary.end = body_start + body.size;
      } else if (head.content_length.has_value()) {
        summary.end = body_start + *head.content_length;
      }
      // Otherwise the body runs until the connection closes: its end is unknown.
    }
    out->responses.push_back(summary);
    if (!summary.end.has_value() || *summary.end >= bytes.size()) return true;
    pos = static_cast<size_t>(*summary.end);
  }
  return true;
}

}  // namespace

Stitched Stitch(const Exchange& exchange) {
  Stitched out;
  if (!ParseRequests(exchange.request, &out)) {
    out.verdict = Stitched::Verdict::kInvalid;
    return out;
  }
  if (!ParseResponses(exchange.response, &out)) {
    out.verdict = Stitched::Verdict::kInvalid;
    return out;
  }
  out.verdict = Stitched::Verdict::kIncomplete;
  if (exchange.closed_with_totals && !out.responses.empty()) {
    const ResponseSummary& last = out.responses.back();
    const bool saw_every_byte = exchange.response.size() >= exchange.response_bytes;
    out.last_response_cut = (last.end.has_value() && *last.end > exchange.response_bytes) ||
                            (!last.head_complete && saw_every_byte);
  }
  if (out.requests.empty() || out.responses.empty()) return out;
  if (out.responses.size() < out.requests.size()) return out;
  const std::optional<uint64_t> end = out.responses.back().end;
  if (end.has_value() && *end == exchange.response_bytes) {
    out.verdict = Stitched::Verdict::kComplete;
  }
  return out;
}

}  // namespace loupe::http1
