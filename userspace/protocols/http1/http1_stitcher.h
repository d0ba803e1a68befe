// Pairs the requests in an exchange's request prefix with the responses in its response prefix,
// and decides from the byte totals whether the exchange is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "userspace/core/exchange.h"
#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {

// More pipelined requests than this in one prefix are counted, not parsed.
inline constexpr size_t kMaxPipelinedRequests = 16;

struct ResponseSummary {
  int status = 0;                     // final status (interim 1xx responses are skipped)
  std::optional<uint64_t> end;        // offset in the response stream where it ends, if known
  bool head_complete = false;         // the prefix holds its whole head (status line + fields)
};

struct Stitched {
  enum class Verdict : uint8_t {
    kComplete = 0,    // every response the requests need has ended exactly at response_bytes
    kIncomplete = 1,  // more response bytes may belong to this exchange, or we cannot tell
    kInvalid = 2,     // the request or response bytes are not HTTP/1.x
  };
  Verdict verdict = Verdict::kInvalid;
  // Requests whose method is known, in order. requests[i] pairs with responses[i]. Inline room
  // for one: almost every exchange holds one request and one response, and two heap
  // allocations per exchange showed in the agent's profile.
  absl::InlinedVector<RequestHead, 1> requests;
  absl::InlinedVector<ResponseSummary, 1> responses;
  // Requests seen but not parseable as one (a second request cut inside its method, or past
  // kMaxPipelinedRequests).
  uint64_t uncounted_requests = 0;
  // The connection closed (Exchange::closed_with_totals) before the last parsed response
  // reached the length it declared, or before its head ended: the peer never got all of it.
  bool last_response_cut = false;
};

// Parses an exchange. Request heads cut by the prefix are kept (their method and the part of the
// target seen are known). The verdict is kComplete only when the last parsed response has a
// known end equal to exchange.response_bytes and there is a response for every parsed request.
Stitched Stitch(const Exchange& exchange);

}  // namespace loupe::http1
