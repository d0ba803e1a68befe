#include "userspace/slo/slo_rules.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;

SloSpec Checkout() { return {"checkout", 0.999, 0.99, 0.5}; }

TEST(ValidateSloSpecTest, AcceptsEveryBucketBound) {
  for (double bound : kLatencyBucketBounds) {
    SloSpec spec = Checkout();
    spec.latency_threshold_seconds = bound;
    EXPECT_TRUE(ValidateSloSpec(spec).ok()) << bound;
  }
}

TEST(ValidateSloSpecTest, RejectsObjectivesOutsideOpenUnitInterval) {
  for (double bad : {0.0, 1.0, -0.5, 1.5, std::nan("")}) {
    SloSpec a = Checkout();
    a.availability_objective = bad;
    absl::Status s = ValidateSloSpec(a);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("availability objective"));
    SloSpec l = Checkout();
    l.latency_objective = bad;
    EXPECT_THAT(ValidateSloSpec(l).message(), HasSubstr("latency objective")) << bad;
  }
}

TEST(ValidateSloSpecTest, RejectsThresholdThatIsNotABucketBound) {
  SloSpec spec = Checkout();
  spec.latency_threshold_seconds = 0.3;
  absl::Status s = ValidateSloSpec(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("0.3"));
  EXPECT_THAT(s.message(), HasSubstr("0.005 0.01"));  // tells the user what is allowed
}

TEST(ValidateSloSpecTest, RejectsServiceNamesThatCannotBeQuoted) {
  for (std::string bad : std::vector<std::string>{"", "a b", "a\"b", "a'b", "a}b", "a\nb", std::string(129, 'a')}) {
    SloSpec spec = Checkout();
    spec.service = bad;
    EXPECT_EQ(ValidateSloSpec(spec).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  SloSpec ok = Checkout();
  ok.service = "shop/checkout-v2.prod:eu_1";
  EXPECT_TRUE(ValidateSloSpec(ok).ok());
}

TEST(GenerateSloRulesTest, RejectsEmptyListAndDuplicates) {
  EXPECT_EQ(GenerateSloRules({}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> dup = GenerateSloRules({Checkout(), Checkout()});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("more than once"));
  SloSpec bad = Checkout();
  bad.latency_threshold_seconds = 0.2;
  EXPECT_FALSE(GenerateSloRules({bad}).ok());
}

TEST(GenerateSloRulesTest, ProducesRecordingRulesForEveryWindowAndBothSlis) {
  absl::StatusOr<std::string> text = GenerateSloRules({Checkout(), {"cart", 0.995, 0.9, 1}});
  ASSERT_TRUE(text.ok()) << text.status();
  YAML::Node root = YAML::Load(*text);
  ASSERT_TRUE(root["groups"].IsSequence());
  ASSERT_EQ(root["groups"].size(), 4u);  // recording + alerts per service

  for (size_t g : {0u, 2u}) {
    const std::string service = g == 0 ? "checkout" : "cart";
    YAML::Node rules = root["groups"][g]["rules"];
    std::set<std::string> records;
    for (const YAML::Node& rule : rules) {
      const std::string expr = rule["expr"].as<std::string>();
      EXPECT_THAT(expr, HasSubstr("service_name=\"" + service + "\""));
      EXPECT_FALSE(rule["alert"]) << "alerts belong in the alert group";
      records.insert(rule["record"].as<std::string>());
    }
    for (const char* w : kSloWindows) {
      EXPECT_TRUE(records.count("service_name:loupe_slo_errors:ratio_rate" + std::string(w)))
          << w;
      EXPECT_TRUE(
          records.count("service_name:loupe_slo_latency_slow:ratio_rate" + std::string(w)))
          << w;
    }
    EXPECT_EQ(records.size(), 2 * kSloWindows.size());
  }
  // Thresholds land in the bucket selector; integral bounds also match Prometheus 3's "1.0".
  EXPECT_THAT(root["groups"][0]["rules"][7]["expr"].as<std::string>(), HasSubstr("le=\"0.5\""));
  EXPECT_THAT(root["groups"][2]["rules"][7]["expr"].as<std::string>(),
              HasSubstr("le=~\"1(\\\\.0)?\""));
  EXPECT_THAT(root["groups"][0]["rules"][0]["expr"].as<std::string>(),
              HasSubstr("http_response_status_code=~\"5..\""));
}

TEST(GenerateSloRulesTest, AlertsFollowTheWorkbookBurnRates) {
  absl::StatusOr<std::string> text = GenerateSloRules({{"cart", 0.995, 0.9, 1}});
  ASSERT_TRUE(text.ok()) << text.status();
  YAML::Node alerts = YAML::Load(*text)["groups"][1]["rules"];
  ASSERT_EQ(alerts.size(), 4u);
  int pages = 0;
  int tickets = 0;
  for (const YAML::Node& a : alerts) {
    const std::string name = a["alert"].as<std::string>();
    const std::string expr = a["expr"].as<std::string>();
    const std::string severity = a["labels"]["severity"].as<std::string>();
    const std::string slo = a["labels"]["slo"].as<std::string>();
    EXPECT_TRUE(a["for"]) << name;
    EXPECT_EQ(a["annotations"]["runbook_url"].as<std::string>(),
              "https://github.com/loupe-dev/loupe/blob/main/docs/runbooks/" + name + ".md");
    EXPECT_FALSE(a["annotations"]["summary"].as<std::string>().empty());
    const std::string objective = slo == "availability" ? "0.995" : "0.9";
    const std::string budget = "(1 - " + objective + ")";
    if (severity == "page") {
      ++pages;
      EXPECT_THAT(expr, HasSubstr("ratio_rate1h{service_name=\"cart\"} > (14.4 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate5m{service_name=\"cart\"} > (14.4 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate6h{service_name=\"cart\"} > (6 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate30m{service_name=\"cart\"} > (6 * " + budget));
    } else {
      ASSERT_EQ(severity, "ticket");
      ++tickets;
      EXPECT_THAT(expr, HasSubstr("ratio_rate1d{service_name=\"cart\"} > (3 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate2h{service_name=\"cart\"} > (3 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate3d{service_name=\"cart\"} > (1 * " + budget));
      EXPECT_THAT(expr, HasSubstr("ratio_rate6h{service_name=\"cart\"} > (1 * " + budget));
    }
    EXPECT_THAT(expr, HasSubstr(slo == "availability" ? "loupe_slo_errors" : "latency_slow"));
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(tickets, 2);
}

// The example rule file under deploy/ is the generator's output, so the deploy tests (promtool
// check/test rules) exercise exactly what users get. LOUPE_UPDATE_SLO_EXAMPLE=1 rewrites it.
TEST(GenerateSloRulesTest, CommittedExampleIsGeneratorOutput) {
  absl::StatusOr<std::string> text =
      GenerateSloRules({{"checkout", 0.999, 0.99, 0.5}, {"catalog", 0.995, 0.95, 1}});
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string path = std::string(LOUPE_SOURCE_DIR) + "/deploy/prometheus/slo-example.yaml";
  if (std::getenv("LOUPE_UPDATE_SLO_EXAMPLE") != nullptr) {
    std::ofstream(path, std::ios::binary) << *text;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), *text)
      << path << " is stale; rerun slo_test with LOUPE_UPDATE_SLO_EXAMPLE=1";
}

constexpr std::string_view kMetricsFixture =
    "# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n"
    "# TYPE http_server_request_duration_seconds histogram\n"
    "http_server_request_duration_seconds_bucket{service_name=\"bucket-only\",le=\"0.5\"} 1\n"
    "http_server_request_duration_seconds_count{http_request_method=\"GET\","
    "service_name=\"checkout\",http_route=\"/cart/{id}\"} 12\n"
    "http_server_request_duration_seconds_count{service_name=\"checkout\","
    "http_request_method=\"POST\"} 3\n"
    "http_server_request_duration_seconds_count{http_route=\"/a\\\"b,c=\\\\\","
    "service_name=\"api\"} 1 1700000000000\n"
    "http_server_request_duration_seconds_sum{service_name=\"sum-only\"} 1\n"
    "http_client_request_duration_seconds_count{service_name=\"client-only\"} 1\n"
    "http_server_request_duration_seconds_count_total{service_name=\"other-metric\"} 1\n"
    "http_server_request_duration_seconds_count 5\n"
    "  http_server_request_duration_seconds_count{service_name=\"\"} 1\n"
    "loupe_build_info{version=\"0.1.0\"} 1\n";

TEST(ServicesFromMetricsTextTest, ExtractsDistinctSortedServicesFromServerCounts) {
  absl::StatusOr<std::vector<std::string>> services = ServicesFromMetricsText(kMetricsFixture);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, ::testing::ElementsAre("api", "checkout"));
}

TEST(ServicesFromMetricsTextTest, EmptyPageHasNoServices) {
  absl::StatusOr<std::vector<std::string>> services = ServicesFromMetricsText("");
  ASSERT_TRUE(services.ok());
  EXPECT_TRUE(services->empty());
}

TEST(ServicesFromMetricsTextTest, UnescapesLabelValues) {
  absl::StatusOr<std::vector<std::string>> services = ServicesFromMetricsText(
      "http_server_request_duration_seconds_count{service_name=\"a\\\\b\\\"c\"} 1\n");
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, ::testing::ElementsAre("a\\b\"c"));
}

TEST(ServicesFromMetricsTextTest, RejectsMalformedLabelSetsWithLineNumber) {
  for (std::string_view bad : {
           "http_server_request_duration_seconds_count{service_name=\"x} 1",
           "http_server_request_duration_seconds_count{service_name=x} 1",
           "http_server_request_duration_seconds_count{service_name\"x\"} 1",
           "http_server_request_duration_seconds_count{service_name=\"x\"",
           "http_server_request_duration_seconds_count{9bad=\"x\"} 1",
           "http_server_request_duration_seconds_count{a=\"\\q\"} 1",
       }) {
    const std::string text = "# comment\n" + std::string(bad) + "\n";
    absl::StatusOr<std::vector<std::string>> services = ServicesFromMetricsText(text);
    EXPECT_EQ(services.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(services.status().message(), HasSubstr("line 2")) << bad;
  }
}

}  // namespace
}  // namespace loupe
