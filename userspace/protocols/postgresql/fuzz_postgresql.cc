// libFuzzer target: arbitrary bytes to the PostgreSQL detector and parser (see fuzz_client_protocol.h).
#include <cstddef>
#include <cstdint>

#include "userspace/protocols/fuzz_client_protocol.h"
#include "userspace/protocols/postgresql/postgresql_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto protocol = loupe::MakePostgresqlProtocol();
  return loupe::FuzzClientProtocol(*protocol, 5432, data, size);
}
