#include "userspace/config/config.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "exporters/otlp/otlp_config.h"
#include "userspace/config/yaml_checks.h"

namespace loupe {
namespace {

absl::Status ReadUint(const YAML::Node& node, absl::string_view key, uint32_t* out) {
  uint32_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "' must be a non-negative integer"));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status ReadString(const YAML::Node& node, absl::string_view key, std::string* out) {
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' must be a string"));
  }
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status ReadBool(const YAML::Node& node, absl::string_view key, bool* out) {
  if (!node.IsScalar() || (node.Scalar() != "true" && node.Scalar() != "false")) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "' must be true or false"));
  }
  *out = node.Scalar() == "true";
  return absl::OkStatus();
}

// The `kubernetes:` section.
absl::Status ApplyKubernetesNode(const YAML::Node& node, KubernetesConfig* kubernetes) {
  if (!node.IsMap()) return absl::InvalidArgumentError("config key 'kubernetes' must be a mapping");
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string key = "kubernetes." + item.first.as<std::string>();
    if (absl::Status status = CheckNotDuplicate(key, &seen); !status.ok()) return status;
    const YAML::Node& value = item.second;
    absl::Status status;
    if (key == "kubernetes.enabled") {
      status = ReadString(value, key, &kubernetes->enabled);
    } else if (key == "kubernetes.node_name") {
      status = ReadString(value, key, &kubernetes->node_name);
    } else if (key == "kubernetes.api_url") {
      status = ReadString(value, key, &kubernetes->api_url);
    } else if (key == "kubernetes.token_file") {
      status = ReadString(value, key, &kubernetes->token_file);
    } else if (key == "kubernetes.ca_file") {
      status = ReadString(value, key, &kubernetes->ca_file);
    } else if (key == "kubernetes.max_pods") {
      status = ReadUint(value, key, &kubernetes->max_pods);
    } else if (key == "kubernetes.max_labels_per_pod") {
      status = ReadUint(value, key, &kubernetes->max_labels_per_pod);
    } else if (key == "kubernetes.max_label_length") {
      status = ReadUint(value, key, &kubernetes->max_label_length);
    } else if (key == "kubernetes.owner_cache_size") {
      status = ReadUint(value, key, &kubernetes->owner_cache_size);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown config key '", key, "' (known: enabled, node_name, api_url, token_file, "
          "ca_file, max_pods, max_labels_per_pod, max_label_length, owner_cache_size)"));
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateKubernetes(const KubernetesConfig& kubernetes) {
  if (kubernetes.enabled != "auto" && kubernetes.enabled != "true" &&
      kubernetes.enabled != "false") {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubernetes.enabled is '", kubernetes.enabled, "': use auto, true or false"));
  }
  if (kubernetes.enabled == "true" && kubernetes.node_name.empty()) {
    return absl::InvalidArgumentError(
        "kubernetes.enabled is true but the node's name is unknown: set NODE_NAME (the downward "
        "API's spec.nodeName) or kubernetes.node_name");
  }
  if (kubernetes.enabled == "true" && kubernetes.api_url.empty() &&
      !kubernetes.in_cluster_address) {
    return absl::InvalidArgumentError(
        "kubernetes.enabled is true but the API server is unknown (KUBERNETES_SERVICE_HOST is not "
        "set: not in a pod?): set kubernetes.api_url");
  }
  if (!kubernetes.api_url.empty() && !absl::StartsWith(kubernetes.api_url, "https://") &&
      !absl::StartsWith(kubernetes.api_url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubernetes.api_url '", kubernetes.api_url, "' must start with https:// (or http://)"));
  }
  if (kubernetes.max_pods < 1 || kubernetes.max_pods > 100'000) {
    return absl::InvalidArgumentError("kubernetes.max_pods must be between 1 and 100000");
  }
  if (kubernetes.max_labels_per_pod > 1'000) {
    return absl::InvalidArgumentError("kubernetes.max_labels_per_pod must be at most 1000");
  }
  if (kubernetes.max_label_length < 63 || kubernetes.max_label_length > 65'536) {
    return absl::InvalidArgumentError(
        "kubernetes.max_label_length must be between 63 (a label value's limit) and 65536");
  }
  if (kubernetes.owner_cache_size < 16 || kubernetes.owner_cache_size > 1'000'000) {
    return absl::InvalidArgumentError("kubernetes.owner_cache_size must be between 16 and 1000000");
  }
  return absl::OkStatus();
}

absl::Status ApplyNode(const YAML::Node& root, Config* config) {
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return absl::InvalidArgumentError("config file must be a YAML mapping");
  std::set<std::string> seen;
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (absl::Status status = CheckNotDuplicate(key, &seen); !status.ok()) return status;
    const YAML::Node& value = item.second;
    absl::Status status;
    if (key == "listen_address") {
      status = ReadString(value, key, &config->listen_address);
    } else if (key == "log_level") {
      status = ReadString(value, key, &config->log_level);
    } else if (key == "max_connections") {
      status = ReadUint(value, key, &config->max_connections);
    } else if (key == "ringbuf_mib") {
      status = ReadUint(value, key, &config->ringbuf_mib);
    } else if (key == "series_budget_per_service") {
      status = ReadUint(value, key, &config->series_budget_per_service);
    } else if (key == "max_series") {
      status = ReadUint(value, key, &config->max_series);
    } else if (key == "pending_timeout_ms") {
      status = ReadUint(value, key, &config->pending_timeout_ms);
    } else if (key == "poll_interval_ms") {
      status = ReadUint(value, key, &config->poll_interval_ms);
    } else if (key == "process_cache_size") {
      status = ReadUint(value, key, &config->process_cache_size);
    } else if (key == "metrics_only") {
      status = ReadBool(value, key, &config->metrics_only);
    } else if (key == "metrics_only_keys") {
      status = ReadUint(value, key, &config->metrics_only_keys);
    } else if (key == "print_spans") {
      status = ReadBool(value, key, &config->print_spans);
    } else if (key == "force_raw_tracepoint") {
      status = ReadBool(value, key, &config->force_raw_tracepoint);
    } else if (key == "export_command_line") {
      status = ReadBool(value, key, &config->export_command_line);
    } else if (key == "observe_self") {
      status = ReadBool(value, key, &config->observe_self);
    } else if (key == "disable_features") {
      if (!value.IsSequence()) {
        return absl::InvalidArgumentError("config key 'disable_features' must be a list");
      }
      config->disable_features.clear();
      for (const auto& entry : value) config->disable_features.push_back(entry.as<std::string>());
    } else if (key == "exclude_processes") {
      if (!value.IsSequence()) {
        return absl::InvalidArgumentError("config key 'exclude_processes' must be a list");
      }
      config->exclude_processes.clear();
      for (const auto& entry : value) config->exclude_processes.push_back(entry.as<std::string>());
    } else if (key == "kubernetes") {
      status = ApplyKubernetesNode(value, &config->kubernetes);
    } else if (key == "selection") {
      status = ApplySelectionYaml(value, &config->selection);
    } else if (key == "otlp") {
      if (!value.IsMap()) return absl::InvalidArgumentError("config key 'otlp' must be a mapping");
      std::set<std::string> seen_sub;
      for (const auto& sub : value) {
        const std::string subkey = sub.first.as<std::string>();
        if (absl::Status status = CheckNotDuplicate("otlp." + subkey, &seen_sub); !status.ok()) {
          return status;
        }
        if (subkey != "endpoint") {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown config key 'otlp.", subkey, "' (known: otlp.endpoint)"));
        }
        status = ReadString(sub.second, "otlp.endpoint", &config->otlp_endpoint);
        if (!status.ok()) return status;
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown config key '", key, "'; see `loupe --help` for the settings"));
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyYaml(std::string_view yaml_text, Config* config) {
  try {
    return ApplyNode(YAML::Load(std::string(yaml_text)), config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file is not valid YAML: ", e.what()));
  }
}

absl::Status ApplyYamlFile(const std::string& path, Config* config) {
  // A directory opens as a stream on Linux; reading it would throw from inside libstdc++.
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config file '", path, "' is a directory: give the path of a YAML file"));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();  // a read error sets failbit here instead of throwing
  if (in.bad() || buffer.fail()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file '", path, "'"));
  }
  const std::string text = buffer.str();
  absl::Status status = ApplyYaml(text, config);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
  }
  return absl::OkStatus();
}

void ApplyEnvironment(const EnvLookup& getenv, Config* config) {
  if (auto endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint && !endpoint->empty()) {
    config->otlp_endpoint = *endpoint;
  }
  if (auto node = getenv("NODE_NAME"); node && !node->empty() && config->kubernetes.node_name.empty()) {
    config->kubernetes.node_name = *node;
  }
  if (auto host = getenv("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
    config->kubernetes.in_cluster_address = true;
  }
}

absl::Status Validate(const Config& config) {
  static const std::set<std::string> kLevels = {"debug", "info", "warn", "error"};
  if (kLevels.count(config.log_level) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", config.log_level, "' is not one of debug, info, warn, error"));
  }
  const size_t colon = config.listen_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(config.listen_address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address '", config.listen_address, "' must be HOST:PORT, e.g. 0.0.0.0:9400"));
  }
  if (config.ringbuf_mib == 0 || config.ringbuf_mib > 1024 ||
      (config.ringbuf_mib & (config.ringbuf_mib - 1)) != 0) {
    return absl::InvalidArgumentError("ringbuf_mib must be a power of two between 1 and 1024");
  }
  if (config.max_connections < 64 || config.max_connections > 4'000'000) {
    return absl::InvalidArgumentError("max_connections must be between 64 and 4000000");
  }
  if (config.series_budget_per_service == 0) {
    return absl::InvalidArgumentError("series_budget_per_service must be at least 1");
  }
  if (config.max_series < 16 || config.max_series > 1'000'000) {
    return absl::InvalidArgumentError("max_series must be between 16 and 1000000");
  }
  if (config.poll_interval_ms == 0 || config.poll_interval_ms > 1000) {
    return absl::InvalidArgumentError("poll_interval_ms must be between 1 and 1000");
  }
  if (config.pending_timeout_ms < 10) {
    return absl::InvalidArgumentError("pending_timeout_ms must be at least 10");
  }
  if (config.metrics_only && config.print_spans) {
    return absl::InvalidArgumentError(
        "print_spans and metrics_only contradict each other: metrics_only builds no spans");
  }
  if (config.metrics_only_keys < 16 || config.metrics_only_keys > 1'000'000) {
    return absl::InvalidArgumentError("metrics_only_keys must be between 16 and 1000000");
  }
  if (config.process_cache_size < 16) {
    return absl::InvalidArgumentError("process_cache_size must be at least 16");
  }
  if (absl::Status status = ValidateKubernetes(config.kubernetes); !status.ok()) return status;
  if (!config.otlp_endpoint.empty()) {
    return CheckOtlpEndpoint("the OTLP endpoint (--otlp_endpoint, otlp.endpoint or "
                             "OTEL_EXPORTER_OTLP_ENDPOINT)",
                             config.otlp_endpoint);
  }
  return absl::OkStatus();
}

}  // namespace loupe
