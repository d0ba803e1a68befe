// libFuzzer target: arbitrary bytes to the memcached detector and parser (see fuzz_client_protocol.h).
#include <cstddef>
#include <cstdint>

#include "userspace/protocols/fuzz_client_protocol.h"
#include "userspace/protocols/memcached/memcached_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto protocol = loupe::MakeMemcachedProtocol();
  return loupe::FuzzClientProtocol(*protocol, 11211, data, size);
}
