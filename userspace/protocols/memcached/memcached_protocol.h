// memcached text protocol as seen from the client process.
//
// Reported: one record per command, including noreply ones glued into the same request (their
// status is unknown, so not an error). db.operation.name is the command as sent ("get", "set";
// unknown words are not used as names); db.query.text is the command followed by one "?" per
// argument: keys and values are never kept. ERROR / CLIENT_ERROR / SERVER_ERROR are errors with
// that error.type. quit gets no reply and is ignored. The binary protocol (magic 0x80/0x81) is
// not supported: Detect says kNo and the parser answers kInvalid. Meta commands (mg, ms, ...)
// are parsed as unknown commands. Server role is ignored: DB calls are reported from clients.
// Commands entirely past the captured request prefix cannot be named: TakeUnreportedRequests()
// counts them from the replies that follow the visible commands' replies: exactly when the
// response's first chunk is whole (a lone big `set` cut inside its data block and answered by one
// STORED counts nothing), at least those seen when it is cut. noreply commands past the prefix
// have no reply and cannot be counted. When the visible commands' own replies are incomplete at
// the end of the exchange, it cannot be told: one is counted.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakeMemcachedProtocol();

}  // namespace loupe
