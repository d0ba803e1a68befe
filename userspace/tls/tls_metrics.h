// The agent's own metrics about TLS visibility (see docs/tls.md and docs/metrics.md).
#pragma once

#include <array>
#include <cstdint>

#include "bpf/shared/loupe_abi.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "userspace/metrics/metric_registration.h"

namespace loupe {

class TlsMetrics {
 public:
  explicit TlsMetrics(prometheus::Registry& registry);

  void SetLibrariesAttached(size_t n) { libraries_attached_.Set(static_cast<double>(n)); }
  void SetProcessesNotVisible(size_t n) { processes_not_visible_.Set(static_cast<double>(n)); }
  void Connection(bool visible) { (visible ? visible_ : opaque_).Increment(); }
  void AttachFailure() { attach_failures_.Increment(); }
  // Folds in the TLS entries of the kernel's per-CPU counters (enum loupe_counter).
  void UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals);

 private:
  prometheus::Gauge& libraries_attached_;
  prometheus::Gauge& processes_not_visible_;
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Counter& visible_;
  prometheus::Counter& opaque_;
  prometheus::Counter& attach_failures_;
  // Mirrors of the kernel's TLS counters.
  MirroredCounter bytes_skipped_;
  MirroredCounter calls_;
  MirroredCounter plaintext_dropped_;
};

}  // namespace loupe
