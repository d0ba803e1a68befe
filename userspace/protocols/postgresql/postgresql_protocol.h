// PostgreSQL (frontend/backend protocol v3) as seen from the client process.
//
// Reported: one record per simple Query (a multi-statement Query is one record named after its
// first statement) and one per Execute, with the SQL remembered from Parse (bounded per
// connection). COPY ... FROM STDIN is one call over two exchanges: the Query answered by
// CopyInResponse is held back (one per connection) until the next request, which starts with
// CopyData / CopyDone / CopyFail, is answered by CommandComplete or ErrorResponse; the record
// spans both. If the client sends anything else instead, or the connection ends first, the COPY
// is counted by TakeUnreportedRequests() (abandoned) or lost with the connection. COPY ... TO
// STDOUT is one exchange (CopyOutResponse, CopyData..., CommandComplete) and one record.
// Recognised and ignored, never copied: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage
// (only its database name is kept), the whole authentication exchange (PasswordMessage / SASL),
// Parse-only and Sync-only requests, Terminate, CopyData with no COPY pending.
// Server role (the postgres process's own view) is ignored: DB calls are reported from clients.
// After an SSLRequest answered 'S' the stream is TLS; raw TLS records are ignored.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakePostgresqlProtocol();

}  // namespace loupe
