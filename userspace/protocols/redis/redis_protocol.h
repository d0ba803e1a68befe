// Redis (RESP2 and RESP3) as seen from the client process.
//
// Reported: one record per command, pipelined or not. db.operation.name is the command name
// upper-cased (first word only for two-word commands); db.query.text is the name followed by one
// "?" per argument: argument values (keys, values) are never kept. AUTH and HELLO (credentials)
// are never reported; SELECT's index becomes db.namespace. Errors: error.type and
// db.response.status_code are the error's first word (ERR, WRONGTYPE, ...).
// Pipelining: every command visible in the request prefix is reported; those whose reply is past
// the captured response prefix are reported without a status (not as errors). Commands entirely
// past the captured request prefix cannot be named: they are counted by TakeUnreportedRequests()
// (exactly when their replies are visible, else at least one). RESP3 pushes are not replies.
// Server role is ignored: DB calls are reported from clients.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakeRedisProtocol();

}  // namespace loupe
