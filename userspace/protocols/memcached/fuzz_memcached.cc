// Feeds arbitrary bytes to the memcached detector and parser. The first byte picks flags, the
// next two the request/response split; a second exchange reuses the same parser so that state
// is exercised too.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "userspace/protocols/memcached/memcached_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto protocol = loupe::MakeMemcachedProtocol();
  if (size < 3) return 0;
  const bool final = (data[0] & 1) != 0;
  const size_t split = ((static_cast<size_t>(data[1]) << 8) | data[2]) % (size - 2);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 3), size - 3);

  loupe::ConnectionInfo conn;
  conn.role = loupe::Role::kClient;
  conn.server_port = (data[0] & 2) != 0 ? 11211 : 40000;
  loupe::Exchange ex;
  ex.role = loupe::Role::kClient;
  ex.request = bytes.substr(0, split);
  ex.response = bytes.substr(split);
  ex.request_bytes = ex.request.size() + ((data[0] & 4) != 0 ? 100 : 0);
  ex.response_bytes = ex.response.size() + ((data[0] & 8) != 0 ? 100 : 0);
  ex.final = final;
  protocol->Detect(ex, conn);

  auto parser = protocol->NewConnection(conn);
  std::vector<loupe::Record> out;
  for (int round = 0; round < 2; ++round) {
    parser->Parse(ex, &out);
    ex.final = true;
    parser->Parse(ex, &out);
    std::swap(ex.request, ex.response);  // a second, differently shaped exchange
  }
  parser->TakeUnreportedRequests();
  return 0;
}
