#include "exporters/otlp/otlp_metric_exporter.h"

#include "exporters/otlp/test_receiver/otlp_test_receiver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace loupe {
namespace {

using ::testing::IsEmpty;

// The sum of the series of `name` with a label of value `label_value` (all series when empty),
// and, when given, a second one of value `other_value`.
double CounterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& label_value = "", const std::string& other_value = "") {
  bool found = false;
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = label_value.empty();
      bool other = other_value.empty();
      for (const auto& label : metric.label) {
        match |= label.value == label_value;
        other |= label.value == other_value;
      }
      if (!match || !other) continue;
      found = true;
      sum += metric.counter.value;
    }
  }
  if (!found) ADD_FAILURE() << "no metric " << name;
  return sum;
}

class OtlpMetricExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = OtlpTestReceiver::Start();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    config_.metrics_endpoint = receiver_->endpoint() + "/v1/metrics";
    config_.resource_attributes = {{"deployment.environment", "test", false}};
    options_.clock = &clock_;
    options_.retry_wait = [](absl::Duration) { return true; };
    options_.start_time = absl::FromUnixSeconds(1000);
    auto& family = prometheus::BuildHistogram()
                       .Name("db_client_operation_duration_seconds")
                       .Help("DB calls")
                       .Register(source_);
    family
        .Add({{"service_name", "orders"}, {"db_system_name", "postgresql"}},
             prometheus::Histogram::BucketBoundaries{0.01, 0.1})
        .Observe(0.05);
  }

  std::unique_ptr<OtlpTestReceiver> receiver_;
  OtlpConfig config_;
  // Unix time 1015 s (time_unix_nano of every point).
  FakeClock clock_{/*monotonic_ns=*/15'000'000'000, /*unix_offset_ns=*/1'000'000'000'000};
  OtlpMetricExporterOptions options_;
  prometheus::Registry source_;
  prometheus::Registry self_;
};

TEST_F(OtlpMetricExporterTest, ExportOnceSendsConvertedMetrics) {
  auto exporter = OtlpMetricExporter::Create(config_, source_, self_, options_);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  ASSERT_TRUE((*exporter)->ExportOnce().ok());
  auto requests = receiver_->MetricRequests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_EQ(requests[0].resource_metrics_size(), 1);
  const auto& rm = requests[0].resource_metrics(0);
  const auto& metric = rm.scope_metrics(0).metrics(0);
  EXPECT_EQ(metric.name(), "db.client.operation.duration");
  const auto& point = metric.histogram().data_points(0);
  EXPECT_EQ(point.start_time_unix_nano(), 1000'000'000'000ull);
  EXPECT_EQ(point.time_unix_nano(), 1015'000'000'000ull);
  EXPECT_THAT(point.bucket_counts(), ::testing::ElementsAre(0u, 1u, 0u));
  EXPECT_THAT(receiver_->Errors(), IsEmpty());
  EXPECT_EQ(CounterValue(self_, "loupe_metric_points_exported_total"), 1);
}

TEST_F(OtlpMetricExporterTest, FailedExportIsCounted) {
  receiver_->FailNext(503);
  auto exporter = OtlpMetricExporter::Create(config_, source_, self_, options_);
  ASSERT_TRUE(exporter.ok());
  EXPECT_FALSE((*exporter)->ExportOnce().ok());
  EXPECT_EQ(receiver_->RequestCount(), 3);  // default max_attempts for metrics
  EXPECT_EQ(CounterValue(self_, "loupe_metric_points_dropped_total", "export_failed"), 1);
  EXPECT_EQ(CounterValue(self_, "loupe_otlp_export_failures_total", "metrics"), 3);
  EXPECT_EQ(CounterValue(self_, "loupe_otlp_export_failures_total", "metrics", "http_5xx"), 3);
  receiver_->ClearFailures();
  (*exporter)->Shutdown(absl::Seconds(2));
}

// Issue 20: a collector that is not there was reported as "last HTTP status 0".
TEST_F(OtlpMetricExporterTest, UnreachableCollectorGivesTheCauseAndReason) {
  receiver_.reset();  // its port is closed now
  options_.retry.max_attempts = 2;
  auto exporter = OtlpMetricExporter::Create(config_, source_, self_, options_);
  ASSERT_TRUE(exporter.ok());
  testing::internal::CaptureStdout();
  const absl::Status status = (*exporter)->ExportOnce();
  const std::string logged = testing::internal::GetCapturedStdout();
  EXPECT_THAT(status.message(), ::testing::AllOf(::testing::HasSubstr("Connection refused"),
                                                 ::testing::Not(::testing::HasSubstr("status 0"))));
  EXPECT_THAT(logged, ::testing::AllOf(::testing::HasSubstr("Connection refused"),
                                       ::testing::HasSubstr("\"reason\":\"connection\"")));
  EXPECT_EQ(CounterValue(self_, "loupe_otlp_export_failures_total", "metrics", "connection"), 2);
  EXPECT_EQ(CounterValue(self_, "loupe_otlp_export_failures_total", "metrics", "http_5xx"), 0);
  testing::internal::CaptureStdout();
  (*exporter)->Shutdown(absl::Seconds(1));
  testing::internal::GetCapturedStdout();
}

TEST_F(OtlpMetricExporterTest, PeriodicAndFinalExportWithSelfMetricsInSameRegistry) {
  options_.interval = absl::Milliseconds(50);
  // The exporter's own counters live in the registry it exports, like in the agent.
  auto exporter = OtlpMetricExporter::Create(config_, source_, source_, options_);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  ASSERT_TRUE((*exporter)->Start().ok());
  EXPECT_FALSE((*exporter)->Start().ok());
  ASSERT_TRUE(receiver_->WaitForMetricRequests(2, absl::Seconds(5)));
  (*exporter)->Shutdown(absl::Seconds(2));
  size_t after_shutdown = receiver_->MetricRequests().size();
  absl::SleepFor(absl::Milliseconds(150));
  EXPECT_EQ(receiver_->MetricRequests().size(), after_shutdown);  // the thread is gone

  // The last request carries the agent's own metrics on the "loupe" resource.
  auto last = receiver_->MetricRequests().back();
  bool found_self = false;
  for (const auto& rm : last.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& metric : sm.metrics()) {
        found_self |= metric.name() == "loupe_metric_points_exported_total";
      }
    }
  }
  EXPECT_TRUE(found_self);
  EXPECT_THAT(receiver_->Errors(), IsEmpty());
}

TEST_F(OtlpMetricExporterTest, NeedsAnEndpoint) {
  config_.metrics_endpoint.clear();
  EXPECT_FALSE(OtlpMetricExporter::Create(config_, source_, self_, options_).ok());
}

TEST_F(OtlpMetricExporterTest, NeedsAClock) {
  options_.clock = nullptr;
  EXPECT_FALSE(OtlpMetricExporter::Create(config_, source_, self_, options_).ok());
}

}  // namespace
}  // namespace loupe
