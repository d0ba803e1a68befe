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
  r.instrument = Instrument::kDbClient;
  r.span_kind = SpanKind::kClient;
  r.protocol = call.protocol;
  r.span_name = DbSpanName(call);
  r.start_ns = call.start_ns;
  r.end_ns = call.end_ns;
  r.is_error = !call.error_type.empty();
  r.error_type = call.error_type;

  const std::string port = conn.server_port != 0 ? std::to_string(conn.server_port) : "";
  r.metric_labels = {
      {"db_system_name", call.system},
      {"db_operation_name", call.operation},
      {"db_collection_name", call.collection},
      {"error_type", call.error_type},
      {"server_address", std::string(conn.server_address)},
      {"server_port", port},
  };

  r.attributes.reserve(11);  // every add() below: growing by doubling moved every value
  auto add = [&r](std::string_view key, const std::string& value, bool is_int = false) {
    if (!value.empty()) r.attributes.push_back({key, value, is_int});
  };
  add("db.system.name", call.system);
  add("db.namespace", call.db_namespace);
  add("db.operation.name", call.operation);
  add("db.collection.name", call.collection);
  add("db.query.text", call.query_text);
  add("db.response.status_code", call.status_code);
  add("error.type", call.error_type);
  add("server.address", std::string(conn.server_address));
  add("server.port", port, true);
  // The instrumented process is the client, so its peer is the server.
  add("network.peer.address", std::string(conn.server_address));
  add("network.peer.port", port, true);
  return r;
}

}  // namespace loupe
