// LOUPE_DCHECK(condition): asserts, in debug builds, something our own bookkeeping guarantees —
// a "cannot happen" (two containers kept in step, a state a caller checked before the call).
// When NDEBUG is not defined and the condition is false, it prints file:line and the condition
// on stderr and aborts; with NDEBUG (release builds) it is compiled out: the condition is still
// type-checked but never evaluated, so it must have no side effect.
//
// Never for untrusted input: bytes from the wire, the kernel's records, /proc, configuration.
// Those are counted and survived (ParseState, the agent's own metrics), not asserted.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace loupe::check_internal {

[[noreturn]] inline void DcheckFailed(const char* file, int line, const char* condition) {
  std::fprintf(stderr, "%s:%d: LOUPE_DCHECK failed: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace loupe::check_internal

#ifdef NDEBUG
#define LOUPE_DCHECK(condition) \
  do {                          \
    if (false && (condition)) { \
    }                           \
  } while (0)
#else
#define LOUPE_DCHECK(condition)                                                   \
  do {                                                                            \
    if (!(condition)) {                                                           \
      ::loupe::check_internal::DcheckFailed(__FILE__, __LINE__, #condition);      \
    }                                                                             \
  } while (0)
#endif
