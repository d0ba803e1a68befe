#include "userspace/metrics/red_metrics.h"

#include "absl/strings/str_cat.h"
#include "userspace/metrics/agent_metrics.h"

namespace loupe {
namespace {

// "service\x1fnamespace": a service's identity (its budget's key).
void BuildServiceKey(std::string_view service, std::string_view name_space, std::string* key) {
  key->assign(service);
  *key += '\x1f';
  *key += name_space;
}

// "service\x1fnamespace\x1fvalue1\x1fvalue2...": the series identity within a family.
void BuildSeriesKey(std::string_view service, std::string_view name_space,
                    const InstrumentSchema& schema, const Record& record, std::string* key) {
  BuildServiceKey(service, name_space, key);
  for (const LabelKey& label : schema.labels) {
    *key += '\x1f';
    *key += LabelValue(record, label);
  }
}

}  // namespace

const std::vector<double>& DurationBuckets() {
  static const std::vector<double> buckets(OtelDurationBucketsSeconds().begin(),
                                           OtelDurationBucketsSeconds().end());
  return buckets;
}

RedMetrics::RedMetrics(prometheus::Registry& registry, AgentMetrics* agent_metrics,
                       size_t series_budget_per_service, size_t max_series,
                       std::span<const InstrumentSchema* const> families)
    : agent_metrics_(agent_metrics),
      budget_(series_budget_per_service),
      max_series_(max_series) {
  instruments_.resize(families.size());
  for (size_t i = 0; i < families.size(); ++i) {
    const InstrumentSchema& schema = *families[i];
    InstrumentState& state = instruments_[i];
    state.schema = &schema;
    state.family = &prometheus::BuildHistogram()
                        .Name(std::string(schema.prometheus_name))
                        .Help(std::string(schema.help))
                        .Register(registry);
    state.buckets.assign(schema.buckets.begin(), schema.buckets.end());
  }
}

size_t RedMetrics::IndexOf(const InstrumentSchema* family) const {
  for (size_t i = 0; i < instruments_.size(); ++i) {
    if (instruments_[i].schema == family) return i;
  }
  return kNotRegistered;
}

RedMetrics::Resolved RedMetrics::SeriesFor(InstrumentState& state, Service service,
                                           const Record& record) {
  // The service_name label is the key's text before the first separator.
  const auto found = [](const std::pair<const std::string, Series>& entry) {
    const std::string& key = entry.first;
    return Resolved{entry.second, std::string_view(key).substr(0, key.find('\x1f'))};
  };
  const InstrumentSchema& schema = *state.schema;
  BuildSeriesKey(service.name, service.name_space, schema, record, &key_scratch_);
  if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);

  // Overflow series carry no namespace: "_overflow_" stands for every service past a cap.
  const Service overflow{kOverflowValue, "", nullptr};
  std::string service_key;
  BuildServiceKey(service.name, service.name_space, &service_key);
  if (state.series_per_service.size() >= kMaxServicesPerInstrument &&
      state.series_per_service.find(service_key) == state.series_per_service.end()) {
    // Past the service cap the label set is recorded under service "_overflow_": look it up
    // again under that name so the series map and budgets stay bounded.
    service = overflow;
    BuildSeriesKey(service.name, service.name_space, schema, record, &key_scratch_);
    if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);
  }
  // Past the global cap, a new label set of any service goes to the instrument's one series
  // labelled "_overflow_" throughout: budgets bound each service, the cap bounds them together.
  const bool capped = total_series() >= max_series_;
  if (capped) service = overflow;
  BuildServiceKey(service.name, service.name_space, &service_key);
  auto [budget_it, new_service] = state.series_per_service.try_emplace(service_key, 0);
  if (new_service) {
    agent_metrics_->ServiceSeen(service.name, schema.short_name);
    if (resources_ != nullptr && service.resource != nullptr) {
      resources_->Remember(*service.resource);
    }
  }
  size_t& used = budget_it->second;
  const bool over_budget = capped || used >= budget_;
  prometheus::Labels labels{{"service_name", std::string(service.name)}};
  if (!service.name_space.empty()) {
    labels["service_namespace"] = std::string(service.name_space);
  }
  if (over_budget) {
    BuildServiceKey(service.name, service.name_space, &key_scratch_);
    for (const LabelKey& label : schema.labels) {
      labels[std::string(label.prometheus)] = kOverflowValue;
      key_scratch_ += '\x1f';
      key_scratch_ += kOverflowValue;
    }
    if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);
  } else {
    for (const LabelKey& label : schema.labels) {
      labels[std::string(label.prometheus)] = std::string(LabelValue(record, label));
    }
    ++used;
  }
  Series series;
  series.histogram = &state.family->Add(labels, state.buckets);
  // Everything the "_overflow_" service records is there because of the service cap.
  series.overflow = over_budget || service.name == kOverflowValue;
  return found(*state.series.emplace(key_scratch_, series).first);
}

size_t RedMetrics::series(const InstrumentSchema& family) const {
  const size_t i = IndexOf(&family);
  return i == kNotRegistered ? 0 : instruments_[i].series.size();
}

size_t RedMetrics::services(const InstrumentSchema& family) const {
  const size_t i = IndexOf(&family);
  return i == kNotRegistered ? 0 : instruments_[i].series_per_service.size();
}

size_t RedMetrics::total_series() const {
  size_t total = 0;
  for (const InstrumentState& state : instruments_) total += state.series.size();
  return total;
}

prometheus::Histogram* RedMetrics::Observe(const ProcessResource& resource,
                                           const Record& record) {
  return ObserveIn(Service{resource.service_name, resource.service_namespace, &resource}, record);
}

prometheus::Histogram* RedMetrics::Observe(std::string_view service_name, const Record& record) {
  return ObserveIn(Service{service_name, "", nullptr}, record);
}

prometheus::Histogram* RedMetrics::ObserveIn(Service service, const Record& record) {
  const size_t index = IndexOf(record.instrument);
  if (index == kNotRegistered) return nullptr;
  InstrumentState& state = instruments_[index];
  const double seconds =
      record.end_ns > record.start_ns ? static_cast<double>(record.end_ns - record.start_ns) / 1e9
                                      : 0.0;
  const Resolved resolved = SeriesFor(state, service, record);
  resolved.series.histogram->Observe(seconds);
  if (!resolved.series.overflow) return resolved.series.histogram;
  agent_metrics_->SeriesOverflow(resolved.service, record.instrument->short_name);
  return nullptr;
}

}  // namespace loupe
