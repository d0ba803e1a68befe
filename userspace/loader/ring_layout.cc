#include "userspace/loader/ring_layout.h"

#include <algorithm>
#include <bit>

namespace loupe {

RingLayout PlanRings(uint32_t ringbuf_mib, long online_cpus) {
  RingLayout layout;
  layout.count = online_cpus > 0 ? static_cast<uint32_t>(online_cpus) : 1;
  const uint64_t share = (uint64_t{ringbuf_mib} << 20) / layout.count;
  layout.bytes_each = std::max(kMinRingBytes, std::bit_floor(share));
  return layout;
}

}  // namespace loupe
