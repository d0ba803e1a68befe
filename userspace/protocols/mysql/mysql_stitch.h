// Matching MySQL commands with their responses, and the per-connection memory of prepared
// statements (id → sanitized SQL) that COM_STMT_EXECUTE needs.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/protocols/mysql/mysql_types.h"

namespace loupe::mysql {

class StatementTable {
 public:
  static constexpr size_t kMaxEntries = 256;
  void Put(uint32_t id, std::string sql);
  const std::string* Get(uint32_t id) const;
  void Erase(uint32_t id);
  size_t size() const { return map_.size(); }

 private:
  absl::flat_hash_map<uint32_t, std::string> map_;
  std::deque<uint32_t> order_;
};

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
