#include "userspace/config/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ConfigYamlTest, EmptyDocumentKeepsDefaults) {
  Config config;
  ASSERT_TRUE(ApplyYaml("", &config).ok());
  ASSERT_TRUE(ApplyYaml("# only a comment\n", &config).ok());
  const Config defaults;
  EXPECT_EQ(config.listen_address, defaults.listen_address);
  EXPECT_EQ(config.max_connections, defaults.max_connections);
  EXPECT_TRUE(Validate(config).ok()) << "the defaults must be valid";
}

TEST(ConfigYamlTest, EveryKeyIsApplied) {
  Config config;
  const absl::Status status = ApplyYaml(R"(
listen_address: "127.0.0.1:9999"
log_level: debug
max_connections: 1234
ringbuf_mib: 64
series_budget_per_service: 77
max_series: 4000
pending_timeout_ms: 3500
poll_interval_ms: 50
process_cache_size: 128
print_spans: true
exclude_processes: [sshd, "systemd-resolved"]
otlp:
  endpoint: http://127.0.0.1:4318
)",
                                        &config);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(config.listen_address, "127.0.0.1:9999");
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.max_connections, 1234u);
  EXPECT_EQ(config.ringbuf_mib, 64u);
  EXPECT_EQ(config.series_budget_per_service, 77u);
  EXPECT_EQ(config.max_series, 4000u);
  EXPECT_EQ(config.pending_timeout_ms, 3500u);
  EXPECT_EQ(config.poll_interval_ms, 50u);
  EXPECT_EQ(config.process_cache_size, 128u);
  EXPECT_TRUE(config.print_spans);
  EXPECT_THAT(config.exclude_processes, ::testing::ElementsAre("sshd", "systemd-resolved"));
  EXPECT_EQ(config.otlp_endpoint, "http://127.0.0.1:4318");
  EXPECT_TRUE(Validate(config).ok()) << Validate(config);
}

TEST(ConfigYamlTest, ForceRawTracepointIsAYamlKey) {
  // Regression: the documented `force_raw_tracepoint` YAML key was once rejected as unknown.
  Config config;
  const absl::Status status = ApplyYaml("force_raw_tracepoint: true\n", &config);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(config.force_raw_tracepoint);
}

// Issue 20: the command line and the agent's own traffic are off unless asked for.
TEST(ConfigYamlTest, CommandLineAndSelfObservationAreOptIn) {
  const Config defaults;
  EXPECT_FALSE(defaults.export_command_line);
  EXPECT_FALSE(defaults.observe_self);
  Config config;
  const absl::Status status =
      ApplyYaml("export_command_line: true\nobserve_self: true\n", &config);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(config.export_command_line);
  EXPECT_TRUE(config.observe_self);
  EXPECT_THAT(Message(ApplyYaml("observe_self: sometimes\n", &config)),
              HasSubstr("'observe_self' must be true or false"));
}

TEST(ConfigYamlTest, MetricsOnlyKeysAreYamlKeys) {
  Config config;
  const absl::Status status = ApplyYaml("metrics_only: true\nmetrics_only_keys: 512\n", &config);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(config.metrics_only);
  EXPECT_EQ(config.metrics_only_keys, 512u);
}

TEST(ConfigYamlTest, LaterDocumentOverridesOnlyItsKeys) {
  Config config;
  ASSERT_TRUE(ApplyYaml("max_connections: 100\nexclude_processes: [a, b]\n", &config).ok());
  ASSERT_TRUE(ApplyYaml("log_level: warn\nexclude_processes: [c]\n", &config).ok());
  EXPECT_EQ(config.max_connections, 100u);
  EXPECT_EQ(config.log_level, "warn");
  EXPECT_THAT(config.exclude_processes, ::testing::ElementsAre("c"))
      << "a list replaces, not appends";
  ASSERT_TRUE(ApplyYaml("print_spans: false\n", &config).ok());
  EXPECT_FALSE(config.print_spans);
}

TEST(ConfigYamlTest, UnknownTopLevelKeyIsRejectedByName) {
  Config config;
  const absl::Status status = ApplyYaml("max_conections: 10\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("'max_conections'"));
}

TEST(ConfigYamlTest, UnknownOtlpKeyIsRejectedByName) {
  Config config;
  const absl::Status status = ApplyYaml("otlp:\n  endpoint: http://a:1\n  headers: x\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), AllOf(HasSubstr("otlp.headers"), HasSubstr("otlp.endpoint")));
}

TEST(ConfigYamlTest, WrongTypesAreRejectedWithTheKey) {
  struct Case {
    const char* yaml;
    const char* key;
    const char* expect;
  };
  const Case cases[] = {
      {"max_connections: lots\n", "'max_connections'", "non-negative integer"},
      {"max_connections: -5\n", "'max_connections'", "non-negative integer"},
      {"ringbuf_mib: 1.5\n", "'ringbuf_mib'", "non-negative integer"},
      {"pending_timeout_ms: 99999999999\n", "'pending_timeout_ms'", "non-negative integer"},
      {"poll_interval_ms: [1]\n", "'poll_interval_ms'", "non-negative integer"},
      {"series_budget_per_service: {a: 1}\n", "'series_budget_per_service'", "integer"},
      {"process_cache_size: \n", "'process_cache_size'", "integer"},
      {"print_spans: yes\n", "'print_spans'", "true or false"},
      {"print_spans: 1\n", "'print_spans'", "true or false"},
      {"listen_address: [a, b]\n", "'listen_address'", "must be a string"},
      {"log_level: {x: y}\n", "'log_level'", "must be a string"},
      {"exclude_processes: sshd\n", "'exclude_processes'", "must be a list"},
      {"otlp: http://x\n", "'otlp'", "must be a mapping"},
      {"otlp:\n  endpoint: [a]\n", "otlp.endpoint", "must be a string"},
  };
  for (const Case& c : cases) {
    Config config;
    const absl::Status status = ApplyYaml(c.yaml, &config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(Message(status), AllOf(HasSubstr(c.key), HasSubstr(c.expect))) << c.yaml;
  }
}

TEST(ConfigYamlTest, WrongTypeLeavesTheFieldUnchanged) {
  Config config;
  config.max_connections = 321;
  EXPECT_FALSE(ApplyYaml("max_connections: many\n", &config).ok());
  EXPECT_EQ(config.max_connections, 321u);
}

TEST(ConfigYamlTest, InvalidYamlAndNonMappingsAreErrors) {
  Config config;
  absl::Status status = ApplyYaml("listen_address: [unclosed\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("not valid YAML"));

  status = ApplyYaml("- a\n- b\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("mapping"));

  status = ApplyYaml("just a string\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  // A list entry that is not a string must not escape as an exception.
  status = ApplyYaml("exclude_processes: [{a: b}]\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigYamlTest, FileIsReadAndErrorsNameTheFile) {
  char path[] = "/tmp/loupe_config_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "max_connections: 4096\n";
  }
  Config config;
  ASSERT_TRUE(ApplyYamlFile(path, &config).ok());
  EXPECT_EQ(config.max_connections, 4096u);
  {
    std::ofstream out(path);
    out << "bogus: 1\n";
  }
  absl::Status status = ApplyYamlFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), AllOf(HasSubstr(path), HasSubstr("'bogus'")));
  std::remove(path);

  status = ApplyYamlFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(status), HasSubstr(path));
}

// Issue 20: a directory opened as a stream, and reading it threw std::ios_base::failure out of
// main (exit 134).
TEST(ConfigYamlTest, DirectoryIsAClearError) {
  char dir[] = "/tmp/loupe_config_dir_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  Config config;
  const absl::Status status = ApplyYamlFile(dir, &config);
  rmdir(dir);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), AllOf(HasSubstr(dir), HasSubstr("is a directory")));
  EXPECT_EQ(Message(status).find('\n'), std::string::npos) << "one line";
}

// Issue 20: yaml-cpp keeps both entries of a duplicated key and the last one used to win.
TEST(ConfigYamlTest, DuplicateKeysAreRefusedByName) {
  struct Case {
    const char* yaml;
    const char* key;
  };
  const Case cases[] = {
      {"max_connections: 100\nmax_connections: 200\n", "'max_connections'"},
      {"log_level: warn\nmax_connections: 100\nlog_level: debug\n", "'log_level'"},
      {"otlp:\n  endpoint: http://a:1\n  endpoint: http://b:2\n", "'otlp.endpoint'"},
      {"otlp:\n  endpoint: http://a:1\notlp:\n  endpoint: http://b:2\n", "'otlp'"},
      {"print_spans: true\n\"print_spans\": false\n", "'print_spans'"},
  };
  for (const Case& c : cases) {
    Config config;
    const absl::Status status = ApplyYaml(c.yaml, &config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(Message(status), AllOf(HasSubstr(c.key), HasSubstr("more than once"))) << c.yaml;
  }
  Config config;
  EXPECT_TRUE(ApplyYaml("max_connections: 100\notlp:\n  endpoint: http://a:1\n", &config).ok())
      << "the same name in different mappings is no duplicate";
}

TEST(ConfigEnvironmentTest, OtlpEndpointComesFromTheEnvironment) {
  std::map<std::string, std::string> env = {
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318"}};
  std::vector<std::string> asked;
  EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    asked.emplace_back(name);
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  Config config;
  config.otlp_endpoint = "http://from-yaml:4318";
  ApplyEnvironment(lookup, &config);
  EXPECT_EQ(config.otlp_endpoint, "https://collector.example:4318");
  EXPECT_THAT(asked, ::testing::Contains("OTEL_EXPORTER_OTLP_ENDPOINT"));

  // Empty or unset variables leave the value alone.
  env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "";
  ApplyEnvironment(lookup, &config);
  EXPECT_EQ(config.otlp_endpoint, "https://collector.example:4318");
  env.clear();
  ApplyEnvironment(lookup, &config);
  EXPECT_EQ(config.otlp_endpoint, "https://collector.example:4318");

  // Nothing else is read from the environment.
  Config untouched;
  env = {{"OTEL_SERVICE_NAME", "x"}, {"LOUPE_LOG_LEVEL", "debug"}};
  ApplyEnvironment(lookup, &untouched);
  EXPECT_EQ(untouched.log_level, Config().log_level);
  EXPECT_TRUE(untouched.otlp_endpoint.empty());
}

// Validation: each bound, its edge values and its message.
class ConfigValidateTest : public ::testing::Test {
 protected:
  void ExpectInvalid(const Config& config, const std::string& fragment) {
    const absl::Status status = Validate(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << fragment;
    EXPECT_THAT(Message(status), HasSubstr(fragment));
  }
  void ExpectValid(const Config& config) {
    const absl::Status status = Validate(config);
    EXPECT_TRUE(status.ok()) << status;
  }
  Config config_;
};

TEST_F(ConfigValidateTest, LogLevel) {
  for (const char* level : {"debug", "info", "warn", "error"}) {
    config_.log_level = level;
    ExpectValid(config_);
  }
  for (const char* level : {"", "INFO", "trace", "warning"}) {
    config_.log_level = level;
    ExpectInvalid(config_, "debug, info, warn, error");
    ExpectInvalid(config_, "'" + std::string(level) + "'");
  }
}

TEST_F(ConfigValidateTest, ListenAddress) {
  for (const char* ok : {"0.0.0.0:9400", "127.0.0.1:0", "[::1]:65535", "localhost:80"}) {
    config_.listen_address = ok;
    ExpectValid(config_);
  }
  for (const char* bad : {"9400", "0.0.0.0:", "0.0.0.0:http", "0.0.0.0:65536", "0.0.0.0:-1",
                          ""}) {
    config_.listen_address = bad;
    ExpectInvalid(config_, "HOST:PORT");
    ExpectInvalid(config_, "'" + std::string(bad) + "'");
  }
}

TEST_F(ConfigValidateTest, RingbufMustBeAPowerOfTwoUpTo1024) {
  for (uint32_t ok : {1u, 2u, 16u, 512u, 1024u}) {
    config_.ringbuf_mib = ok;
    ExpectValid(config_);
  }
  for (uint32_t bad : {0u, 3u, 12u, 1023u, 2048u, 0x80000000u}) {
    config_.ringbuf_mib = bad;
    ExpectInvalid(config_, "ringbuf_mib must be a power of two");
  }
}

TEST_F(ConfigValidateTest, MaxConnections) {
  for (uint32_t ok : {64u, 16384u, 4'000'000u}) {
    config_.max_connections = ok;
    ExpectValid(config_);
  }
  for (uint32_t bad : {0u, 63u, 4'000'001u}) {
    config_.max_connections = bad;
    ExpectInvalid(config_, "max_connections must be between 64 and 4000000");
  }
}

TEST_F(ConfigValidateTest, SeriesBudget) {
  config_.series_budget_per_service = 1;
  ExpectValid(config_);
  config_.series_budget_per_service = 0;
  ExpectInvalid(config_, "series_budget_per_service must be at least 1");
}

TEST_F(ConfigValidateTest, MaxSeries) {
  for (uint32_t ok : {16u, 1000u, 1'000'000u}) {
    config_.max_series = ok;
    ExpectValid(config_);
  }
  for (uint32_t bad : {0u, 15u, 1'000'001u}) {
    config_.max_series = bad;
    ExpectInvalid(config_, "max_series must be between 16 and 1000000");
  }
}

// docs/memory.md: the defaults are what the 64 MiB worst case was measured with.
TEST(ConfigDefaultsTest, MemoryBoundingDefaults) {
  const Config defaults;
  EXPECT_EQ(defaults.ringbuf_mib, 8u);
  EXPECT_EQ(defaults.max_series, 700u);
  EXPECT_EQ(defaults.series_budget_per_service, 500u);
  EXPECT_EQ(defaults.max_connections, 8192u);
}

TEST_F(ConfigValidateTest, PollInterval) {
  for (uint32_t ok : {1u, 1000u}) {
    config_.poll_interval_ms = ok;
    ExpectValid(config_);
  }
  for (uint32_t bad : {0u, 1001u}) {
    config_.poll_interval_ms = bad;
    ExpectInvalid(config_, "poll_interval_ms must be between 1 and 1000");
  }
}

TEST_F(ConfigValidateTest, PendingTimeout) {
  config_.pending_timeout_ms = 10;
  ExpectValid(config_);
  config_.pending_timeout_ms = 9;
  ExpectInvalid(config_, "pending_timeout_ms must be at least 10");
}

TEST_F(ConfigValidateTest, MetricsOnlyKeysAndSpansContradiction) {
  config_.metrics_only = true;
  config_.metrics_only_keys = 16;
  ExpectValid(config_);
  config_.metrics_only_keys = 15;
  ExpectInvalid(config_, "metrics_only_keys must be between 16 and 1000000");
  config_.metrics_only_keys = 1'000'001;
  ExpectInvalid(config_, "metrics_only_keys must be between 16 and 1000000");
  config_.metrics_only_keys = 4096;
  config_.print_spans = true;
  ExpectInvalid(config_, "print_spans and metrics_only contradict each other");
}

TEST_F(ConfigValidateTest, ProcessCacheSize) {
  config_.process_cache_size = 16;
  ExpectValid(config_);
  config_.process_cache_size = 15;
  ExpectInvalid(config_, "process_cache_size must be at least 16");
}

TEST_F(ConfigValidateTest, OtlpEndpointScheme) {
  for (const char* ok : {"", "http://127.0.0.1:4318", "https://collector:4318/"}) {
    config_.otlp_endpoint = ok;
    ExpectValid(config_);
  }
  for (const char* bad : {"127.0.0.1:4318", "grpc://collector:4317", "HTTP://x"}) {
    config_.otlp_endpoint = bad;
    ExpectInvalid(config_, "must be an http:// or https:// URL");
    ExpectInvalid(config_, bad);
  }
}

// Issue 20: these were accepted at start and failed only at every export.
TEST_F(ConfigValidateTest, OtlpEndpointNeedsAHostAndAValidPort) {
  for (const char* ok : {"http://collector", "http://127.0.0.1:1", "http://127.0.0.1:65535",
                         "http://[::1]:4318", "https://gw.example/otlp?x=1",
                         "https://user:pw@gw.example:443/otlp"}) {
    config_.otlp_endpoint = ok;
    ExpectValid(config_);
  }
  const std::pair<const char*, const char*> bad[] = {
      {"http://", "has no host"},
      {"https:///v1", "has no host"},
      {"http://:4318", "has no host"},
      {"http://user@:4318/", "has no host"},
      {"http://127.0.0.1:notaport", "port must be a number from 1 to 65535"},
      {"http://127.0.0.1:99999", "port must be a number from 1 to 65535"},
      {"http://127.0.0.1:0", "port must be a number from 1 to 65535"},
      {"http://127.0.0.1:", "port must be a number from 1 to 65535"},
      {"http://127.0.0.1:+80", "port must be a number from 1 to 65535"},
      {"http://[::1]:123456", "port must be a number from 1 to 65535"},
      {"http://[::1", "closing ']'"},
      {"http://coll ector:4318", "space or control character"},
  };
  for (const auto& [url, fragment] : bad) {
    config_.otlp_endpoint = url;
    ExpectInvalid(config_, fragment);
    ExpectInvalid(config_, "OTLP endpoint");
  }
  // Credentials in the URL are not repeated in the message.
  config_.otlp_endpoint = "http://user:secret@collector:notaport";
  ExpectInvalid(config_, "port must be a number");
  EXPECT_THAT(Message(Validate(config_)), ::testing::Not(HasSubstr("secret")));
}

TEST(ConfigKubernetesTest, SectionKeysAreApplied) {
  Config config;
  ASSERT_TRUE(ApplyYaml(R"(
kubernetes:
  enabled: "true"
  node_name: node-7
  api_url: https://10.0.0.1:6443
  token_file: /etc/loupe/token
  ca_file: /etc/loupe/ca.crt
  max_pods: 300
  max_labels_per_pod: 8
  max_label_length: 100
  owner_cache_size: 64
)",
                        &config)
                  .ok());
  EXPECT_EQ(config.kubernetes.enabled, "true");
  EXPECT_EQ(config.kubernetes.node_name, "node-7");
  EXPECT_EQ(config.kubernetes.api_url, "https://10.0.0.1:6443");
  EXPECT_EQ(config.kubernetes.token_file, "/etc/loupe/token");
  EXPECT_EQ(config.kubernetes.ca_file, "/etc/loupe/ca.crt");
  EXPECT_EQ(config.kubernetes.max_pods, 300u);
  EXPECT_EQ(config.kubernetes.max_labels_per_pod, 8u);
  EXPECT_EQ(config.kubernetes.max_label_length, 100u);
  EXPECT_EQ(config.kubernetes.owner_cache_size, 64u);
  EXPECT_TRUE(Validate(config).ok()) << Validate(config);

  const absl::Status unknown = ApplyYaml("kubernetes:\n  nodename: x\n", &config);
  EXPECT_THAT(Message(unknown), HasSubstr("'kubernetes.nodename'"));
  EXPECT_THAT(Message(ApplyYaml("kubernetes: on\n", &config)), HasSubstr("must be a mapping"));
}

TEST(ConfigKubernetesTest, NodeNameComesFromTheEnvironmentUnlessGiven) {
  std::map<std::string, std::string> env = {{"NODE_NAME", "node-from-env"}};
  EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  Config config;
  ApplyEnvironment(lookup, &config);
  EXPECT_EQ(config.kubernetes.node_name, "node-from-env");
  EXPECT_FALSE(config.kubernetes.in_cluster_address);
  Config given;
  given.kubernetes.node_name = "node-from-yaml";
  env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  ApplyEnvironment(lookup, &given);
  EXPECT_EQ(given.kubernetes.node_name, "node-from-yaml");
  EXPECT_TRUE(given.kubernetes.in_cluster_address);
}

TEST_F(ConfigValidateTest, Kubernetes) {
  ExpectValid(config_);  // auto without a node name: off
  config_.kubernetes.enabled = "yes";
  ExpectInvalid(config_, "use auto, true or false");
  config_.kubernetes.enabled = "true";
  ExpectInvalid(config_, "set NODE_NAME");
  config_.kubernetes.node_name = "node-1";
  ExpectInvalid(config_, "set kubernetes.api_url");  // and not in a pod
  config_.kubernetes.in_cluster_address = true;
  ExpectValid(config_);
  config_.kubernetes.in_cluster_address = false;
  config_.kubernetes.api_url = "https://10.0.0.1:6443";
  ExpectValid(config_);
  config_.kubernetes.api_url = "10.0.0.1:6443";
  ExpectInvalid(config_, "must start with https://");
  config_.kubernetes.api_url = "";
  config_.kubernetes.in_cluster_address = true;
  config_.kubernetes.max_pods = 0;
  ExpectInvalid(config_, "kubernetes.max_pods");
  config_.kubernetes.max_pods = 1024;
  config_.kubernetes.max_label_length = 10;
  ExpectInvalid(config_, "kubernetes.max_label_length");
  config_.kubernetes.max_label_length = 320;
  config_.kubernetes.owner_cache_size = 1;
  ExpectInvalid(config_, "kubernetes.owner_cache_size");
}

}  // namespace
}  // namespace loupe
