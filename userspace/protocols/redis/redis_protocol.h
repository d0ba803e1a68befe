// Redis (RESP2 and RESP3) as seen from the client process.
//
// Reported: one record per command, pipelined or not. db.operation.name is the command name
// upper-cased (first word only for two-word commands) when it is in the Redis command reference
// (redis_commands.h); any other name is client-chosen text and becomes "_OTHER", without query
// text, the span named "redis" (module commands such as JSON.GET are _OTHER too). db.query.text
// is the name followed by one "?" per argument: argument values (keys, values) are never kept. AUTH and HELLO (credentials)
// are never reported; SELECT's index becomes db.namespace. Errors: error.type and
// db.response.status_code are the error's first word (ERR, WRONGTYPE, ...).
// Pipelining: every command visible in the request prefix is reported; those whose reply is past
// the captured response prefix are reported without a status (not as errors). Commands entirely
// past the captured request prefix cannot be named: TakeUnreportedRequests() counts them from
// the replies after the visible commands' ones: exactly when the response's first chunk is whole
// (a lone big SET cut inside its value and answered by +OK counts nothing), at least those seen
// when it is cut; when the visible commands' own replies are missing it cannot be told and one
// is counted. RESP3 pushes are not replies (commands that get no reply, e.g. under CLIENT REPLY
// OFF, are not counted past the prefix).
// Server role is ignored: DB calls are reported from clients.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakeRedisProtocol();

}  // namespace loupe
