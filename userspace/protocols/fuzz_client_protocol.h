// The shared body of the client-side protocols' libFuzzer targets: arbitrary bytes go to the
// protocol's detector and to one connection parser. The first byte picks flags (final, default
// port, more bytes than captured on either side), the next two the request/response split; a
// second exchange with the halves swapped reuses the same parser so that its state is exercised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "userspace/protocols/protocol.h"

namespace loupe {

inline int FuzzClientProtocol(const Protocol& protocol, uint16_t default_port, const uint8_t* data,
                              size_t size) {
  if (size < 3) return 0;
  const bool final = (data[0] & 1) != 0;
  const size_t split = ((static_cast<size_t>(data[1]) << 8) | data[2]) % (size - 2);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 3), size - 3);

  ConnectionInfo conn;
  conn.role = Role::kClient;
  conn.server_port = (data[0] & 2) != 0 ? default_port : 40000;
  Exchange ex;
  ex.role = Role::kClient;
  ex.request = bytes.substr(0, split);
  ex.response = bytes.substr(split);
  ex.request_bytes = ex.request.size() + ((data[0] & 4) != 0 ? 100 : 0);
  ex.response_bytes = ex.response.size() + ((data[0] & 8) != 0 ? 100 : 0);
  ex.final = final;
  protocol.Detect(ex, conn);

  auto parser = protocol.NewConnection(conn);
  std::vector<Record> out;
  for (int round = 0; round < 2; ++round) {
    parser->Parse(ex, &out);
    ex.final = true;
    parser->Parse(ex, &out);
    std::swap(ex.request, ex.response);
  }
  parser->TakeUnreportedRequests();
  return 0;
}

}  // namespace loupe
