#include "userspace/protocols/sql/db_record.h"

#include <utility>

namespace loupe {

std::string DbSpanName(const DbCall& call) {
  if (!call.operation.empty() && !call.collection.empty()) return call.operation + " " + call.collection;
  if (!call.operation.empty()) return call.operation;
  return call.system;
}

Record MakeDbRecord(const DbCall& call, const ConnectionInfo& conn) {
  Record r;
  r.instrument = &instruments::kDbClient;
  r.protocol = call.protocol;
  r.start_ns = call.start_ns;
  r.end_ns = call.end_ns;
  r.is_error = !call.error_type.empty();
  r.error_type = call.error_type;

  // Each value once, in the order spans export them. Metrics only (no span is built): just the
  // attributes the labels read (system, operation, collection, server address and port).
  const bool spans = conn.span_attributes;
  if (spans) r.span_name = DbSpanName(call);
  const std::string port = conn.server_port != 0 ? std::to_string(conn.server_port) : "";
  r.attributes.reserve(spans ? 11 : 5);  // every add() below: growing by doubling moved values
  auto add = [&r](std::string_view key, std::string_view value, bool is_int = false) {
    if (!value.empty()) r.attributes.push_back({key, std::string(value), is_int});
  };
  add("db.system.name", call.system);
  if (spans) add("db.namespace", call.db_namespace);
  add("db.operation.name", call.operation);
  add("db.collection.name", call.collection);
  if (spans) {
    add("db.query.text", call.query_text);
    add("db.response.status_code", call.status_code);
    // Also Record::error_type, which the span assembler adds to every error span again: DB
    // error spans have always carried error.type twice, and exported spans stay as they were.
    add(kErrorTypeAttribute, call.error_type);
  }
  add("server.address", conn.server_address);
  add("server.port", port, true);
  if (!spans) return r;
  // The instrumented process is the client, so its peer is the server.
  add("network.peer.address", conn.server_address);
  add("network.peer.port", port, true);
  return r;
}

}  // namespace loupe
