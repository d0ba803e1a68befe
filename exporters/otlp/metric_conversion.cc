#include "exporters/otlp/metric_conversion.h"

#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "exporters/otlp/span_mapping.h"

namespace loupe {

namespace otlp_common = opentelemetry::proto::common::v1;
namespace otlp_metrics = opentelemetry::proto::metrics::v1;
using KeyValues = google::protobuf::RepeatedPtrField<otlp_common::KeyValue>;

namespace {

constexpr std::string_view kServiceLabel = "service_name";
constexpr std::string_view kNamespaceLabel = "service_namespace";

// The resource a series goes to: a service (name and namespace), or the agent's own.
struct ServiceKey {
  std::string name;
  std::string name_space;
  bool agent = false;
  auto operator<=>(const ServiceKey&) const = default;
};

// Builds the OTLP request resource by resource, keeping one Metric per family per resource.
class RequestBuilder {
 public:
  RequestBuilder(const MetricConversionOptions& options, ConvertedMetrics* out)
      : options_(options), out_(out) {}

  otlp_metrics::ScopeMetrics* ScopeFor(const ServiceKey& service) {
    auto [it, inserted] = scopes_.try_emplace(service, nullptr);
    if (inserted) {
      otlp_metrics::ResourceMetrics* rm = out_->request.add_resource_metrics();
      KeyValues* attrs = rm->mutable_resource()->mutable_attributes();
      if (service.agent) {
        ProcessResource resource;
        resource.service_name = service.name;
        FillResource(&resource, rm->mutable_resource());
      } else {
        // The service's workload-level resource, as its spans carry it (without their pod).
        const std::vector<Attribute> identity =
            options_.services != nullptr
                ? options_.services->Find(service.name_space, service.name)
                : ServiceResources::FromLabels(service.name_space, service.name);
        for (const Attribute& attribute : identity) AddAttribute(attribute, attrs);
        FillResource(nullptr, rm->mutable_resource());  // telemetry.sdk.*
      }
      // Keys we already set win over OTEL_RESOURCE_ATTRIBUTES (attribute keys must be unique).
      for (const Attribute& extra : options_.resource_attributes) {
        bool present = false;
        for (const otlp_common::KeyValue& kv : *attrs) present |= kv.key() == extra.key;
        if (!present) AddAttribute(extra, attrs);
      }
      it->second = rm->add_scope_metrics();
      it->second->mutable_scope()->set_name(std::string(kOtlpScopeName));
      it->second->mutable_scope()->set_version(std::string(OtlpSdkVersion()));
    }
    return it->second;
  }

  otlp_metrics::Metric* MetricFor(const ServiceKey& service,
                                  const prometheus::MetricFamily& family) {
    auto key = std::make_pair(service, family.name);
    auto [it, inserted] = metrics_.try_emplace(key, nullptr);
    if (inserted) {
      otlp_metrics::Metric* metric = ScopeFor(service)->add_metrics();
      OtelMetricName name = OtelNameFor(family.name);
      metric->set_name(name.name);
      metric->set_unit(name.unit);
      metric->set_description(family.help);
      it->second = metric;
    }
    return it->second;
  }

 private:
  const MetricConversionOptions& options_;
  ConvertedMetrics* out_;
  std::map<ServiceKey, otlp_metrics::ScopeMetrics*> scopes_;
  std::map<std::pair<ServiceKey, std::string>, otlp_metrics::Metric*> metrics_;
};

// Which resource a series belongs to: its service labels' (which then leave its attributes), or
// the agent's for loupe_* families and series without a service_name.
ServiceKey ServiceOf(const prometheus::MetricFamily& family,
                     const prometheus::ClientMetric& metric,
                     const MetricConversionOptions& options) {
  ServiceKey agent{options.agent_service_name, "", true};
  if (absl::StartsWith(family.name, "loupe_")) return agent;
  ServiceKey service;
  for (const auto& label : metric.label) {
    if (label.name == kServiceLabel) service.name = label.value;
    if (label.name == kNamespaceLabel) service.name_space = label.value;
  }
  return service.name.empty() ? agent : service;
}

// Labels of an instrument family become its semconv attributes (core/instrument_schema.h);
// any other label (the agent's own metrics) keeps its name.
void FillAttributes(const prometheus::ClientMetric& metric, const InstrumentSchema* family,
                    bool skip_service, KeyValues* out) {
  for (const auto& label : metric.label) {
    if (label.value.empty()) continue;  // Prometheus: an empty label is an absent label
    if (skip_service && (label.name == kServiceLabel || label.name == kNamespaceLabel)) continue;
    const LabelKey* known =
        family == nullptr ? nullptr : FindLabelByPrometheusName(*family, label.name);
    if (known == nullptr) {
      AddAttribute(Attribute{label.name, label.value, false}, out);
    } else {
      AddAttribute(Attribute{std::string(known->attribute), label.value, known->is_int}, out);
    }
  }
}

void FillHistogram(const prometheus::ClientMetric::Histogram& in,
                   otlp_metrics::HistogramDataPoint* out) {
  out->set_count(in.sample_count);
  out->set_sum(in.sample_sum);
  uint64_t previous = 0;
  bool has_inf = false;
  for (const auto& bucket : in.bucket) {
    if (std::isinf(bucket.upper_bound) && bucket.upper_bound > 0) {
      has_inf = true;
    } else {
      out->add_explicit_bounds(bucket.upper_bound);
    }
    // Cumulative counts never decrease; clamp rather than wrap if a racing scrape says otherwise.
    uint64_t cumulative = std::max(bucket.cumulative_count, previous);
    out->add_bucket_counts(cumulative - previous);
    previous = cumulative;
    if (has_inf) break;  // +Inf is the last bucket
  }
  if (!has_inf) {
    // OTLP wants one more count than bounds: the overflow bucket is whatever the bounds missed.
    out->add_bucket_counts(in.sample_count > previous ? in.sample_count - previous : 0);
  }
}

}  // namespace

OtelMetricName OtelNameFor(std::string_view prometheus_name) {
  const InstrumentSchema* family = FindInstrumentByPrometheusName(prometheus_name);
  if (family == nullptr) return {std::string(prometheus_name), ""};
  return {std::string(family->otel_name), std::string(family->unit)};
}

ConvertedMetrics ConvertToOtlp(const std::vector<prometheus::MetricFamily>& families,
                               const MetricConversionOptions& options) {
  ConvertedMetrics out;
  RequestBuilder builder(options, &out);
  for (const prometheus::MetricFamily& family : families) {
    const InstrumentSchema* instrument = FindInstrumentByPrometheusName(family.name);
    for (const prometheus::ClientMetric& metric : family.metric) {
      const ServiceKey service = ServiceOf(family, metric, options);
      otlp_metrics::Metric* otlp = builder.MetricFor(service, family);
      KeyValues* attributes = nullptr;  // of the point just added
      switch (family.type) {
        case prometheus::MetricType::Counter: {
          otlp_metrics::Sum* sum = otlp->mutable_sum();
          sum->set_aggregation_temporality(otlp_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
          sum->set_is_monotonic(true);
          otlp_metrics::NumberDataPoint* point = sum->add_data_points();
          point->set_start_time_unix_nano(options.start_unix_ns);
          point->set_time_unix_nano(options.now_unix_ns);
          point->set_as_double(metric.counter.value);
          attributes = point->mutable_attributes();
          break;
        }
        case prometheus::MetricType::Gauge:
        case prometheus::MetricType::Untyped: {
          otlp_metrics::NumberDataPoint* point = otlp->mutable_gauge()->add_data_points();
          point->set_time_unix_nano(options.now_unix_ns);
          point->set_as_double(family.type == prometheus::MetricType::Gauge
                                   ? metric.gauge.value
                                   : metric.untyped.value);
          attributes = point->mutable_attributes();
          break;
        }
        case prometheus::MetricType::Histogram: {
          otlp_metrics::Histogram* histogram = otlp->mutable_histogram();
          histogram->set_aggregation_temporality(
              otlp_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
          otlp_metrics::HistogramDataPoint* point = histogram->add_data_points();
          point->set_start_time_unix_nano(options.start_unix_ns);
          point->set_time_unix_nano(options.now_unix_ns);
          FillHistogram(metric.histogram, point);
          attributes = point->mutable_attributes();
          break;
        }
        case prometheus::MetricType::Summary: {
          otlp_metrics::SummaryDataPoint* point = otlp->mutable_summary()->add_data_points();
          point->set_start_time_unix_nano(options.start_unix_ns);
          point->set_time_unix_nano(options.now_unix_ns);
          point->set_count(metric.summary.sample_count);
          point->set_sum(metric.summary.sample_sum);
          for (const auto& q : metric.summary.quantile) {
            auto* value = point->add_quantile_values();
            value->set_quantile(q.quantile);
            value->set_value(q.value);
          }
          attributes = point->mutable_attributes();
          break;
        }
      }
      FillAttributes(metric, instrument, !service.agent, attributes);
      ++out.data_points;
    }
  }
  return out;
}

}  // namespace loupe
