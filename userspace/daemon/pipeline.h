// What happens to each record: attribute it to a service, count it in the RED metrics, and hand
// it to the span stage (if any).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "userspace/core/clock.h"
#include "userspace/core/record_sink.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"

namespace loupe {

class KernelRedTable;

class Pipeline : public RecordSink {
 public:
  // `clock` times the process cache's revalidation; it must outlive the pipeline.
  Pipeline(ProcessInfoCache* processes, RedMetrics* red_metrics,
           std::vector<std::string> excluded_executables, ResolvedRecordSink* spans,
           const Clock* clock);

  void OnRecord(const RecordContext& context, Record record) override;
  // Reads the process's identity while it is most likely still alive.
  void OnConnectionClassified(uint32_t tgid, std::string_view comm) override;

  // Kernel RED aggregation (--metrics_only): records that carry a key teach it to `table`.
  void set_kernel_red(KernelRedTable* table) { kernel_red_ = table; }

 private:
  ProcessInfoCache* processes_;
  RedMetrics* red_metrics_;
  absl::flat_hash_set<std::string> excluded_;
  ResolvedRecordSink* spans_;
  const Clock* clock_;
  KernelRedTable* kernel_red_ = nullptr;
};

}  // namespace loupe
