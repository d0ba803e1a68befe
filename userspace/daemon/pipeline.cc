#include "userspace/daemon/pipeline.h"

namespace loupe {

Pipeline::Pipeline(ProcessInfoCache* processes, RedMetrics* red_metrics,
                   ProcessExclusion* exclusion, ResolvedRecordSink* spans, const Clock* clock)
    : processes_(processes),
      red_metrics_(red_metrics),
      exclusion_(exclusion),
      spans_(spans),
      clock_(clock) {}

void Pipeline::OnRecord(const RecordContext& context, Record record) {
  std::shared_ptr<const ProcessResource> resource =
      processes_->Get(context.tgid, clock_->MonotonicNs(), context.comm);
  if (exclusion_ != nullptr && exclusion_->DropRecord(context.tgid, resource)) {
    status_->OnProcessResolved(resource);  // the exclusion stage tells its gap, with the rule
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
  std::shared_ptr<const ProcessResource> resource =
      processes_->Get(tgid, clock_->MonotonicNs(), comm);
  status_->OnProcessResolved(resource);
  if (exclusion_ != nullptr) exclusion_->Decide(tgid, resource);
}

}  // namespace loupe
