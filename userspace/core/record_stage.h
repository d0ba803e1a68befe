// Optional record stages behind generic hooks, so that a feature such as kernel RED aggregation
// is one implementation of these interfaces, not special cases in the tracker and the pipeline:
//   - an ExchangeKeySource gives an exchange an opaque aggregation key, which the tracker
//     carries to the exchange's record (RecordContext::aggregation_key) without knowing what
//     it is;
//   - a CountedRecordObserver is called by the pipeline after it counted a record in its RED
//     series, with that series.
#pragma once

#include <optional>
#include <string_view>

#include "userspace/core/exchange_key.h"
#include "userspace/core/record.h"
#include "userspace/core/record_sink.h"

struct loupe_event_header;  // bpf/shared/loupe_abi.h

namespace prometheus {
class Histogram;
}  // namespace prometheus

namespace loupe {

class ExchangeKeySource {
 public:
  virtual ~ExchangeKeySource() = default;
  // The key of a captured exchange, or nullopt when it is not one to aggregate. The tracker
  // hands it on only with the exchange's record when the exchange made exactly one record.
  virtual std::optional<ExchangeKey> KeyOf(const loupe_event_header& header,
                                           std::string_view request,
                                           std::string_view response) const = 0;
};

class CountedRecordObserver {
 public:
  virtual ~CountedRecordObserver() = default;
  // `series`: the RED histogram the pipeline counted `record` in.
  virtual void OnCountedRecord(const RecordContext& context, const Record& record,
                               prometheus::Histogram* series) = 0;
};

}  // namespace loupe
