// loupe: zero-code HTTP and database observability from eBPF.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string_view>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "exporters/otlp/otlp_config.h"
#include "userspace/config/config.h"
#include "userspace/daemon/agent.h"
#include "userspace/daemon/doctor.h"
#include "userspace/daemon/ps_command.h"
#include "userspace/loader/kernel_features.h"
#include "userspace/logging/log.h"
#include "userspace/slo/slo_command.h"
#include "userspace/version.h"

ABSL_FLAG(std::string, config, "", "Path of a YAML config file (keys as the flags below)");
ABSL_FLAG(std::string, listen_address, "0.0.0.0:9400",
          "HOST:PORT of the /metrics and /health/* endpoint");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error (JSON logs on stdout)");
ABSL_FLAG(uint32_t, max_connections, 8192,
          "Connections tracked at once (kernel map and userspace table); more are counted as "
          "loupe_events_dropped_total{reason=\"conn_table_full\"}");
ABSL_FLAG(uint32_t, ringbuf_mib, 8,
          "Kernel-to-agent ring buffer size in MiB (power of two; counts twice in the RSS, "
          "docs/memory.md)");
ABSL_FLAG(uint32_t, series_budget_per_service, 500,
          "Label sets per service and instrument before new ones go to the overflow series");
ABSL_FLAG(uint32_t, max_series, 700,
          "RED series of all services together before new label sets go to one overflow series "
          "per instrument (each ~1.4 KiB of heap, ~3.6 KiB of /metrics; docs/memory.md)");
ABSL_FLAG(uint32_t, pending_timeout_ms, 2000,
          "How long a response whose end is unknown may wait before it is reported");
ABSL_FLAG(uint32_t, poll_interval_ms, 20,
          "How often the agent drains the ring buffer when the kernel does not wake it");
ABSL_FLAG(uint32_t, process_cache_size, 4096, "Processes whose identity is cached");
ABSL_FLAG(std::vector<std::string>, exclude_processes, {},
          "Comma-separated executable names whose traffic is ignored");
ABSL_FLAG(bool, print_spans, false, "Print every span as a JSON line on stdout (debugging)");
ABSL_FLAG(bool, metrics_only, false,
          "RED metrics without spans, HTTP/1 exchanges counted in the kernel once their request "
          "bytes are known (cheaper; docs/architecture.md)");
ABSL_FLAG(uint32_t, metrics_only_keys, 4096,
          "With --metrics_only: distinct (process, request bytes, status) keys the kernel counts");
ABSL_FLAG(std::vector<std::string>, disable_features, {},
          "Comma-separated kernel features to treat as refused, so their fallback runs (names as "
          "`loupe doctor` prints them, e.g. map_elem_iterator,uprobes)");
ABSL_FLAG(bool, force_raw_tracepoint, false,
          "Use raw tracepoints even where BTF tracepoints are available");
ABSL_FLAG(std::string, otlp_endpoint, "",
          "OTLP/HTTP base URL (overrides OTEL_EXPORTER_OTLP_ENDPOINT); empty: no OTLP export");
ABSL_FLAG(bool, export_command_line, false,
          "Export process.command_line (secret-looking values redacted; off by default because "
          "no redactor knows every program's way of taking a password)");
ABSL_FLAG(bool, observe_self, false,
          "Also capture the agent's own traffic seen from other processes: the collector "
          "receiving its OTLP exports, scrapers of its /metrics");

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// Flags named on the command line (Debian's Abseil keeps IsSpecifiedOnCommandLine private), so
// that a flag left at its default does not override the config file.
std::set<std::string> g_given_flags;

void RememberGivenFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    std::string name(arg.substr(0, arg.find('=')));
    g_given_flags.insert(name);
    if (name.rfind("no", 0) == 0) g_given_flags.insert(name.substr(2));
  }
}

bool Given(const char* name) { return g_given_flags.count(name) > 0; }

// Defaults < YAML < environment < flags given on the command line.
absl::StatusOr<loupe::Config> BuildConfig() {
  loupe::Config config;
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    absl::Status status = loupe::ApplyYamlFile(path, &config);
    if (!status.ok()) return status;
  }
  loupe::ApplyEnvironment(
      [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      },
      &config);
  if (Given("listen_address")) config.listen_address = absl::GetFlag(FLAGS_listen_address);
  if (Given("log_level")) config.log_level = absl::GetFlag(FLAGS_log_level);
  if (Given("max_connections")) config.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (Given("ringbuf_mib")) config.ringbuf_mib = absl::GetFlag(FLAGS_ringbuf_mib);
  if (Given("series_budget_per_service")) {
    config.series_budget_per_service = absl::GetFlag(FLAGS_series_budget_per_service);
  }
  if (Given("max_series")) config.max_series = absl::GetFlag(FLAGS_max_series);
  if (Given("pending_timeout_ms")) config.pending_timeout_ms = absl::GetFlag(FLAGS_pending_timeout_ms);
  if (Given("poll_interval_ms")) config.poll_interval_ms = absl::GetFlag(FLAGS_poll_interval_ms);
  if (Given("process_cache_size")) config.process_cache_size = absl::GetFlag(FLAGS_process_cache_size);
  if (Given("exclude_processes")) config.exclude_processes = absl::GetFlag(FLAGS_exclude_processes);
  if (Given("print_spans")) config.print_spans = absl::GetFlag(FLAGS_print_spans);
  if (Given("metrics_only")) config.metrics_only = absl::GetFlag(FLAGS_metrics_only);
  if (Given("metrics_only_keys")) {
    config.metrics_only_keys = absl::GetFlag(FLAGS_metrics_only_keys);
  }
  if (Given("force_raw_tracepoint")) {
    config.force_raw_tracepoint = absl::GetFlag(FLAGS_force_raw_tracepoint);
  }
  if (Given("otlp_endpoint")) config.otlp_endpoint = absl::GetFlag(FLAGS_otlp_endpoint);
  if (Given("export_command_line")) {
    config.export_command_line = absl::GetFlag(FLAGS_export_command_line);
  }
  if (Given("observe_self")) config.observe_self = absl::GetFlag(FLAGS_observe_self);
  if (Given("disable_features")) config.disable_features = absl::GetFlag(FLAGS_disable_features);
  absl::Status valid = loupe::Validate(config);
  if (!valid.ok()) return valid;
  for (const std::string& name : config.disable_features) {
    if (auto feature = loupe::ParseKernelFeature(name); !feature.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--disable_features: ", feature.status().message()));
    }
  }
  // The exporters read the other OTEL_EXPORTER_OTLP_* variables when they start; a malformed one
  // is a configuration error like the rest, so it is found here, before anything starts.
  if (auto otlp = loupe::OtlpConfigFromEnv(loupe::ProcessEnvLookup); !otlp.ok()) {
    return otlp.status();
  }
  return config;
}

// Exit codes (docs/configuration.md): a configuration error is the user's to fix before any
// restart helps; a run-time failure (privileges, kernel, a taken port) may be the host's.
constexpr int kExitRunTimeFailure = 1;
constexpr int kExitBadConfiguration = 2;

int Fail(const absl::Status& status, int exit_code) {
  // One line on stderr a human reads, and the same as a JSON log line.
  std::fprintf(stderr, "loupe: %s\n", std::string(status.message()).c_str());
  loupe::log::Error("fatal", {{"error", status.message()}, {"exit_code", exit_code}});
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Subcommands take their own arguments.
  if (argc > 1 && std::string_view(argv[1]) == "slo") {
    return loupe::RunSloCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc > 1 && std::string_view(argv[1]) == "doctor") {
    return loupe::RunDoctorCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc > 1 && std::string_view(argv[1]) == "ps") {
    return loupe::RunPsCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  absl::SetProgramUsageMessage(
      "loupe [flags] — eBPF agent: RED metrics and traces for every HTTP and database call on "
      "this host, with no code change.\n"
      "Endpoints: /metrics, /health/live, /health/ready, /health/startup, /status on\n"
      "--listen_address.\n"
      "Environment: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,\n"
      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES.\n"
      "Subcommands: `loupe doctor` shows what this kernel and these capabilities allow;\n"
      "`loupe ps` lists the processes a running agent knows and why any is not instrumented;\n"
      "`loupe slo --help` generates SLO recording and alerting rules.");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "userspace/daemon/main.cc");
  };
  usage.version_string = [] { return std::string("loupe ") + loupe::kLoupeVersion + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  RememberGivenFlags(argc, argv);
  // Anything that is not a flag was meant as a subcommand or a value: refuse it (exit 2, like
  // any bad configuration) rather than start as if nothing had been said.
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr,
                 "loupe: unknown subcommand or argument '%s' (subcommands: doctor, ps, slo; settings "
                 "are --flags: see `loupe --help`)\n",
                 positional[1]);
    return 2;
  }

  absl::StatusOr<loupe::Config> config = BuildConfig();
  if (!config.ok()) return Fail(config.status(), kExitBadConfiguration);
  if (absl::Status s = loupe::log::SetLevel(config->log_level); !s.ok()) {
    return Fail(s, kExitBadConfiguration);
  }
  if (absl::Status s = loupe::CheckHostPrerequisites(); !s.ok()) {
    return Fail(s, kExitRunTimeFailure);
  }

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  loupe::log::Info("loupe starting", {{"version", loupe::kLoupeVersion}, {"pid", getpid()}});
  absl::StatusOr<std::unique_ptr<loupe::Agent>> agent = loupe::Agent::Create(*config);
  if (!agent.ok()) return Fail(agent.status(), kExitRunTimeFailure);
  absl::Status status = (*agent)->Run(&g_stop);
  agent->reset();  // every part stopped (Agent's member order) before the last log line
  if (!status.ok()) return Fail(status, kExitRunTimeFailure);
  loupe::log::Info("loupe stopped cleanly");
  return 0;
}
