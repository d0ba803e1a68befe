// Mirrors a monotonic total kept elsewhere (a kernel counter, a bpf_prog_info field, a count
// from start-up) into a Prometheus counter.
#pragma once

#include <cstdint>

#include "prometheus/counter.h"

namespace loupe {

// Adds what `total` gained since `*last` and remembers it. A smaller total (a per-CPU read
// racing an update) never makes the counter go back; the next larger one is added from the
// highest value seen.
inline void AdvanceCounterTo(prometheus::Counter& counter, uint64_t total, uint64_t* last) {
  if (total <= *last) return;
  counter.Increment(static_cast<double>(total - *last));
  *last = total;
}

}  // namespace loupe
