#include "userspace/metrics/red_metrics.h"

#include "absl/strings/str_cat.h"
#include "userspace/core/absl_compat.h"
#include "userspace/metrics/agent_metrics.h"

namespace loupe {
namespace {

const char* InstrumentLabel(Instrument instrument) {
  switch (instrument) {
    case Instrument::kHttpServer: return "http_server";
    case Instrument::kHttpClient: return "http_client";
    case Instrument::kDbClient: return "db_client";
  }
  return "unknown";
}

// "service\x1fvalue1\x1fvalue2...": the series identity within an instrument.
void BuildSeriesKey(std::string_view service, const std::vector<std::string>& schema,
                    const Record& record, std::string* key) {
  key->assign(service);
  for (const std::string& name : schema) {
    *key += '\x1f';
    *key += MetricLabel(record, name);
  }
}

}  // namespace

const std::vector<double>& DurationBuckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                              0.5,   0.75, 1,     2.5,  5,     7.5, 10};
  return buckets;
}

const std::vector<std::string>& LabelSchema(Instrument instrument) {
  static const std::vector<std::string> http_server = {
      "http_request_method", "http_response_status_code", "http_route", "server_port",
      "error_type"};
  static const std::vector<std::string> http_client = {
      "http_request_method", "http_response_status_code", "server_address", "server_port",
      "error_type"};
  static const std::vector<std::string> db_client = {
      "db_system_name", "db_operation_name", "db_collection_name", "error_type",
      "server_address", "server_port"};
  switch (instrument) {
    case Instrument::kHttpServer: return http_server;
    case Instrument::kHttpClient: return http_client;
    case Instrument::kDbClient: return db_client;
  }
  return http_server;
}

RedMetrics::RedMetrics(prometheus::Registry& registry, AgentMetrics* agent_metrics,
                       size_t series_budget_per_service, size_t max_series)
    : agent_metrics_(agent_metrics),
      budget_(series_budget_per_service),
      max_series_(max_series) {
  instruments_[static_cast<size_t>(Instrument::kHttpServer)].family =
      &prometheus::BuildHistogram()
           .Name("http_server_request_duration_seconds")
           .Help("Duration of HTTP server requests seen by Loupe")
           .Register(registry);
  instruments_[static_cast<size_t>(Instrument::kHttpClient)].family =
      &prometheus::BuildHistogram()
           .Name("http_client_request_duration_seconds")
           .Help("Duration of HTTP client requests seen by Loupe")
           .Register(registry);
  instruments_[static_cast<size_t>(Instrument::kDbClient)].family =
      &prometheus::BuildHistogram()
           .Name("db_client_operation_duration_seconds")
           .Help("Duration of database client operations seen by Loupe")
           .Register(registry);
}

RedMetrics::Resolved RedMetrics::SeriesFor(InstrumentState& state, Instrument instrument,
                                           std::string_view service, const Record& record) {
  // The service_name label is the key's text before the first separator.
  const auto found = [](const std::pair<const std::string, Series>& entry) {
    const std::string& key = entry.first;
    return Resolved{entry.second, std::string_view(key).substr(0, key.find('\x1f'))};
  };
  const std::vector<std::string>& schema = LabelSchema(instrument);
  BuildSeriesKey(service, schema, record, &key_scratch_);
  if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);

  if (state.series_per_service.size() >= kMaxServicesPerInstrument &&
      state.series_per_service.find(AbslView(service)) == state.series_per_service.end()) {
    // Past the service cap the label set is recorded under service "_overflow_": look it up
    // again under that name so the series map and budgets stay bounded.
    service = kOverflowValue;
    BuildSeriesKey(service, schema, record, &key_scratch_);
    if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);
  }
  // Past the global cap, a new label set of any service goes to the instrument's one series
  // labelled "_overflow_" throughout: budgets bound each service, the cap bounds them together.
  const bool capped = total_series() >= max_series_;
  if (capped) service = kOverflowValue;
  auto [budget_it, new_service] = state.series_per_service.try_emplace(std::string(service), 0);
  if (new_service) agent_metrics_->ServiceSeen(service, InstrumentLabel(instrument));
  size_t& used = budget_it->second;
  const bool over_budget = capped || used >= budget_;
  prometheus::Labels labels{{"service_name", std::string(service)}};
  if (over_budget) {
    key_scratch_.assign(service);
    for (const std::string& name : schema) {
      labels[name] = kOverflowValue;
      key_scratch_ += '\x1f';
      key_scratch_ += kOverflowValue;
    }
    if (auto it = state.series.find(key_scratch_); it != state.series.end()) return found(*it);
  } else {
    for (const std::string& name : schema) labels[name] = std::string(MetricLabel(record, name));
    ++used;
  }
  Series series;
  series.histogram = &state.family->Add(labels, DurationBuckets());
  // Everything the "_overflow_" service records is there because of the service cap.
  series.overflow = over_budget || service == kOverflowValue;
  return found(*state.series.emplace(key_scratch_, series).first);
}

size_t RedMetrics::series(Instrument instrument) const {
  return instruments_[static_cast<size_t>(instrument)].series.size();
}

size_t RedMetrics::services(Instrument instrument) const {
  return instruments_[static_cast<size_t>(instrument)].series_per_service.size();
}

size_t RedMetrics::total_series() const {
  size_t total = 0;
  for (const InstrumentState& state : instruments_) total += state.series.size();
  return total;
}

prometheus::Histogram* RedMetrics::Observe(std::string_view service_name, const Record& record) {
  InstrumentState& state = instruments_[static_cast<size_t>(record.instrument)];
  if (state.family == nullptr) return nullptr;
  const double seconds =
      record.end_ns > record.start_ns ? static_cast<double>(record.end_ns - record.start_ns) / 1e9
                                      : 0.0;
  const Resolved resolved = SeriesFor(state, record.instrument, service_name, record);
  resolved.series.histogram->Observe(seconds);
  if (!resolved.series.overflow) return resolved.series.histogram;
  agent_metrics_->SeriesOverflow(resolved.service, InstrumentLabel(record.instrument));
  return nullptr;
}

}  // namespace loupe
