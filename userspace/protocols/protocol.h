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
};

}  // namespace loupe
