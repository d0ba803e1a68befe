#include "userspace/daemon/pipeline.h"

namespace loupe {

Pipeline::Pipeline(ProcessInfoCache* processes, RedMetrics* red_metrics,
                   std::vector<std::string> excluded_executables, ResolvedRecordSink* spans,
                   const Clock* clock)
    : processes_(processes),
      red_metrics_(red_metrics),
      excluded_(excluded_executables.begin(), excluded_executables.end()),
      spans_(spans),
      clock_(clock) {}

void Pipeline::OnRecord(const RecordContext& context, Record record) {
  std::shared_ptr<const ProcessResource> resource =
      processes_->Get(context.tgid, clock_->MonotonicNs(), context.comm);
  if (!excluded_.empty() && excluded_.contains(resource->executable_name)) {
    status_->OnProcessResolved(resource);
    status_->OnGap(context.tgid, context.comm, InstrumentationGap::kExcludedByRule,
                   "exclude_processes names its executable");
    return;
  }
  prometheus::Histogram* series = red_metrics_->Observe(*resource, record);
  for (CountedRecordObserver* observer : observers_) {
    observer->OnCountedRecord(context, record, series);
  }
  status_->OnExchangeCounted(resource, context.protocol);
  if (spans_ != nullptr) spans_->OnResolvedRecord(context, resource, std::move(record));
}

void Pipeline::OnConnectionClassified(uint32_t tgid, std::string_view comm) {
  status_->OnProcessResolved(processes_->Get(tgid, clock_->MonotonicNs(), comm));
}

}  // namespace loupe
