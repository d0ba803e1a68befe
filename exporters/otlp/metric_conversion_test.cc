#include "exporters/otlp/metric_conversion.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace loupe {
namespace {

namespace otlp_metrics = opentelemetry::proto::metrics::v1;
using KeyValues = google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>;
using ::testing::ElementsAre;

const opentelemetry::proto::common::v1::AnyValue* Find(const KeyValues& kvs,
                                                        std::string_view key) {
  for (const auto& kv : kvs) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

const otlp_metrics::ResourceMetrics* ResourceFor(const ConvertedMetrics& converted,
                                                 std::string_view service) {
  for (const auto& rm : converted.request.resource_metrics()) {
    const auto* name = Find(rm.resource().attributes(), "service.name");
    if (name != nullptr && name->string_value() == service) return &rm;
  }
  return nullptr;
}

const otlp_metrics::Metric* MetricNamed(const otlp_metrics::ResourceMetrics& rm,
                                        std::string_view name) {
  for (const auto& sm : rm.scope_metrics()) {
    for (const auto& metric : sm.metrics()) {
      if (metric.name() == name) return &metric;
    }
  }
  return nullptr;
}

MetricConversionOptions Options() {
  MetricConversionOptions options;
  options.start_unix_ns = 1'000;
  options.now_unix_ns = 9'000;
  options.resource_attributes = {{"deployment.environment", "prod", false},
                                 {"service.name", "must-not-duplicate", false}};
  return options;
}

TEST(MetricConversionTest, NamesAndAttributes) {
  EXPECT_EQ(OtelNameFor("http_server_request_duration_seconds").name,
            "http.server.request.duration");
  EXPECT_EQ(OtelNameFor("http_server_request_duration_seconds").unit, "s");
  EXPECT_EQ(OtelNameFor("http_client_request_duration_seconds").name,
            "http.client.request.duration");
  EXPECT_EQ(OtelNameFor("db_client_operation_duration_seconds").name,
            "db.client.operation.duration");
  EXPECT_EQ(OtelNameFor("loupe_records_total").name, "loupe_records_total");
  EXPECT_EQ(OtelNameFor("loupe_records_total").unit, "");
}

// A family's labels become the semconv attributes its schema names (core/instrument_schema.h);
// labels of other families keep their Prometheus names.
TEST(MetricConversionTest, LabelsBecomeTheSchemaAttributes) {
  prometheus::Registry registry;
  prometheus::BuildHistogram()
      .Name("db_client_operation_duration_seconds")
      .Help("db")
      .Register(registry)
      .Add({{"service_name", "shop"},
            {"db_system_name", "postgresql"},
            {"db_operation_name", "SELECT"},
            {"server_port", "5432"},
            {"error_type", ""}},
           prometheus::Histogram::BucketBoundaries{1})
      .Observe(0.5);
  prometheus::BuildCounter()
      .Name("loupe_exports_total")
      .Help("not an instrument family")
      .Register(registry)
      .Add({{"reason", "x"}, {"server_port", "1"}})
      .Increment();
  ConvertedMetrics converted = ConvertToOtlp(registry.Collect(), Options());
  const auto& point =
      MetricNamed(*ResourceFor(converted, "shop"), "db.client.operation.duration")
          ->histogram()
          .data_points(0);
  EXPECT_EQ(Find(point.attributes(), "db.system.name")->string_value(), "postgresql");
  EXPECT_EQ(Find(point.attributes(), "db.operation.name")->string_value(), "SELECT");
  EXPECT_EQ(Find(point.attributes(), "server.port")->int_value(), 5432);
  EXPECT_EQ(Find(point.attributes(), "error.type"), nullptr) << "an empty label is absent";
  EXPECT_EQ(point.attributes_size(), 3);
  const auto& counter =
      MetricNamed(*ResourceFor(converted, "loupe"), "loupe_exports_total")->sum().data_points(0);
  EXPECT_EQ(Find(counter.attributes(), "reason")->string_value(), "x");
  EXPECT_EQ(Find(counter.attributes(), "server_port")->string_value(), "1");
}

TEST(MetricConversionTest, HistogramFromRegistryPerServiceResource) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildHistogram()
                     .Name("http_server_request_duration_seconds")
                     .Help("Duration of HTTP server requests")
                     .Register(registry);
  auto& checkout = family.Add({{"service_name", "checkout"},
                               {"http_request_method", "GET"},
                               {"http_response_status_code", "200"},
                               {"http_route", "/users/{id}"}},
                              prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1});
  family.Add({{"service_name", "cart"}, {"http_request_method", "POST"}},
             prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1})
      .Observe(0.2);
  // Buckets (le): 0.1 → 2, 0.5 → 1, 1 → 0, +Inf → 2.
  for (double v : {0.05, 0.1, 0.3, 2.0, 7.0}) checkout.Observe(v);

  ConvertedMetrics converted = ConvertToOtlp(registry.Collect(), Options());
  EXPECT_EQ(converted.data_points, 2u);
  EXPECT_EQ(converted.request.resource_metrics_size(), 2);

  const auto* rm = ResourceFor(converted, "checkout");
  ASSERT_NE(rm, nullptr);
  EXPECT_EQ(Find(rm->resource().attributes(), "deployment.environment")->string_value(), "prod");
  int service_names = 0;
  for (const auto& kv : rm->resource().attributes()) service_names += kv.key() == "service.name";
  EXPECT_EQ(service_names, 1);
  ASSERT_EQ(rm->scope_metrics_size(), 1);
  EXPECT_EQ(rm->scope_metrics(0).scope().name(), "loupe");

  const auto* metric = MetricNamed(*rm, "http.server.request.duration");
  ASSERT_NE(metric, nullptr);
  EXPECT_EQ(metric->unit(), "s");
  EXPECT_EQ(metric->description(), "Duration of HTTP server requests");
  ASSERT_TRUE(metric->has_histogram());
  EXPECT_EQ(metric->histogram().aggregation_temporality(),
            otlp_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(metric->histogram().data_points_size(), 1);
  const auto& point = metric->histogram().data_points(0);
  EXPECT_THAT(point.explicit_bounds(), ElementsAre(0.1, 0.5, 1.0));
  EXPECT_THAT(point.bucket_counts(), ElementsAre(2u, 1u, 0u, 2u));
  EXPECT_EQ(point.count(), 5u);
  EXPECT_DOUBLE_EQ(point.sum(), 9.45);
  EXPECT_EQ(point.start_time_unix_nano(), 1'000u);
  EXPECT_EQ(point.time_unix_nano(), 9'000u);
  EXPECT_EQ(Find(point.attributes(), "service_name"), nullptr);
  EXPECT_EQ(Find(point.attributes(), "http.request.method")->string_value(), "GET");
  EXPECT_EQ(Find(point.attributes(), "http.response.status_code")->int_value(), 200);
  EXPECT_EQ(Find(point.attributes(), "http.route")->string_value(), "/users/{id}");

  const auto* cart = ResourceFor(converted, "cart");
  ASSERT_NE(cart, nullptr);
  const auto* cart_metric = MetricNamed(*cart, "http.server.request.duration");
  ASSERT_NE(cart_metric, nullptr);
  EXPECT_THAT(cart_metric->histogram().data_points(0).bucket_counts(),
              ElementsAre(0u, 1u, 0u, 0u));
}

// Issue 15: the metrics of a service carry the resource its spans carry, at workload level.
TEST(MetricConversionTest, ServiceSeriesCarryTheWorkloadResourceOfTheirSpans) {
  auto identity = std::make_shared<KubernetesIdentity>();
  identity->namespace_name = "shop";
  identity->pod_name = "checkout-7d9f8b6c5-x2x4k";
  identity->pod_uid = "0f1c5a8e";
  identity->node_name = "node-1";
  identity->workload = {"Deployment", "checkout"};
  ProcessResource pod;
  pod.service_name = "checkout";
  pod.service_namespace = "shop";
  pod.host_name = "node-1";
  pod.pid = 7;
  pod.container_id = std::string(64, 'c');
  pod.kubernetes = identity;
  ServiceResources services;
  services.Remember(pod);

  prometheus::Registry registry;
  auto& family = prometheus::BuildHistogram()
                     .Name("http_server_request_duration_seconds")
                     .Help("h")
                     .Register(registry);
  family.Add({{"service_name", "checkout"}, {"service_namespace", "shop"},
              {"http_request_method", "GET"}},
             prometheus::Histogram::BucketBoundaries{0.1})
      .Observe(0.05);
  family.Add({{"service_name", "checkout"}, {"service_namespace", "staging"},
              {"http_request_method", "GET"}},
             prometheus::Histogram::BucketBoundaries{0.1})
      .Observe(0.05);
  MetricConversionOptions options = Options();
  options.services = &services;
  ConvertedMetrics converted = ConvertToOtlp(registry.Collect(), options);
  ASSERT_EQ(converted.request.resource_metrics_size(), 2) << "one resource per namespace";
  auto in_namespace = [&](std::string_view name_space) {
    for (const auto& rm : converted.request.resource_metrics()) {
      const auto* value = Find(rm.resource().attributes(), "service.namespace");
      if (value != nullptr && value->string_value() == name_space) return &rm;
    }
    return static_cast<const otlp_metrics::ResourceMetrics*>(nullptr);
  };
  ASSERT_NE(in_namespace("shop"), nullptr);
  ASSERT_NE(in_namespace("staging"), nullptr);

  const auto& shop = in_namespace("shop")->resource().attributes();
  EXPECT_EQ(Find(shop, "service.name")->string_value(), "checkout");
  EXPECT_EQ(Find(shop, "service.namespace")->string_value(), "shop");
  EXPECT_EQ(Find(shop, "k8s.namespace.name")->string_value(), "shop");
  EXPECT_EQ(Find(shop, "k8s.deployment.name")->string_value(), "checkout");
  EXPECT_EQ(Find(shop, "k8s.node.name")->string_value(), "node-1");
  EXPECT_EQ(Find(shop, "host.name")->string_value(), "node-1");
  EXPECT_EQ(Find(shop, "telemetry.sdk.name")->string_value(), "loupe");
  EXPECT_EQ(Find(shop, "deployment.environment")->string_value(), "prod");
  EXPECT_EQ(Find(shop, "k8s.pod.name"), nullptr) << "the series sum over the workload's pods";
  EXPECT_EQ(Find(shop, "container.id"), nullptr);
  EXPECT_EQ(Find(shop, "process.pid"), nullptr);
  const auto* metric = MetricNamed(*in_namespace("shop"), "http.server.request.duration");
  ASSERT_NE(metric, nullptr);
  const auto& point = metric->histogram().data_points(0).attributes();
  EXPECT_EQ(Find(point, "service_namespace"), nullptr) << "a resource attribute, not a point's";
  EXPECT_EQ(Find(point, "service_name"), nullptr);

  // A service the directory does not know: what its labels say.
  const auto& staging = in_namespace("staging")->resource().attributes();
  EXPECT_EQ(Find(staging, "service.namespace")->string_value(), "staging");
  EXPECT_EQ(Find(staging, "k8s.deployment.name"), nullptr);
}

TEST(MetricConversionTest, HistogramWithoutInfBucketGetsOverflowBucket) {
  prometheus::MetricFamily family;
  family.name = "custom_seconds";
  family.type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric metric;
  metric.histogram.sample_count = 10;
  metric.histogram.sample_sum = 4.0;
  metric.histogram.bucket = {{3, 0.25}, {7, 0.5}};
  family.metric.push_back(metric);

  ConvertedMetrics converted = ConvertToOtlp({family}, Options());
  const auto* rm = ResourceFor(converted, "loupe");
  ASSERT_NE(rm, nullptr);
  const auto& point = MetricNamed(*rm, "custom_seconds")->histogram().data_points(0);
  EXPECT_THAT(point.explicit_bounds(), ElementsAre(0.25, 0.5));
  EXPECT_THAT(point.bucket_counts(), ElementsAre(3u, 4u, 3u));
}

TEST(MetricConversionTest, DecreasingCumulativeCountsDoNotWrap) {
  prometheus::MetricFamily family;
  family.name = "racy_seconds";
  family.type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric metric;
  metric.histogram.sample_count = 5;
  metric.histogram.bucket = {{4, 1.0}, {3, 2.0}, {5, std::numeric_limits<double>::infinity()}};
  family.metric.push_back(metric);
  ConvertedMetrics converted = ConvertToOtlp({family}, Options());
  const auto& point =
      MetricNamed(*ResourceFor(converted, "loupe"), "racy_seconds")->histogram().data_points(0);
  EXPECT_THAT(point.explicit_bounds(), ElementsAre(1.0, 2.0));
  EXPECT_THAT(point.bucket_counts(), ElementsAre(4u, 0u, 1u));
}

TEST(MetricConversionTest, CountersGaugesAndAgentMetrics) {
  prometheus::Registry registry;
  prometheus::BuildCounter()
      .Name("loupe_spans_dropped_total")
      .Help("dropped")
      .Register(registry)
      .Add({{"reason", "queue_full"}})
      .Increment(3);
  prometheus::BuildCounter()
      .Name("loupe_metric_series_overflow_total")
      .Help("overflow")
      .Register(registry)
      .Add({{"service_name", "checkout"}, {"instrument", "http_server"}})
      .Increment();
  prometheus::BuildGauge()
      .Name("loupe_connections_tracked")
      .Help("tracked")
      .Register(registry)
      .Add({})
      .Set(17);
  prometheus::BuildGauge()
      .Name("orphan_gauge")
      .Help("no service label")
      .Register(registry)
      .Add({{"empty_label", ""}})
      .Set(-2.5);

  ConvertedMetrics converted = ConvertToOtlp(registry.Collect(), Options());
  EXPECT_EQ(converted.data_points, 4u);
  ASSERT_EQ(converted.request.resource_metrics_size(), 1);
  const auto* rm = ResourceFor(converted, "loupe");
  ASSERT_NE(rm, nullptr);

  const auto* dropped = MetricNamed(*rm, "loupe_spans_dropped_total");
  ASSERT_NE(dropped, nullptr);
  ASSERT_TRUE(dropped->has_sum());
  EXPECT_TRUE(dropped->sum().is_monotonic());
  EXPECT_EQ(dropped->sum().aggregation_temporality(),
            otlp_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  EXPECT_DOUBLE_EQ(dropped->sum().data_points(0).as_double(), 3);
  EXPECT_EQ(dropped->sum().data_points(0).start_time_unix_nano(), 1'000u);
  EXPECT_EQ(Find(dropped->sum().data_points(0).attributes(), "reason")->string_value(),
            "queue_full");

  // The agent's own series stay on the agent's resource, service label and all.
  const auto* overflow = MetricNamed(*rm, "loupe_metric_series_overflow_total");
  ASSERT_NE(overflow, nullptr);
  EXPECT_EQ(Find(overflow->sum().data_points(0).attributes(), "service_name")->string_value(),
            "checkout");

  const auto* tracked = MetricNamed(*rm, "loupe_connections_tracked");
  ASSERT_NE(tracked, nullptr);
  ASSERT_TRUE(tracked->has_gauge());
  EXPECT_DOUBLE_EQ(tracked->gauge().data_points(0).as_double(), 17);
  EXPECT_EQ(tracked->gauge().data_points(0).time_unix_nano(), 9'000u);

  const auto* orphan = MetricNamed(*rm, "orphan_gauge");
  ASSERT_NE(orphan, nullptr);
  EXPECT_DOUBLE_EQ(orphan->gauge().data_points(0).as_double(), -2.5);
  EXPECT_EQ(orphan->gauge().data_points(0).attributes_size(), 0);
}

}  // namespace
}  // namespace loupe
