// What every database protocol shares, so that a new one writes only its framing: detection of
// its own bytes, and how one client exchange becomes calls.
//
// Database calls are reported from the client process (the span kind is CLIENT), so the parser
// ignores server-side connections and exchanges before the protocol sees them; every call becomes
// the same kind of record (db_record.h) with the connection's server address and port.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/core/exchange.h"
#include "userspace/core/record.h"
#include "userspace/protocols/protocol.h"
#include "userspace/protocols/sql/db_record.h"

namespace loupe {

class DbClientParser : public ConnectionParser {
 public:
  // `protocol`: the name calls carry, also their db.system.name unless a call sets another.
  DbClientParser(std::string_view protocol, const ConnectionInfo& conn);

  ParseState Parse(const Exchange& ex, std::vector<Record>* out) final;

 protected:
  // One exchange of a client connection; the contract of ConnectionParser::Parse.
  virtual ParseState ParseClientExchange(const Exchange& ex, std::vector<Record>* out) = 0;

  // A call of `ex`: the protocol's name and system, the connection's namespace, the exchange's
  // start and end. The protocol fills the rest.
  DbCall NewCall(const Exchange& ex) const;
  // The record of `call` against this connection's server.
  Record ToRecord(const DbCall& call) const;

  // db.namespace of the connection's later calls (the database chosen at startup or by a
  // SELECT / USE command); "" when unknown.
  void set_db_namespace(std::string db_namespace) { db_namespace_ = std::move(db_namespace); }

 private:
  std::string protocol_;
  std::string server_address_;
  uint16_t server_port_;
  Role role_;
  std::string db_namespace_;
};

// A database protocol: its name, the well-known server port that hints at it when the bytes do
// not decide, and `Parser` (a DbClientParser constructed from the ConnectionInfo) per connection.
template <typename Parser>
class DbClientProtocol : public Protocol {
 public:
  DbClientProtocol(std::string_view name, uint16_t well_known_port)
      : name_(name), well_known_port_(well_known_port) {}

  std::string_view name() const final { return name_; }

  std::unique_ptr<ConnectionParser> NewConnection(const ConnectionInfo& conn) const final {
    return std::make_unique<Parser>(conn);
  }

 protected:
  // kMaybe towards the protocol's well-known port, else kNo.
  Detection PortHint(const ConnectionInfo& conn) const {
    return conn.server_port == well_known_port_ ? Detection::kMaybe : Detection::kNo;
  }

 private:
  std::string_view name_;
  uint16_t well_known_port_;
};

}  // namespace loupe
