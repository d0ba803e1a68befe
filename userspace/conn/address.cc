#include "userspace/conn/address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace loupe {

std::string FormatAddress(uint16_t family, const uint8_t addr[16]) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, text, sizeof(text));
    return text;
  }
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    inet_ntop(AF_INET, addr + 12, text, sizeof(text));
    return text;
  }
  inet_ntop(AF_INET6, addr, text, sizeof(text));
  return text;
}

}  // namespace loupe
