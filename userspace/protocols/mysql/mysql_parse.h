// Splitting MySQL byte prefixes into packets and reading the few packets Loupe needs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/mysql/mysql_types.h"

namespace loupe::mysql {

// Splits packets up to the end of the prefix; the last one may be incomplete.
std::vector<Packet> SplitPackets(std::string_view bytes);

// A server greeting (HandshakeV10, sequence 0): its version string, or false.
bool ParseGreeting(std::string_view bytes, std::string* version);

// The schema named in a HandshakeResponse41 (CLIENT_CONNECT_WITH_DB), or "". Skips the user name
// and auth data without copying them.
std::string HandshakeDatabase(std::string_view payload);

// Reads a response to a command. `prepare` is true for COM_STMT_PREPARE, whose success is a
// PREPARE_OK (header 0x00 followed by the statement id) instead of an OK. Rows are not decoded,
// so text and binary (COM_STMT_EXECUTE) result sets are read alike.
ResponseSummary SummarizeResponse(const std::vector<Packet>& packets, bool prepare);

// Strings the protocol uses for the error code: "1146".
std::string ErrorCodeString(uint16_t code);

}  // namespace loupe::mysql
