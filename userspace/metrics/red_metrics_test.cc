#include "userspace/metrics/red_metrics.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "userspace/metrics/agent_metrics.h"

namespace loupe {
namespace {

using Labels = std::map<std::string, std::string>;

Labels LabelsOf(const prometheus::ClientMetric& metric) {
  Labels out;
  for (const auto& label : metric.label) out[label.name] = label.value;
  return out;
}

const prometheus::MetricFamily* FindFamily(const std::vector<prometheus::MetricFamily>& families,
                                           const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

// The series of histogram `name` whose labels are exactly `labels`.
std::optional<prometheus::ClientMetric> Series(prometheus::Registry& registry,
                                               const std::string& name, const Labels& labels) {
  const auto families = registry.Collect();
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) return std::nullopt;
  for (const auto& metric : family->metric) {
    if (LabelsOf(metric) == labels) return metric;
  }
  return std::nullopt;
}

size_t SeriesCount(prometheus::Registry& registry, const std::string& name) {
  const auto families = registry.Collect();
  const prometheus::MetricFamily* family = FindFamily(families, name);
  return family == nullptr ? 0 : family->metric.size();
}

// A counter family with no children yet is absent from Collect(): it sums to 0.
double CounterSum(prometheus::Registry& registry, const std::string& name, const Labels& subset) {
  const auto families = registry.Collect();
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) return 0;
  double sum = 0;
  for (const auto& metric : family->metric) {
    const Labels labels = LabelsOf(metric);
    bool match = true;
    for (const auto& [k, v] : subset) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) match = false;
    }
    if (match) sum += metric.counter.value;
  }
  return sum;
}

Record HttpServerRecord(std::string method, std::string status, std::string route,
                        std::string port, uint64_t duration_ns) {
  Record record;
  record.instrument = &instruments::kHttpServer;
  record.start_ns = 1'000'000'000;
  record.end_ns = record.start_ns + duration_ns;
  record.attributes = {{"http.request.method", method},
                        {"http.response.status_code", status, true},
                        {"http.route", route},
                        {"server.port", port, true}};
  return record;
}

Labels ServerLabels(const std::string& service, const std::string& method,
                    const std::string& status, const std::string& route,
                    const std::string& port, const std::string& error_type = "") {
  return {{"service_name", service},
          {"http_request_method", method},
          {"http_response_status_code", status},
          {"http_route", route},
          {"server_port", port},
          {"error_type", error_type}};
}

class RedMetricsTest : public ::testing::Test {
 protected:
  RedMetricsTest() : agent_(registry_) {}
  prometheus::Registry registry_;
  AgentMetrics agent_;
};

TEST(RedMetricsSchemaTest, BucketsAreTheOtelDefaults) {
  EXPECT_THAT(DurationBuckets(),
              ::testing::ElementsAre(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0,
                                     2.5, 5.0, 7.5, 10.0));
}

TEST_F(RedMetricsTest, ObservationsLandInTheRightBucket) {
  RedMetrics red(registry_, &agent_, 100);
  // 3 ms -> le 0.005; exactly 10 ms -> le 0.01 (upper bounds are inclusive); 80 ms -> le 0.1;
  // 12 s -> +Inf only.
  for (uint64_t ns : {3'000'000ull, 10'000'000ull, 80'000'000ull, 12'000'000'000ull}) {
    red.Observe("shop", HttpServerRecord("GET", "200", "/items/{id}", "8080", ns));
  }
  auto series = Series(registry_, "http_server_request_duration_seconds",
                       ServerLabels("shop", "GET", "200", "/items/{id}", "8080"));
  ASSERT_TRUE(series.has_value());
  const prometheus::ClientMetric::Histogram& h = series->histogram;
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_NEAR(h.sample_sum, 0.003 + 0.010 + 0.080 + 12.0, 1e-9);
  ASSERT_EQ(h.bucket.size(), DurationBuckets().size() + 1);  // + the +Inf bucket
  std::map<double, uint64_t> cumulative;
  for (const auto& b : h.bucket) cumulative[b.upper_bound] = b.cumulative_count;
  EXPECT_EQ(cumulative[0.005], 1u);
  EXPECT_EQ(cumulative[0.01], 2u);
  EXPECT_EQ(cumulative[0.075], 2u);
  EXPECT_EQ(cumulative[0.1], 3u);
  EXPECT_EQ(cumulative[10], 3u);
  EXPECT_EQ(h.bucket.back().cumulative_count, 4u);
}

ProcessResource InNamespace(std::string service, std::string name_space, std::string pod) {
  auto k = std::make_shared<KubernetesIdentity>();
  k->namespace_name = name_space;
  k->pod_name = std::move(pod);
  k->workload = {"Deployment", service};
  k->node_name = "node-1";
  ProcessResource r;
  r.service_name = std::move(service);
  r.service_namespace = std::move(name_space);
  r.host_name = "node-1";
  r.kubernetes = k;
  return r;
}

TEST_F(RedMetricsTest, ServiceNamespaceIsALabelAndPartOfTheService) {
  RedMetrics red(registry_, &agent_, /*series_budget_per_service=*/1);
  ServiceResources resources;
  red.RememberResourcesIn(&resources);
  const Record get = HttpServerRecord("GET", "200", "/", "80", 1'000);
  red.Observe(InNamespace("checkout", "prod", "checkout-1"), get);
  red.Observe(InNamespace("checkout", "prod", "checkout-2"), get);
  red.Observe(InNamespace("checkout", "staging", "checkout-3"), get);
  Labels prod = ServerLabels("checkout", "GET", "200", "/", "80");
  prod["service_namespace"] = "prod";
  Labels staging = prod;
  staging["service_namespace"] = "staging";
  auto prod_series = Series(registry_, "http_server_request_duration_seconds", prod);
  ASSERT_TRUE(prod_series.has_value());
  EXPECT_EQ(prod_series->histogram.sample_count, 2u) << "two pods, one workload-level series";
  ASSERT_TRUE(Series(registry_, "http_server_request_duration_seconds", staging).has_value())
      << "the same name in another namespace is another service, with its own budget of 1";
  EXPECT_EQ(red.services(instruments::kHttpServer), 2u);
  for (const auto& family : registry_.Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        EXPECT_NE(label.value, "checkout-1") << "no pod name in any label: " << label.name;
      }
    }
  }
  EXPECT_EQ(resources.size(), 2u);
  bool deployment = false;
  for (const Attribute& a : resources.Find("staging", "checkout")) {
    deployment |= a.key == "k8s.deployment.name" && a.value == "checkout";
  }
  EXPECT_TRUE(deployment);
}

TEST_F(RedMetricsTest, OverflowServiceHasNoNamespace) {
  RedMetrics red(registry_, &agent_, 10);
  ServiceResources resources;
  red.RememberResourcesIn(&resources);
  const Record get = HttpServerRecord("GET", "200", "/", "80", 1'000);
  for (size_t i = 0; i < kMaxServicesPerInstrument; ++i) red.Observe(absl::StrCat("svc", i), get);
  red.Observe(InNamespace("late", "prod", "late-1"), get);
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels(kOverflowValue, "GET", "200", "/", "80"))
                  .has_value());
  EXPECT_EQ(resources.size(), 0u) << "services without a resource, and the overflow service";
}

TEST_F(RedMetricsTest, NegativeDurationsCountAsZero) {
  RedMetrics red(registry_, &agent_, 100);
  Record record = HttpServerRecord("GET", "200", "/", "80", 0);
  record.end_ns = record.start_ns - 5;
  red.Observe("svc", record);
  auto series = Series(registry_, "http_server_request_duration_seconds",
                       ServerLabels("svc", "GET", "200", "/", "80"));
  ASSERT_TRUE(series.has_value());
  EXPECT_EQ(series->histogram.sample_count, 1u);
  EXPECT_EQ(series->histogram.sample_sum, 0.0);
}

TEST_F(RedMetricsTest, EachInstrumentHasItsOwnFamilyAndLabels) {
  RedMetrics red(registry_, &agent_, 100);
  Record client;
  client.instrument = &instruments::kHttpClient;
  client.end_ns = 2'000'000;
  client.attributes = {{"http.request.method", "POST"},
                        {"server.address", "api.example"},
                        {"server.port", "443", true},
                        {"http.route", "/must/not/appear"}};  // not in the client schema
  red.Observe("frontend", client);
  auto series = Series(registry_, "http_client_request_duration_seconds",
                       {{"service_name", "frontend"},
                        {"http_request_method", "POST"},
                        {"http_response_status_code", ""},  // missing keys export as ""
                        {"server_address", "api.example"},
                        {"server_port", "443"},
                        {"error_type", ""}});
  ASSERT_TRUE(series.has_value());
  EXPECT_EQ(series->histogram.sample_count, 1u);

  Record db;
  db.instrument = &instruments::kDbClient;
  db.end_ns = 1'000'000;
  db.attributes = {{"db.system.name", "postgresql"}, {"db.operation.name", "SELECT"},
                    {"db.collection.name", "orders"}, {"server.address", "127.0.0.1"},
                    {"server.port", "5432", true}};
  red.Observe("frontend", db);
  auto db_series = Series(registry_, "db_client_operation_duration_seconds",
                          {{"service_name", "frontend"},
                           {"db_system_name", "postgresql"},
                           {"db_operation_name", "SELECT"},
                           {"db_collection_name", "orders"},
                           {"error_type", ""},
                           {"server_address", "127.0.0.1"},
                           {"server_port", "5432"}});
  ASSERT_TRUE(db_series.has_value());
  EXPECT_EQ(SeriesCount(registry_, "http_server_request_duration_seconds"), 0u);
}

TEST_F(RedMetricsTest, SeriesBudgetOverflowsIntoOneSeries) {
  constexpr size_t kBudget = 3;
  RedMetrics red(registry_, &agent_, kBudget);
  for (int i = 0; i < 10; ++i) {
    red.Observe("noisy", HttpServerRecord("GET", "200", absl::StrCat("/r", i), "80", 1'000'000));
  }
  // Repeating a label set within the budget does not use more budget.
  red.Observe("noisy", HttpServerRecord("GET", "200", "/r0", "80", 1'000'000));

  EXPECT_EQ(SeriesCount(registry_, "http_server_request_duration_seconds"), kBudget + 1);
  for (int i = 0; i < 3; ++i) {
    auto s = Series(registry_, "http_server_request_duration_seconds",
                    ServerLabels("noisy", "GET", "200", absl::StrCat("/r", i), "80"));
    ASSERT_TRUE(s.has_value()) << i;
    EXPECT_EQ(s->histogram.sample_count, i == 0 ? 2u : 1u);
  }
  auto overflow = Series(registry_, "http_server_request_duration_seconds",
                         ServerLabels("noisy", "_overflow_", "_overflow_", "_overflow_",
                                      "_overflow_", "_overflow_"));
  ASSERT_TRUE(overflow.has_value());
  EXPECT_EQ(overflow->histogram.sample_count, 7u);
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "noisy"}, {"instrument", "http_server"}}),
            7);

  // Other services have their own budget.
  red.Observe("quiet", HttpServerRecord("GET", "200", "/r9", "80", 1'000'000));
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("quiet", "GET", "200", "/r9", "80"))
                  .has_value());
  // And so do other instruments of the same service.
  Record client;
  client.instrument = &instruments::kHttpClient;
  client.attributes = {{"http.request.method", "GET"}};
  red.Observe("noisy", client);
  EXPECT_EQ(SeriesCount(registry_, "http_client_request_duration_seconds"), 1u);
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total", {}), 7);
}

void FillServiceCap(RedMetrics& red) {
  for (size_t i = 0; i < kMaxServicesPerInstrument; ++i) {
    red.Observe(absl::StrCat("svc", i), HttpServerRecord("GET", "200", "/", "80", 1'000));
  }
}

TEST_F(RedMetricsTest, ServiceCapSendsNewServicesToTheOverflowService) {
  RedMetrics red(registry_, &agent_, 5);
  FillServiceCap(red);
  EXPECT_EQ(SeriesCount(registry_, "http_server_request_duration_seconds"),
            kMaxServicesPerInstrument);
  red.Observe("late-a", HttpServerRecord("GET", "200", "/", "80", 1'000));
  red.Observe("late-a", HttpServerRecord("GET", "200", "/", "80", 1'000));
  red.Observe("late-a", HttpServerRecord("POST", "201", "/", "80", 1'000));
  auto capped = Series(registry_, "http_server_request_duration_seconds",
                       ServerLabels("_overflow_", "GET", "200", "/", "80"));
  ASSERT_TRUE(capped.has_value());
  EXPECT_EQ(capped->histogram.sample_count, 2u);
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("_overflow_", "POST", "201", "/", "80"))
                  .has_value());
  EXPECT_FALSE(Series(registry_, "http_server_request_duration_seconds",
                      ServerLabels("late-a", "GET", "200", "/", "80"))
                   .has_value());
  // A known service still gets new series after the cap.
  red.Observe("svc0", HttpServerRecord("PUT", "204", "/", "80", 1'000));
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("svc0", "PUT", "204", "/", "80"))
                  .has_value());
  EXPECT_EQ(SeriesCount(registry_, "http_server_request_duration_seconds"),
            kMaxServicesPerInstrument + 3 /* _overflow_ GET and POST, svc0 PUT */);
  // Every observation of a service past the cap is an overflow, counted under "_overflow_".
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "_overflow_"}, {"instrument", "http_server"}}),
            3);
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total", {}), 3)
      << "no service exhausted its own series budget";
}

// Finding 9: 602 observations went to the _overflow_ service and the counter stayed 0.
TEST_F(RedMetricsTest, EveryObservationInTheOverflowServiceIsCounted) {
  RedMetrics red(registry_, &agent_, 500);
  FillServiceCap(red);
  for (int i = 0; i < 602; ++i) {
    red.Observe(absl::StrCat("late-", i % 7),
                HttpServerRecord("GET", "200", absl::StrCat("/", i % 3), "80", 1'000));
  }
  double observed = 0;
  for (int route = 0; route < 3; ++route) {
    auto s = Series(registry_, "http_server_request_duration_seconds",
                    ServerLabels("_overflow_", "GET", "200", absl::StrCat("/", route), "80"));
    ASSERT_TRUE(s.has_value()) << route;
    observed += static_cast<double>(s->histogram.sample_count);
  }
  EXPECT_EQ(observed, 602);
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "_overflow_"}, {"instrument", "http_server"}}),
            602);
}

// An overflow series is never handed out for the kernel to count into (--metrics_only): the
// kernel's counts would reach it without passing the overflow counter.
TEST_F(RedMetricsTest, OverflowSeriesAreNotReturned) {
  RedMetrics red(registry_, &agent_, 1);
  EXPECT_NE(red.Observe("svc", HttpServerRecord("GET", "200", "/a", "80", 1'000)), nullptr);
  EXPECT_NE(red.Observe("svc", HttpServerRecord("GET", "200", "/a", "80", 1'000)), nullptr);
  EXPECT_EQ(red.Observe("svc", HttpServerRecord("GET", "200", "/b", "80", 1'000)), nullptr);
  EXPECT_EQ(red.Observe("svc", HttpServerRecord("GET", "200", "/b", "80", 1'000)), nullptr);
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "svc"}, {"instrument", "http_server"}}),
            2);
  RedMetrics capped(registry_, &agent_, 500);
  FillServiceCap(capped);
  EXPECT_EQ(capped.Observe("late", HttpServerRecord("GET", "200", "/", "80", 1'000)), nullptr);
}

TEST_F(RedMetricsTest, OverflowServiceBudgetCountsDistinctSeries) {
  // Regression: one _overflow_ label set reached from several late services counts once.
  RedMetrics red(registry_, &agent_, 2);
  FillServiceCap(red);
  red.Observe("late-a", HttpServerRecord("GET", "200", "/", "80", 1'000));
  red.Observe("late-b", HttpServerRecord("GET", "200", "/", "80", 1'000));  // same series
  red.Observe("late-c", HttpServerRecord("POST", "201", "/", "80", 1'000));  // 2nd of budget 2
  auto get = Series(registry_, "http_server_request_duration_seconds",
                    ServerLabels("_overflow_", "GET", "200", "/", "80"));
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->histogram.sample_count, 2u);
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("_overflow_", "POST", "201", "/", "80"))
                  .has_value());
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total", {}), 3)
      << "each observation of a late service counts";

  // The third distinct label set overflows the _overflow_ service's own budget.
  red.Observe("late-d", HttpServerRecord("DELETE", "200", "/", "80", 1'000));
  EXPECT_TRUE(Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("_overflow_", "_overflow_", "_overflow_", "_overflow_",
                                  "_overflow_", "_overflow_"))
                  .has_value());
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "_overflow_"}, {"instrument", "http_server"}}),
            4);
}

TEST_F(RedMetricsTest, GlobalCapBoundsTheSeriesOfAllServicesTogether) {
  RedMetrics red(registry_, &agent_, /*series_budget_per_service=*/500, /*max_series=*/10);
  // Four services of 4 routes each: 16 label sets, more than the cap, none over its budget.
  for (int service = 0; service < 4; ++service) {
    for (int route = 0; route < 4; ++route) {
      red.Observe(absl::StrCat("svc", service),
                  HttpServerRecord("GET", "200", absl::StrCat("/r", route), "80", 1'000));
    }
  }
  EXPECT_EQ(red.total_series(), 11u) << "10 label sets, then the one overflow series";
  EXPECT_EQ(red.series(instruments::kHttpServer), 11u);
  EXPECT_EQ(SeriesCount(registry_, "http_server_request_duration_seconds"), 11u);
  auto overflow = Series(registry_, "http_server_request_duration_seconds",
                         ServerLabels("_overflow_", "_overflow_", "_overflow_", "_overflow_",
                                      "_overflow_", "_overflow_"));
  ASSERT_TRUE(overflow.has_value());
  EXPECT_EQ(overflow->histogram.sample_count, 6u) << "16 observations, 10 in their own series";
  // A label set that already has its series keeps it past the cap.
  red.Observe("svc0", HttpServerRecord("GET", "200", "/r0", "80", 1'000));
  auto kept = Series(registry_, "http_server_request_duration_seconds",
                     ServerLabels("svc0", "GET", "200", "/r0", "80"));
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->histogram.sample_count, 2u);
  // Other instruments share the cap: their new label sets go to their own overflow series.
  Record db;
  db.instrument = &instruments::kDbClient;
  db.attributes = {{"db.system.name", "redis"}, {"db.operation.name", "GET"}};
  red.Observe("svc0", db);
  EXPECT_EQ(red.series(instruments::kDbClient), 1u);
  EXPECT_EQ(red.services(instruments::kDbClient), 1u) << "the _overflow_ service";
  EXPECT_EQ(red.total_series(), 12u);
  EXPECT_EQ(SeriesCount(registry_, "db_client_operation_duration_seconds"), 1u);
}

// Adding a family is one schema entry: a family this test defines (never registered anywhere
// else) is counted end to end, with its own name, help, buckets, labels, budget and the agent's
// own metrics under its short name.
constexpr double kTestBuckets[] = {0.001, 0.1};
constexpr LabelKey kTestLabels[] = {{"messaging.system", "messaging_system"},
                                    {"messaging.operation.name", "messaging_operation_name"},
                                    {"error.type", "error_type"}};
const InstrumentSchema kTestMessaging{
    .otel_name = "messaging.client.operation.duration",
    .prometheus_name = "messaging_client_operation_duration_seconds",
    .help = "test-only family",
    .unit = "s",
    .buckets = kTestBuckets,
    .span_kind = SpanKind::kClient,
    .short_name = "messaging_client",
    .labels = kTestLabels,
};

TEST_F(RedMetricsTest, ATestOnlyFamilyWorksEndToEnd) {
  std::vector<const InstrumentSchema*> families(AllInstruments().begin(), AllInstruments().end());
  families.push_back(&kTestMessaging);
  RedMetrics red(registry_, &agent_, /*series_budget_per_service=*/1, SIZE_MAX, families);
  Record record;
  record.instrument = &kTestMessaging;
  record.end_ns = 50'000'000;  // 50 ms
  record.attributes = {{"messaging.system", "kafka"},
                       {"messaging.operation.name", "send"},
                       {"server.port", "9092", true}};  // not a label of this family
  record.is_error = true;
  record.error_type = "timeout";
  EXPECT_NE(red.Observe("producer", record), nullptr);
  auto series = Series(registry_, "messaging_client_operation_duration_seconds",
                       {{"service_name", "producer"},
                        {"messaging_system", "kafka"},
                        {"messaging_operation_name", "send"},
                        {"error_type", "timeout"}});
  ASSERT_TRUE(series.has_value());
  EXPECT_EQ(series->histogram.sample_count, 1u);
  ASSERT_EQ(series->histogram.bucket.size(), 3u);  // 0.001, 0.1, +Inf
  EXPECT_EQ(series->histogram.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(red.series(kTestMessaging), 1u);
  EXPECT_EQ(red.services(kTestMessaging), 1u);
  EXPECT_EQ(red.series(instruments::kHttpServer), 0u);

  // Past the budget of one series, the family's own overflow series and counter.
  record.attributes[1].value = "receive";
  EXPECT_EQ(red.Observe("producer", record), nullptr);
  EXPECT_TRUE(Series(registry_, "messaging_client_operation_duration_seconds",
                     {{"service_name", "producer"},
                      {"messaging_system", "_overflow_"},
                      {"messaging_operation_name", "_overflow_"},
                      {"error_type", "_overflow_"}})
                  .has_value());
  EXPECT_EQ(CounterSum(registry_, "loupe_metric_series_overflow_total",
                       {{"service_name", "producer"}, {"instrument", "messaging_client"}}),
            1);
}

TEST_F(RedMetricsTest, RecordsOfAnUnregisteredFamilyAreNotCounted) {
  RedMetrics red(registry_, &agent_, 100);
  Record record;
  record.instrument = &kTestMessaging;
  EXPECT_EQ(red.Observe("producer", record), nullptr);
  EXPECT_EQ(red.total_series(), 0u);
  EXPECT_EQ(red.series(kTestMessaging), 0u);
}

}  // namespace
}  // namespace loupe
