#pragma once

#include <cstdint>
#include <string>

namespace loupe {

// Text form of an address from the kernel tuple. IPv4-mapped IPv6 addresses print as IPv4.
std::string FormatAddress(uint16_t family, const uint8_t addr[16]);

}  // namespace loupe
