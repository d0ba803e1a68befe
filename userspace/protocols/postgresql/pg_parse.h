// Splitting PostgreSQL byte prefixes into messages. Everything here reads untrusted bytes and
// never assumes a prefix is whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/postgresql/pg_types.h"

namespace loupe::pg {

// Which untyped startup-phase message `bytes` starts with (kNone if it is not one).
StartupKind ClassifyStartup(std::string_view bytes);

// The "database" (or, failing that, "user") parameter of a StartupMessage. Never returns any
// other parameter.
std::string StartupDatabase(std::string_view bytes);

// Splits typed messages. Stops at the end of the prefix (the last message may be incomplete) or
// at the first implausible header. Returns false when the bytes are not a sequence of messages
// with known types (for `frontend` or backend direction).
bool SplitMessages(std::string_view bytes, bool frontend, std::vector<Message>* out);

bool IsFrontendType(char type);
bool IsBackendType(char type);

// Reads a NUL-terminated string at *pos; false when no NUL is within the view.
bool ReadCString(std::string_view body, size_t* pos, std::string_view* out);

// From an ErrorResponse body: the SQLSTATE ('C' field), or "" when not visible.
std::string ErrorSqlState(std::string_view body);

}  // namespace loupe::pg
