// PostgreSQL (frontend/backend protocol v3) as seen from the client process.
//
// Reported: one record per simple Query (a multi-statement Query is one record named after its
// first statement) and one per Execute, with the SQL remembered from Parse (bounded per
// connection). Recognised and ignored, never copied: SSLRequest, GSSENCRequest, CancelRequest,
// StartupMessage (only its database name is kept), the whole authentication exchange
// (PasswordMessage / SASL), Parse-only and Sync-only requests, Terminate.
// Server role (the postgres process's own view) is ignored: DB calls are reported from clients.
// After an SSLRequest answered 'S' the stream is TLS; raw TLS records are ignored.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakePostgresqlProtocol();

}  // namespace loupe
