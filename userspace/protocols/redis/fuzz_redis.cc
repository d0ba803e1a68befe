// libFuzzer target: arbitrary bytes to the Redis detector and parser (see fuzz_client_protocol.h).
#include <cstddef>
#include <cstdint>

#include "userspace/protocols/fuzz_client_protocol.h"
#include "userspace/protocols/redis/redis_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto protocol = loupe::MakeRedisProtocol();
  return loupe::FuzzClientProtocol(*protocol, 6379, data, size);
}
