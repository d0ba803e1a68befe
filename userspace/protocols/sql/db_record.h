// The Record every database client call becomes, whatever the wire protocol.
#pragma once

#include <cstdint>
#include <string>

#include "userspace/core/record.h"
#include "userspace/protocols/protocol.h"

namespace loupe {

// What a DB protocol parser learned about one call. All strings must already be safe to export
// (sanitized query text, no secrets).
struct DbCall {
  std::string protocol;     // "postgresql", "mysql", "redis", "memcached"
  std::string system;       // db.system.name: postgresql, mysql, mariadb, redis, memcached
  std::string db_namespace; // db.namespace; omitted when ""
  std::string operation;    // db.operation.name
  std::string collection;   // db.collection.name
  std::string query_text;   // db.query.text, sanitized
  std::string status_code;  // db.response.status_code (SQLSTATE, MySQL code, Redis prefix)
  std::string error_type;   // error.type; "" when the call succeeded (or its outcome is unknown)
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
};

// Builds a kDbClient / SpanKind::kClient record with the span name, labels and attributes the
// semantic conventions ask for.
Record MakeDbRecord(const DbCall& call, const ConnectionInfo& conn);

// Semconv span name: "{operation} {collection}", else "{operation}", else the system name.
std::string DbSpanName(const DbCall& call);

}  // namespace loupe
