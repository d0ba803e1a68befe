// What happens to each record: attribute it to a service, drop it if its process is excluded
// (daemon/process_exclusion.h), count it in the RED metrics, tell the optional counted-record
// stages (core/record_stage.h), and hand it to the span stage (if any).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "userspace/core/clock.h"
#include "userspace/core/process_status.h"
#include "userspace/core/record_sink.h"
#include "userspace/core/record_stage.h"
#include "userspace/daemon/process_exclusion.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"

namespace loupe {

class Pipeline : public RecordSink {
 public:
  // `clock` times the process cache's revalidation; it must outlive the pipeline. `exclusion`
  // may be null: every process is instrumented.
  Pipeline(ProcessInfoCache* processes, RedMetrics* red_metrics, ProcessExclusion* exclusion,
           ResolvedRecordSink* spans, const Clock* clock);

  void OnRecord(const RecordContext& context, Record record) override;
  // Reads the process's identity while it is most likely still alive, and decides whether it is
  // excluded (so the kernel skips its next connections).
  void OnConnectionClassified(uint32_t tgid, std::string_view comm) override;

  // An optional stage told of every record after it was counted (kernel RED aggregation).
  void AddCountedRecordObserver(CountedRecordObserver* observer) {
    observers_.push_back(observer);
  }
  // Told who each process is, what was counted for it and when a rule excluded it (/status).
  void set_process_status(ProcessStatusSink* status) { status_ = status; }

 private:
  ProcessInfoCache* processes_;
  RedMetrics* red_metrics_;
  ProcessExclusion* exclusion_;
  ResolvedRecordSink* spans_;
  const Clock* clock_;
  std::vector<CountedRecordObserver*> observers_;
  ProcessStatusSink* status_ = DiscardProcessStatus::Instance();
};

}  // namespace loupe
