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

struct KnownMetric {
  std::string_view prometheus;
  std::string_view otel;
  std::string_view unit;
};
constexpr KnownMetric kKnownMetrics[] = {
    {"http_server_request_duration_seconds", "http.server.request.duration", "s"},
    {"http_client_request_duration_seconds", "http.client.request.duration", "s"},
    {"db_client_operation_duration_seconds", "db.client.operation.duration", "s"},
};

struct KnownLabel {
  std::string_view prometheus;
  std::string_view otel;
  bool is_int;  // semconv types these as int
};
constexpr KnownLabel kKnownLabels[] = {
    {"http_request_method", "http.request.method", false},
    {"http_response_status_code", "http.response.status_code", true},
    {"http_route", "http.route", false},
    {"server_address", "server.address", false},
    {"server_port", "server.port", true},
    {"db_system_name", "db.system.name", false},
    {"db_operation_name", "db.operation.name", false},
    {"db_collection_name", "db.collection.name", false},
    {"error_type", "error.type", false},
    {"url_scheme", "url.scheme", false},
    {"network_protocol_name", "network.protocol.name", false},
    {"network_protocol_version", "network.protocol.version", false},
};

const KnownLabel* FindLabel(std::string_view name) {
  for (const KnownLabel& label : kKnownLabels) {
    if (label.prometheus == name) return &label;
  }
  return nullptr;
}

constexpr std::string_view kServiceLabel = "service_name";

// Builds the OTLP request resource by resource, keeping one Metric per family per resource.
class RequestBuilder {
 public:
  RequestBuilder(const MetricConversionOptions& options, ConvertedMetrics* out)
      : options_(options), out_(out) {}

  otlp_metrics::ScopeMetrics* ScopeFor(const std::string& service) {
    auto [it, inserted] = scopes_.try_emplace(service, nullptr);
    if (inserted) {
      otlp_metrics::ResourceMetrics* rm = out_->request.add_resource_metrics();
      KeyValues* attrs = rm->mutable_resource()->mutable_attributes();
      ProcessResource resource;
      resource.service_name = service;
      FillResource(&resource, rm->mutable_resource());
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

  otlp_metrics::Metric* MetricFor(const std::string& service,
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
  std::map<std::string, otlp_metrics::ScopeMetrics*> scopes_;
  std::map<std::pair<std::string, std::string>, otlp_metrics::Metric*> metrics_;
};

// Which resource a series belongs to, and its attributes (without the service label when that
// label chose the resource).
std::string ServiceOf(const prometheus::MetricFamily& family,
                      const prometheus::ClientMetric& metric,
                      const MetricConversionOptions& options, bool* label_used) {
  *label_used = false;
  if (absl::StartsWith(family.name, "loupe_")) return options.agent_service_name;
  for (const auto& label : metric.label) {
    if (label.name == kServiceLabel && !label.value.empty()) {
      *label_used = true;
      return label.value;
    }
  }
  return options.agent_service_name;
}

void FillAttributes(const prometheus::ClientMetric& metric, bool skip_service, KeyValues* out) {
  for (const auto& label : metric.label) {
    if (label.value.empty()) continue;  // Prometheus: an empty label is an absent label
    if (skip_service && label.name == kServiceLabel) continue;
    const KnownLabel* known = FindLabel(label.name);
    if (known == nullptr) {
      AddAttribute(Attribute{label.name, label.value, false}, out);
    } else {
      AddAttribute(Attribute{std::string(known->otel), label.value, known->is_int}, out);
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
  for (const KnownMetric& known : kKnownMetrics) {
    if (known.prometheus == prometheus_name) {
      return {std::string(known.otel), std::string(known.unit)};
    }
  }
  return {std::string(prometheus_name), ""};
}

std::string_view OtelAttributeFor(std::string_view label_name) {
  const KnownLabel* known = FindLabel(label_name);
  return known == nullptr ? label_name : known->otel;
}

ConvertedMetrics ConvertToOtlp(const std::vector<prometheus::MetricFamily>& families,
                               const MetricConversionOptions& options) {
  ConvertedMetrics out;
  RequestBuilder builder(options, &out);
  for (const prometheus::MetricFamily& family : families) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool label_used = false;
      std::string service = ServiceOf(family, metric, options, &label_used);
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
      FillAttributes(metric, label_used, attributes);
      ++out.data_points;
    }
  }
  return out;
}

}  // namespace loupe
