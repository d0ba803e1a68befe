#include "exporters/otlp/otlp_config.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(OtlpConfigTest, NothingSetMeansDisabled) {
  auto config = OtlpConfigFromEnv(Env({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->traces_enabled());
  EXPECT_FALSE(config->metrics_enabled());
  EXPECT_TRUE(config->headers.empty());
  EXPECT_EQ(config->timeout, absl::Seconds(10));
}

TEST(OtlpConfigTest, EmptyValuesCountAsUnset) {
  auto config = OtlpConfigFromEnv(
      Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "  "}, {"OTEL_EXPORTER_OTLP_TIMEOUT", ""}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->traces_enabled());
}

TEST(OtlpConfigTest, BaseEndpointGetsSignalPaths) {
  for (std::string base : {"http://collector:4318", "http://collector:4318/"}) {
    auto config = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", base}}));
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->traces_endpoint, "http://collector:4318/v1/traces");
    EXPECT_EQ(config->metrics_endpoint, "http://collector:4318/v1/metrics");
  }
  auto with_path =
      OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp/"}}));
  ASSERT_TRUE(with_path.ok());
  EXPECT_EQ(with_path->traces_endpoint, "https://gw.example/otlp/v1/traces");
}

TEST(OtlpConfigTest, SignalEndpointsAreUsedAsIs) {
  auto config = OtlpConfigFromEnv(Env({
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom"},
  }));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->traces_endpoint, "http://traces:9999/custom");
  EXPECT_EQ(config->metrics_endpoint, "http://base:4318/v1/metrics");

  auto metrics_only = OtlpConfigFromEnv(
      Env({{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318/v1/metrics"}}));
  ASSERT_TRUE(metrics_only.ok());
  EXPECT_FALSE(metrics_only->traces_enabled());
  EXPECT_EQ(metrics_only->metrics_endpoint, "http://m:4318/v1/metrics");
}

TEST(OtlpConfigTest, HeadersAreSplitTrimmedAndDecoded) {
  auto config = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS",
                                        "api-key=abc%3D%3D , x-tenant = team%20a,,"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->headers,
              ElementsAre(Pair("api-key", "abc=="), Pair("x-tenant", "team a")));
}

TEST(OtlpConfigTest, BadHeadersSayWhatToFixWithoutLeakingValues) {
  auto no_eq = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "a=1,secretvalue"}}));
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_eq.status().message(), HasSubstr("OTEL_EXPORTER_OTLP_HEADERS"));
  EXPECT_THAT(no_eq.status().message(), HasSubstr("entry 2"));
  EXPECT_THAT(no_eq.status().message(), Not(HasSubstr("secretvalue")));

  auto bad_escape =
      OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%zzTOPSECRET"}}));
  ASSERT_FALSE(bad_escape.ok());
  EXPECT_THAT(bad_escape.status().message(), HasSubstr("authorization"));
  EXPECT_THAT(bad_escape.status().message(), Not(HasSubstr("TOPSECRET")));

  EXPECT_FALSE(OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "=v"}})).ok());
  EXPECT_FALSE(OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "bad name=v"}})).ok());
  EXPECT_FALSE(OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "k=a%0D%0Ab"}})).ok());
  EXPECT_FALSE(OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "k=trailing%4"}})).ok());
}

TEST(OtlpConfigTest, ResourceAttributes) {
  auto config = OtlpConfigFromEnv(Env(
      {{"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=a%2Cb,k8s.cluster=c1"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->resource_attributes.size(), 3u);
  EXPECT_EQ(config->resource_attributes[0].key, "deployment.environment");
  EXPECT_EQ(config->resource_attributes[0].value, "prod");
  EXPECT_EQ(config->resource_attributes[1].value, "a,b");
  EXPECT_FALSE(config->resource_attributes[1].is_int);

  auto bad = OtlpConfigFromEnv(Env({{"OTEL_RESOURCE_ATTRIBUTES", "novalue"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("OTEL_RESOURCE_ATTRIBUTES"));
}

TEST(OtlpConfigTest, Timeout) {
  auto config = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->timeout, absl::Milliseconds(2500));
  for (std::string bad : {"abc", "-5", "0", "10s", "1.5"}) {
    auto result = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_TIMEOUT", bad}}));
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_THAT(result.status().message(), HasSubstr("milliseconds"));
  }
}

TEST(OtlpConfigTest, BadEndpointsAreRejected) {
  for (std::string bad : {"collector:4318", "ftp://x", "http://", "http:///path"}) {
    auto result = OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", bad}}));
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_THAT(result.status().message(), HasSubstr("OTEL_EXPORTER_OTLP_ENDPOINT"));
  }
  EXPECT_FALSE(
      OtlpConfigFromEnv(Env({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4318"}})).ok());
}

// Issue 20: these passed the scheme check and failed only at every export.
TEST(OtlpConfigTest, EndpointsNeedAHostAndAPortInRange) {
  for (std::string bad : {"http://127.0.0.1:notaport", "http://127.0.0.1:99999",
                          "http://127.0.0.1:0", "http://:4318/", "https://[::1]:70000"}) {
    for (const char* var : {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"}) {
      auto result = OtlpConfigFromEnv(Env({{var, bad}}));
      ASSERT_FALSE(result.ok()) << var << "=" << bad;
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(result.status().message(), HasSubstr(var));
      EXPECT_THAT(result.status().message(), HasSubstr(bad));
    }
  }
  for (std::string ok : {"http://127.0.0.1:4318", "http://[::1]:4318/v1/traces",
                         "https://collector", "http://collector:1/otlp?x=y#z"}) {
    EXPECT_TRUE(CheckOtlpEndpoint("X", ok).ok()) << ok;
  }
  const absl::Status port = CheckOtlpEndpoint("X", "http://127.0.0.1:notaport");
  EXPECT_THAT(port.message(), HasSubstr("\"notaport\""));
  EXPECT_THAT(port.message(), HasSubstr("1 to 65535"));
  EXPECT_THAT(CheckOtlpEndpoint("X", "http://").message(), HasSubstr("no host"));
  EXPECT_THAT(CheckOtlpEndpoint("X", "http://user:pw@:1").message(),
              ::testing::AllOf(HasSubstr("no host"), ::testing::Not(HasSubstr("pw"))));
}

TEST(PercentDecodeTest, Decodes) {
  EXPECT_EQ(PercentDecode("a%20b%2c%2C"), "a b,,");
  EXPECT_EQ(PercentDecode("plain"), "plain");
  EXPECT_EQ(PercentDecode("%"), std::nullopt);
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
  EXPECT_EQ(PercentDecode("%g0"), std::nullopt);
}

}  // namespace
}  // namespace loupe
