// Heap allocations of the whole process, for microbenchmarks that report allocations per item.
// Linking allocation_count.cc replaces the global operator new (it lives in its own file so the
// compiler cannot inline the replacement into callers and mismatch it with their deletes).
#pragma once

#include <cstdint>

namespace loupe::bench {

// Calls of operator new so far.
uint64_t AllocationCount();

}  // namespace loupe::bench
