// Matching MySQL commands with their responses. The per-connection memory of prepared statements
// (id → sanitized SQL) that COM_STMT_EXECUTE needs is a StatementCache<uint32_t>
// (userspace/protocols/sql/statement_cache.h).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "userspace/protocols/mysql/mysql_types.h"

namespace loupe::mysql {

// The command packets of one request. Commands that get no response (COM_STMT_CLOSE,
// COM_STMT_SEND_LONG_DATA) may precede the one that does, glued into the same request.
struct RequestCommands {
  std::vector<uint32_t> closed_statements;
  bool has_command = false;
  uint8_t command = 0;
  std::string_view argument;  // payload after the command byte; may be cut
  bool argument_complete = false;
  uint32_t pipelined_after = 0;  // further answered commands in the same request (unreported)
};

// False when the packets do not look like client commands (sequence id 0).
bool SplitCommands(const std::vector<Packet>& packets, RequestCommands* out);

// The SQL text of a COM_QUERY argument: skips the query-attributes prefix some MySQL 8 clients
// send (parameter count 0, parameter set count 1).
std::string_view QueryText(std::string_view argument);

}  // namespace loupe::mysql
