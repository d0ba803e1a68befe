// How the --ringbuf_mib budget is split into the per-CPU ring buffers (bpf/capture.bpf.c).
#pragma once

#include <cstdint>

namespace loupe {

struct RingLayout {
  uint32_t count = 1;       // rings, one per online CPU
  uint64_t bytes_each = 0;  // a power of two, as the kernel requires
};

// The smallest ring: a burst on one CPU between two 20 ms drains must fit.
inline constexpr uint64_t kMinRingBytes = 256 * 1024;

// One ring per online CPU, not per possible CPU: cloud VMs often declare dozens of hot-plug slots
// that never come online. A CPU numbered past the last ring (hot-plugged later, or sparse
// numbering) shares a ring (index modulo count). Each ring gets the budget divided by the count,
// rounded down to a power of two, and at least kMinRingBytes, so hosts with more than
// budget / kMinRingBytes CPUs use more than the budget.
RingLayout PlanRings(uint32_t ringbuf_mib, long online_cpus);

}  // namespace loupe
