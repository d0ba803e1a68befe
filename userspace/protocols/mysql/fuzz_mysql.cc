// libFuzzer target: arbitrary bytes to the MySQL detector and parser (see fuzz_client_protocol.h).
#include <cstddef>
#include <cstdint>

#include "userspace/protocols/fuzz_client_protocol.h"
#include "userspace/protocols/mysql/mysql_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto protocol = loupe::MakeMysqlProtocol();
  return loupe::FuzzClientProtocol(*protocol, 3306, data, size);
}
