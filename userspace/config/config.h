// Agent settings. Sources, later ones winning: built-in defaults, the YAML file (--config), the
// standard OTEL_* environment variables, then flags given on the command line.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "userspace/config/selection_config.h"

namespace loupe {

// The Kubernetes metadata source (userspace/k8s/): this node's pods from the API server.
struct KubernetesConfig {
  // "auto": on when the node's name is known (NODE_NAME, set by the DaemonSet); "true": on, and
  // a missing node name or API server address is a configuration error; "false": off.
  std::string enabled = "auto";
  std::string node_name;   // NODE_NAME when not given here
  // The API server and credentials; empty: the pod's own (KUBERNETES_SERVICE_HOST/PORT and the
  // service account's token and CA).
  std::string api_url;
  std::string token_file;
  std::string ca_file;
  // Bounds of what is kept (docs/deploy.md): pods of this node, labels per pod, bytes of a label
  // key or value (and of the service-name annotation), ReplicaSets/Jobs whose owner is cached.
  uint32_t max_pods = 1024;
  uint32_t max_labels_per_pod = 32;
  uint32_t max_label_length = 320;
  uint32_t owner_cache_size = 1024;
  // Not a key: whether KUBERNETES_SERVICE_HOST is set (ApplyEnvironment), i.e. the API server's
  // in-cluster address is known.
  bool in_cluster_address = false;
};

struct Config {
  std::string listen_address = "0.0.0.0:9400";
  std::string log_level = "info";
  // Kernel and userspace connection tables. 8192, not 16384: ~0.7 KiB of heap per connection
  // held, and the kernel map preallocates ~1.2 KiB per slot (docs/memory.md).
  uint32_t max_connections = 8192;
  // Power of two. 8, not 16: userspace maps each ring's data twice (to read across the wrap), so
  // a ring of N MiB is 2N MiB of the agent's RSS (docs/memory.md).
  uint32_t ringbuf_mib = 8;
  uint32_t series_budget_per_service = 500;
  // RED series of all services and instruments together; past it, new label sets go to one
  // overflow series per instrument (docs/memory.md: each series is ~1.4 KiB of heap, ~3.6 KiB of
  // /metrics text and ~9 KiB of RSS while a scrape is built).
  uint32_t max_series = 700;
  uint32_t pending_timeout_ms = 2000;
  uint32_t poll_interval_ms = 20;
  uint32_t process_cache_size = 4096;
  bool print_spans = false;
  // No spans; learned HTTP/1 exchanges are counted in kernel maps instead of sent as records
  // (bpf/red_aggregate.bpf.h, userspace/kernel_red/). metrics_only_keys bounds those maps.
  bool metrics_only = false;
  uint32_t metrics_only_keys = 4096;
  bool force_raw_tracepoint = false;
  // Kernel features treated as refused, so their fallback runs (names as `loupe doctor` prints
  // them; checked against that list at start).
  std::vector<std::string> disable_features;
  // Executable names whose traffic is ignored: kept from before `selection`, and applied as one
  // more exclude rule (ProcessSelector).
  std::vector<std::string> exclude_processes;
  SelectionConfig selection;  // which processes and ports are instrumented
  std::string otlp_endpoint;                   // base URL; empty = OTLP export off
  // process.command_line on resources (redacted); off: a redactor cannot know every secret.
  bool export_command_line = false;
  // Off: the agent's own OTLP exports and the scrapes of its admin port are not captured.
  bool observe_self = false;
  KubernetesConfig kubernetes;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Applies a YAML document on top of `config`. Unknown keys are errors (a typo must not be
// silently ignored).
absl::Status ApplyYaml(std::string_view yaml_text, Config* config);
absl::Status ApplyYamlFile(const std::string& path, Config* config);

// Applies the OTEL_* variables the agent itself honours, and NODE_NAME (the Kubernetes node's
// name, from the downward API) where kubernetes.node_name is not set.
void ApplyEnvironment(const EnvLookup& getenv, Config* config);

// Range and format checks, with messages that say what to fix.
absl::Status Validate(const Config& config);

}  // namespace loupe
