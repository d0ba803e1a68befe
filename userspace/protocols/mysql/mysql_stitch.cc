#include "userspace/protocols/mysql/mysql_stitch.h"

namespace loupe::mysql {

bool SplitCommands(const std::vector<Packet>& packets, RequestCommands* out) {
  for (const Packet& p : packets) {
    if (p.seq != 0 || (p.payload.empty() && p.complete)) return false;
    if (p.payload.empty()) break;  // cut inside the header
    const uint8_t command = static_cast<uint8_t>(p.payload[0]);
    if (out->has_command) {
      ++out->pipelined_after;
      continue;
    }
    if (command == kComStmtClose || command == kComStmtSendLongData) {
      if (command == kComStmtClose && p.payload.size() >= 5) {
        uint32_t id = 0;
        for (int i = 0; i < 4; ++i) id |= static_cast<uint32_t>(static_cast<unsigned char>(p.payload[1 + i])) << (8 * i);
        out->closed_statements.push_back(id);
      }
      continue;
    }
    out->has_command = true;
    out->command = command;
    out->argument = p.payload.substr(1);
    out->argument_complete = p.complete;
  }
  return true;
}

std::string_view QueryText(std::string_view argument) {
  if (argument.size() >= 2 && argument[0] == '\0' && argument[1] == '\x01') return argument.substr(2);
  return argument;
}

}  // namespace loupe::mysql
