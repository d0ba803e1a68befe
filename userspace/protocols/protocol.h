// The protocol plugin interface. Each protocol lives in userspace/protocols/<name>/ and registers
// one factory in userspace/protocols/registry.cc; nothing else in the pipeline names it.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <string_view>
#include <vector>

#include "userspace/core/exchange.h"
#include "userspace/core/record.h"

namespace loupe {

// Outcome of parsing untrusted bytes. Malformed traffic is counted, never thrown.
enum class ParseState : uint8_t {
  kOk = 0,              // records were produced (possibly several, e.g. pipelining)
  kNeedsMoreData = 1,   // the exchange is not complete yet; nothing consumed
  kInvalid = 2,         // the bytes are not this protocol / are malformed
  kIgnored = 3,         // valid but not a request we report (handshake, auth, keepalive ping)
};

const char* ParseStateName(ParseState state);

// What a detector thinks of a connection's first exchange.
enum class Detection : uint8_t { kNo = 0, kMaybe = 1, kYes = 2 };

// What a parser knows about the connection it parses.
struct ConnectionInfo {
  Role role = Role::kServer;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  std::string_view server_address;  // text form of the server-side IP
  uint16_t server_port = 0;
  std::string_view client_address;
  uint16_t client_port = 0;
  // False when no span is exported: parsers may then skip span-only work (attributes, trace
  // context) and fill only what metrics need. It is the hot path's largest cost.
  bool span_attributes = true;
};

// Parser state for one connection. Protocols that need history (prepared statements, the
// database selected at startup) keep it here; it dies with the connection.
class ConnectionParser {
 public:
  virtual ~ConnectionParser() = default;

  // Parses one exchange. On kOk appends one or more records to *out. While exchange.final is
  // false and the response may still be incomplete, returns kNeedsMoreData and appends nothing;
  // it is then called again with more of the exchange (or final=true).
  // When final is true it must decide: kOk with what it knows, kInvalid or kIgnored.
  virtual ParseState Parse(const Exchange& exchange, std::vector<Record>* out) = 0;

  // Number of requests this parser saw, since the last call, that it could not report
  // individually (e.g. pipelined requests beyond the captured prefix). The tracker exports
  // these as counted losses.
  uint64_t TakeUnreportedRequests() { return std::exchange(unreported_, 0); }

 protected:
  void CountUnreported(uint64_t n) { unreported_ += n; }

 private:
  uint64_t unreported_ = 0;
};

// One direction of a connection's byte stream (stream mode, bpf/stream.bpf.h).
enum class StreamDirection : uint8_t {
  kRequest = 0,   // server: what it reads; client: what it writes
  kResponse = 1,
};

// Why a stream direction stopped being parsed; its later bytes are counted under it.
enum class StreamLoss : uint8_t {
  kTruncated = 0,     // bytes the kernel moved but did not copy fell outside a body
  kLost = 1,          // chunk records were lost (ring buffer full) outside a body
  kInvalid = 2,       // the bytes are not this protocol's framing
  kHeadTooLarge = 3,  // a message head longer than the parser buffers
  kUpgraded = 4,      // the connection switched protocols (HTTP 101): not a loss
  kNoParser = 5,      // the connection's protocol has no stream parser (or none was detected)
};
inline constexpr int kStreamLossCount = 6;
const char* StreamLossName(StreamLoss loss);

// Requests a stream parser could not report as records, since the last TakeCounts().
struct StreamCounts {
  // A response was parsed whose request's bytes were not (lost, truncated, or not kept): the
  // server answered a request that is counted here instead of in a metric.
  uint64_t request_not_captured = 0;
  // A request was parsed whose response could not be (the response direction lost sync): its
  // outcome is unknown.
  uint64_t response_not_captured = 0;
  // Requests with no response when the connection closed and no record (a server's requests it
  // never answered — nginx at keepalive_requests drops the pipelined rest — or a client's
  // requests past those kept for records).
  uint64_t unanswered = 0;
  // Bytes not parsed, by direction and by why their direction stopped being parsed.
  uint64_t bytes_unparsed[2][kStreamLossCount] = {};
};

// Records of a stream, each with the thread that read (server) or wrote (client) its request.
struct StreamOutput {
  std::vector<Record> records;
  std::vector<uint32_t> thread_ids;
};

// Parser for a connection in stream mode: the kernel sends every byte of both directions, in
// order, each direction with its own offsets; bytes that moved but were not copied arrive as a
// gap of known length. Untrusted bytes: never throws, counts what it cannot parse.
class StreamParser {
 public:
  virtual ~StreamParser() = default;
  // `bytes` directly follow the direction's previous bytes; ts_ns is when the syscall moved them.
  virtual void OnData(StreamDirection direction, std::string_view bytes, uint64_t ts_ns,
                      uint32_t tid, StreamOutput* out) = 0;
  // `n` bytes moved in this direction and were not copied (`lost`: their records were lost).
  virtual void OnGap(StreamDirection direction, uint64_t n, bool lost, uint64_t ts_ns,
                     StreamOutput* out) = 0;
  // The connection closed (or its process exited).
  virtual void OnClose(StreamOutput* out) = 0;

  StreamCounts TakeCounts() { return std::exchange(counts_, StreamCounts{}); }

 protected:
  StreamCounts counts_;
};

class Protocol {
 public:
  virtual ~Protocol() = default;

  // Short stable name used in the agent's own metrics ("http1", "postgresql", ...).
  virtual std::string_view name() const = 0;

  // Looks at the first exchange of a connection (request and response prefixes, role, ports)
  // and says whether it is this protocol. Must be cheap and must not mistake another
  // protocol's bytes for its own.
  virtual Detection Detect(const Exchange& first, const ConnectionInfo& conn) const = 0;

  virtual std::unique_ptr<ConnectionParser> NewConnection(const ConnectionInfo& conn) const = 0;

  // The parser for a connection the kernel switched to stream mode; null when the protocol has
  // none (its stream bytes are then counted as unparsed). `tls`: the bytes are libssl plaintext.
  virtual std::unique_ptr<StreamParser> NewStream(const ConnectionInfo& /*conn*/,
                                                  bool /*tls*/) const {
    return nullptr;
  }
};

}  // namespace loupe
