#include "userspace/protocols/sql/db_client_protocol.h"

#include <utility>

namespace loupe {

DbClientParser::DbClientParser(std::string_view protocol, const ConnectionInfo& conn)
    : protocol_(protocol),
      server_address_(conn.server_address),
      server_port_(conn.server_port),
      role_(conn.role) {}

ParseState DbClientParser::Parse(const Exchange& ex, std::vector<Record>* out) {
  if (role_ == Role::kServer || ex.role == Role::kServer) return ParseState::kIgnored;
  return ParseClientExchange(ex, out);
}

DbCall DbClientParser::NewCall(const Exchange& ex) const {
  DbCall call;
  call.protocol = protocol_;
  call.system = protocol_;
  call.db_namespace = db_namespace_;
  call.start_ns = ex.request_start_ns;
  call.end_ns = ex.response_end_ns;
  return call;
}

Record DbClientParser::ToRecord(const DbCall& call) const {
  ConnectionInfo conn;
  conn.server_address = server_address_;
  conn.server_port = server_port_;
  return MakeDbRecord(call, conn);
}

}  // namespace loupe
