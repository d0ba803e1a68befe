// An exchange is one request and its response on one connection, as the kernel pairs them by
// direction change. It is the unit every protocol parser consumes.
#pragma once

#include <cstdint>
#include <string_view>

namespace loupe {

// Which end of the connection the instrumented process is.
enum class Role : uint8_t {
  kServer = 1,  // the process accepted the connection; it reads requests and writes responses
  kClient = 2,  // the process connected; it writes requests and reads responses
};

struct Exchange {
  Role role = Role::kServer;
  uint64_t seq = 0;  // per connection, increasing

  // CLOCK_MONOTONIC nanoseconds, as the kernel took them.
  uint64_t request_start_ns = 0;   // first request byte seen by the process
  uint64_t request_end_ns = 0;     // last request byte seen before the response began
  uint64_t response_start_ns = 0;  // first response byte
  uint64_t response_end_ns = 0;    // last response byte known so far

  uint64_t request_bytes = 0;   // total request bytes on the wire
  uint64_t response_bytes = 0;  // total response bytes known so far
  uint32_t response_chunks = 0; // syscalls that carried the response so far
  uint64_t first_response_chunk_bytes = 0;

  // Bounded prefixes: the first bytes of the request and of the first response chunk.
  // They may be shorter than the totals above; parsers must never assume they are whole.
  std::string_view request;
  std::string_view response;

  // True once no further response bytes can arrive for this exchange (the kernel reported its
  // end, the connection moved on, or it timed out). A parser that cannot tell whether a
  // response is complete returns kNeedsMoreData while this is false.
  bool final = false;
  // The connection closed (or its process exited) during this exchange and response_bytes are
  // the kernel's final totals: a response shorter than it declared was cut off. Not set when
  // the connection moved on to a next request (the peer then had the whole response, so a
  // short count means bytes moved by a syscall the capture does not see) or after a timeout.
  bool closed_with_totals = false;

  uint32_t thread_id = 0;  // kernel tid of the thread that read the request / wrote it

  // The payloads are plaintext read from a TLS library (libssl uprobes), not socket bytes.
  bool tls = false;
};

// error.type of a call whose connection closed (or whose process exited) before its answer
// arrived: the call failed, whatever the protocol.
inline constexpr std::string_view kNoResponseErrorType = "no_response";

// The exchange ended with its connection, and not one response byte came: every call in it went
// unanswered. (A response cut after some bytes may hold answers past the captured prefix, and a
// timeout proves nothing: neither counts.)
inline bool ClosedUnanswered(const Exchange& ex) {
  return ex.final && ex.closed_with_totals && ex.response_bytes == 0;
}

}  // namespace loupe
