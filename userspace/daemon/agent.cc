#include "userspace/daemon/agent.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "userspace/admin/admin_server.h"
#include "userspace/admin/health.h"
#include "userspace/admin/process_table.h"
#include "userspace/conn/conn_tracker.h"
#include "userspace/k8s/kubernetes_source.h"
#include "userspace/core/redact.h"
#include "userspace/core/status_macros.h"
#include "userspace/kernel_red/kernel_red_table.h"
#include "userspace/daemon/degradations.h"
#include "userspace/daemon/pipeline.h"
#include "userspace/daemon/process_exclusion.h"
#include "userspace/loader/capture_event.h"
#include "userspace/loader/capture_probes.h"
#include "userspace/loader/kernel_features.h"
#include "userspace/loader/preexisting_connections.h"
#include "userspace/loader/ring_reader.h"
#include "userspace/loader/selection_maps.h"
#include "userspace/logging/log.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/metrics/pod_info_series.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"
#include "userspace/process/process_selector.h"
#include "userspace/protocols/registry.h"
#include "userspace/tls/tls_attacher.h"
#include "userspace/tls/tls_metrics.h"
#include "userspace/spans/fan_out_sink.h"
#include "userspace/spans/span_assembler.h"
#include "exporters/otlp/json_lines_span_sink.h"
#include "exporters/otlp/otlp_metric_exporter.h"
#include "exporters/otlp/otlp_span_exporter.h"

namespace loupe {
namespace {

constexpr uint64_t kHousekeepingIntervalNs = 200'000'000;
// Memory bounds of the span path (docs/memory.md): a buffered or queued span with its
// attributes is about 1.6 KiB of heap (20000 buffered and 4096 queued spans were 35 MiB).
constexpr size_t kSpanAssemblerBuffer = 4096;
constexpr size_t kSpanQueueCapacity = 2048;
// How the agent's heap gives memory back (docs/memory.md). A scrape or an OTLP metric export
// builds a few MB and frees it; glibc would keep it: per thread arena (at most kMallocArenas
// here, instead of 8 per CPU), and above the mmap threshold, which glibc otherwise raises to
// 32 MiB as large blocks are freed. Fixed at 256 KiB, large blocks go back to the kernel when
// freed; the rest is trimmed every kHeapTrimIntervalNs. Measured in the combined worst case:
// RSS peak 106.6 MiB with glibc's defaults, 67.5 with two arenas, 58.7 with the fixed thresholds.
constexpr int kMallocArenas = 2;
constexpr int kMallocMmapThreshold = 256 << 10;
constexpr int kMallocTrimThreshold = 1 << 20;
constexpr uint64_t kHeapTrimIntervalNs = 5'000'000'000;
// Past every timeout: what is still pending at the stop is reported now.
constexpr uint64_t kEndOfTime = UINT64_MAX / 2;
constexpr absl::Duration kExporterShutdownTimeout = absl::Seconds(5);

void TuneHeap() {
  mallopt(M_ARENA_MAX, kMallocArenas);  // before any thread starts
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold);
}

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

uint64_t PendingTimeoutNs(const Config& config) {
  return uint64_t{config.pending_timeout_ms} * 1'000'000;
}

std::vector<std::string> ProtocolNames() {
  std::vector<std::string> names;
  for (const auto& protocol : AllProtocols()) names.emplace_back(protocol->name());
  return names;
}

// A flag or config-file endpoint overrides OTEL_EXPORTER_OTLP_ENDPOINT (already folded into
// config.otlp_endpoint) but not the per-signal variables, which are more specific.
void ApplyBaseEndpoint(const Config& config, OtlpConfig* otlp) {
  if (config.otlp_endpoint.empty()) return;
  std::string base = config.otlp_endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!ProcessEnvLookup("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    otlp->traces_endpoint = base + "/v1/traces";
  }
  if (!ProcessEnvLookup("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) {
    otlp->metrics_endpoint = base + "/v1/metrics";
  }
}

// The features the configuration switches off, as if the kernel refused them.
std::vector<KernelFeature> DisabledFeatures(const Config& config) {
  std::vector<KernelFeature> disabled;
  for (const std::string& name : config.disable_features) {
    if (absl::StatusOr<KernelFeature> feature = ParseKernelFeature(name); feature.ok()) {
      disabled.push_back(*feature);
    }
  }
  if (config.force_raw_tracepoint) disabled.push_back(KernelFeature::kTpBtf);
  return disabled;
}

CaptureOptions CaptureOptionsFor(const Config& config, const OtlpConfig& otlp, int admin_port) {
  CaptureOptions options;
  options.max_connections = config.max_connections;
  options.ringbuf_mib = config.ringbuf_mib;
  options.self_tgid = static_cast<uint32_t>(getpid());
  options.observe_self = config.observe_self;
  options.self_exports = otlp.traces_enabled() || otlp.metrics_enabled();
  options.self_listen_port = static_cast<uint16_t>(admin_port);
  options.kernel_red = config.metrics_only;
  options.red_keys = config.metrics_only_keys;
  options.red_timeout_ns = PendingTimeoutNs(config);
  options.max_excluded_processes = config.process_cache_size;
  options.include_ports = config.selection.include_ports;
  options.exclude_ports = config.selection.exclude_ports;
  return options;
}

// The pids under /proc, the agent's own excepted.
std::vector<uint32_t> RunningProcesses() {
  std::vector<uint32_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  const uint32_t self = static_cast<uint32_t>(getpid());
  while (const dirent* entry = readdir(proc)) {
    uint32_t pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid != self) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

}  // namespace

absl::Status CheckHostPrerequisites() {
  // Capabilities, not the uid: root with CAP_BPF dropped cannot load anything either.
  LOUPE_RETURN_IF_ERROR(CheckCoreCapabilities(ReadHeldCapabilities()));
  return CheckKernelBtf();
}

// Decodes ring-buffer records and feeds the tracker; runs on the event thread.
class Agent::EventDispatcher : public RawEventHandler {
 public:
  EventDispatcher(ConnTracker* tracker, AgentMetrics* metrics)
      : tracker_(tracker), metrics_(metrics) {}
  void OnRawEvent(const void* data, size_t size) override {
    std::optional<CaptureEvent> event = DecodeCaptureEvent(data, size);
    if (!event.has_value()) {
      metrics_->EventMalformed();
      return;
    }
    tracker_->OnEvent(*event);
  }

 private:
  ConnTracker* tracker_;
  AgentMetrics* metrics_;
};

// The TLS attacher, the tracker's TLS observer for exactly as long as it lives: the tracker
// calls it while it drains, so it forgets it before the attacher goes (issue 20).
class Agent::TlsCapture {
 public:
  TlsCapture(std::unique_ptr<TlsAttacher> attacher, ConnTracker* tracker)
      : tracker_(tracker), attacher_(std::move(attacher)) {
    tracker_->set_tls_observer(attacher_.get());
  }
  ~TlsCapture() { tracker_->set_tls_observer(nullptr); }

  // Picks up new libssl files (rescans /proc every 2 s).
  void Poll(uint64_t now_ns) { attacher_->Poll(now_ns); }

 private:
  ConnTracker* tracker_;
  std::unique_ptr<TlsAttacher> attacher_;
};

// Without TLS uprobes, a TLS connection is traffic a refused kernel feature hides from its
// process's instrumentation (/status). The tracker's TLS observer for exactly as long as it lives.
class Agent::TlsUnseen : public TlsObserver {
 public:
  TlsUnseen(ConnTracker* tracker, ProcessStatusSink* status, std::string detail)
      : tracker_(tracker), status_(status), detail_(std::move(detail)) {
    tracker_->set_tls_observer(this);
  }
  ~TlsUnseen() override { tracker_->set_tls_observer(nullptr); }

  void OnTlsConnection(uint32_t tgid, std::string_view comm, bool visible) override {
    if (!visible) status_->OnGap(tgid, comm, InstrumentationGap::kKernelFeatureMissing, detail_);
  }

 private:
  ConnTracker* tracker_;
  ProcessStatusSink* status_;
  std::string detail_;
};

Agent::Agent(const Config& config)
    : config_(config),
      registry_(std::make_shared<prometheus::Registry>()),
      agent_metrics_(std::make_unique<AgentMetrics>(*registry_, ProtocolNames())),
      health_(std::make_unique<HealthState>()) {
  ProcessTableOptions options;
  options.max_processes = config_.process_cache_size;
  process_table_ = std::make_unique<ProcessTable>(
      options, [](uint32_t pid) { return ProcessAlive("/proc", pid); });
  status_processes_ = &AddGauge(*registry_, "loupe_status_processes",
                                "Processes in the /status table");
  status_refused_ = MirroredCounter(AddCounter(
      *registry_, "loupe_status_processes_refused_total",
      "Reports about a new process that /status did not take because its table was full "
      "(process_cache_size rows)"));
}

Agent::~Agent() = default;

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(const Config& config) {
  TuneHeap();
  std::unique_ptr<Agent> agent(new Agent(config));
  LOUPE_RETURN_IF_ERROR(agent->StartAdmin());
  LOUPE_RETURN_IF_ERROR(agent->ResolveOtlpConfig());
  LOUPE_RETURN_IF_ERROR(agent->BuildSpanOutput());
  LOUPE_RETURN_IF_ERROR(agent->StartKubernetes());
  agent->BuildRecordPath();
  LOUPE_RETURN_IF_ERROR(agent->StartMetricExport());
  agent->BuildTracker();
  LOUPE_RETURN_IF_ERROR(agent->StartCapture());
  return agent;
}

absl::Status Agent::StartAdmin() {
  AgentMetrics* agent_metrics = agent_metrics_.get();
  LOUPE_ASSIGN_OR_RETURN(
      admin_, AdminServer::Create(config_.listen_address, registry_, health_.get(), &clock_,
                                  [agent_metrics] { agent_metrics->UpdateProcessMetrics(); },
                                  process_table_.get()));
  return absl::OkStatus();
}

absl::Status Agent::ResolveOtlpConfig() {
  LOUPE_ASSIGN_OR_RETURN(otlp_, OtlpConfigFromEnv(ProcessEnvLookup));
  ApplyBaseEndpoint(config_, &otlp_);
  return absl::OkStatus();
}

// Span sinks: OTLP when an endpoint is configured, JSON lines with --print_spans, else none
// (then no span is assembled at all).
absl::Status Agent::BuildSpanOutput() {
  if (config_.metrics_only && otlp_.traces_enabled()) {
    log::Info("spans not exported: --metrics_only builds none",
              {{"endpoint", RedactUrlCredentials(otlp_.traces_endpoint)}});
  } else if (otlp_.traces_enabled()) {
    OtlpSpanExporterOptions options;
    options.clock = &clock_;
    options.queue_capacity = kSpanQueueCapacity;
    LOUPE_ASSIGN_OR_RETURN(span_exporter_, OtlpSpanExporter::Create(otlp_, *registry_, options));
    log::Info("exporting spans over OTLP",
              {{"endpoint", RedactUrlCredentials(otlp_.traces_endpoint)}});
  }
  if (config_.print_spans) span_printer_ = std::make_unique<JsonLinesSpanSink>(stdout);
  std::vector<SpanSink*> sinks;
  if (span_exporter_) sinks.push_back(span_exporter_.get());
  if (span_printer_) sinks.push_back(span_printer_.get());
  span_sink_ = std::make_unique<FanOutSpanSink>(sinks);
  if (sinks.empty()) return absl::OkStatus();
  SpanAssemblerOptions options;
  options.window_ns = PendingTimeoutNs(config_) + 500'000'000;
  options.max_buffered = kSpanAssemblerBuffer;
  assembler_ = std::make_unique<SpanAssembler>(options, span_sink_.get(), *registry_, &clock_);
  return absl::OkStatus();
}

// This node's pods from the API server (userspace/k8s/, docs/deploy.md). On when the node's name
// is known (NODE_NAME) unless kubernetes.enabled is false. With enabled: auto, a pod that has no
// API server address or token runs on without it (one warning); with true, that fails the start.
// An API server that does not answer is never fatal: the watch retries and processes are named
// from their own view meanwhile.
absl::Status Agent::StartKubernetes() {
  const KubernetesConfig& settings = config_.kubernetes;
  if (settings.enabled == "false" || (settings.enabled == "auto" && settings.node_name.empty())) {
    return absl::OkStatus();
  }
  KubernetesSourceOptions options;
  if (settings.api_url.empty()) {
    absl::StatusOr<KubeApiConfig> in_cluster =
        InClusterApiConfig([](const char* name) { return std::getenv(name); }, kServiceAccountDir);
    if (!in_cluster.ok()) {
      if (settings.enabled == "true") return in_cluster.status();
      log::Warn("no Kubernetes metadata: the API server's address or token is missing",
                {{"error", in_cluster.status().message()}});
      return absl::OkStatus();
    }
    options.api = *in_cluster;
  } else {
    options.api.base_url = settings.api_url;
    while (!options.api.base_url.empty() && options.api.base_url.back() == '/') {
      options.api.base_url.pop_back();
    }
  }
  if (!settings.token_file.empty()) options.api.token_file = settings.token_file;
  if (!settings.ca_file.empty()) options.api.ca_file = settings.ca_file;
  options.watch.node_name = settings.node_name;
  options.limits.max_pods = settings.max_pods;
  options.limits.max_labels_per_pod = settings.max_labels_per_pod;
  options.limits.max_label_length = settings.max_label_length;
  options.owners.capacity = settings.owner_cache_size;
  LOUPE_ASSIGN_OR_RETURN(kubernetes_, KubernetesSource::Start(options, *registry_, &clock_));
  return absl::OkStatus();
}

void Agent::BuildRecordPath() {
  red_metrics_ = std::make_unique<RedMetrics>(*registry_, agent_metrics_.get(),
                                              config_.series_budget_per_service,
                                              config_.max_series);
  red_metrics_->RememberResourcesIn(&service_resources_);
  processes_ = std::make_unique<ProcessInfoCache>(HostName(), config_.process_cache_size,
                                                  ReadProcessFacts, otlp_.resource_attributes,
                                                  config_.export_command_line,
                                                  kubernetes_ ? kubernetes_->directory() : nullptr);
  selector_ = std::make_unique<ProcessSelector>(config_.selection, config_.exclude_processes,
                                                /*kubernetes_identities=*/kubernetes_ != nullptr);
  exclusion_ = std::make_unique<ProcessExclusion>(selector_.get(), /*kernel=*/nullptr,
                                                  config_.process_cache_size, *registry_);
  exclusion_->set_status_sink(process_table_.get());
  if (kubernetes_) {
    // Pod-level detail beside the workload-level series (docs/metrics.md).
    pod_info_ = std::make_unique<PodInfoSeries>(*registry_, kubernetes_->directory());
    processes_->set_resource_listener(
        [info = pod_info_.get()](const ProcessResource& resource) { info->Update(resource); });
  }
  pipeline_ = std::make_unique<Pipeline>(processes_.get(), red_metrics_.get(), exclusion_.get(),
                                         assembler_.get(), &clock_);
  pipeline_->set_process_status(process_table_.get());
}

absl::Status Agent::StartMetricExport() {
  if (!otlp_.metrics_enabled()) return absl::OkStatus();
  OtlpMetricExporterOptions options;
  options.clock = &clock_;
  options.services = &service_resources_;
  LOUPE_ASSIGN_OR_RETURN(metric_exporter_,
                         OtlpMetricExporter::Create(otlp_, *registry_, *registry_, options));
  LOUPE_RETURN_IF_ERROR(metric_exporter_->Start());
  log::Info("exporting metrics over OTLP",
            {{"endpoint", RedactUrlCredentials(otlp_.metrics_endpoint)}});
  return absl::OkStatus();
}

void Agent::BuildTracker() {
  ConnTrackerOptions options;
  options.max_connections = config_.max_connections;
  options.pending_timeout_ns = PendingTimeoutNs(config_);
  options.span_attributes = assembler_ != nullptr;
  tracker_ = std::make_unique<ConnTracker>(options, RegisteredProtocols(), pipeline_.get(),
                                           agent_metrics_.get());
  dispatcher_ = std::make_unique<EventDispatcher>(tracker_.get(), agent_metrics_.get());
}

absl::Status Agent::StartCapture() {
  // Each optional kernel feature, probed on its own: what loads decides what the capture uses.
  const KernelFeatures features = KernelFeatures::Probe(DisabledFeatures(config_));
  feature_report_ = std::make_unique<FeatureReport>(*registry_, health_.get());
  feature_report_->Publish(features);
  LOUPE_ASSIGN_OR_RETURN(
      probes_, CaptureProbes::Create(CaptureOptionsFor(config_, otlp_, admin_->port()), features));
  log::Info("tracefs not needed: syscalls are captured through BTF/raw tracepoints",
            {{"hook", HookKindName(probes_->hook())}});
  agent_metrics_->SetProbesAttached(HookKindName(probes_->hook()),
                                    static_cast<int>(probes_->attached_programs()));
  if (config_.metrics_only) LOUPE_RETURN_IF_ERROR(StartKernelRed());
  LOUPE_RETURN_IF_ERROR(StartSelection());
  LearnPreexisting();
  StartTls(features);
  health_->SetProbesAttached(true);
  LOUPE_ASSIGN_OR_RETURN(
      reader_, RingReader::Create(probes_->ring_fds(), probes_->ring_bytes(), dispatcher_.get()));
  return absl::OkStatus();
}

absl::Status Agent::StartKernelRed() {
  LOUPE_ASSIGN_OR_RETURN(kernel_red_maps_,
                         MakeBpfKernelRedMaps(probes_->red_keys_fd(), probes_->red_stats_fd()));
  KernelRedOptions options;
  options.capacity = config_.metrics_only_keys;
  // Past the kernel's own timeout pass, no exchange of a dead process can still be counted.
  options.reclaim_delay_ns = 2 * PendingTimeoutNs(config_) + kHousekeepingIntervalNs;
  kernel_red_ = std::make_unique<KernelRedTable>(
      options, kernel_red_maps_.get(), *registry_,
      [](uint32_t tgid) { return ProcessAlive("/proc", tgid); });
  tracker_->set_exchange_key_source(&kernel_red_keys_);
  pipeline_->AddCountedRecordObserver(kernel_red_.get());
  log::Info("metrics-only mode: learned HTTP/1 exchanges are counted in the kernel",
            {{"keys", config_.metrics_only_keys},
             {"timeout_pass", RedTimeoutPassName(probes_->red_timeout_pass())}});
  return absl::OkStatus();
}

// From here on, final exclusions reach the kernel. Processes already running are decided now when
// a rule can exclude one outside a pod (a pod's identity is not known this early): their
// connections then cost no record from the start.
absl::Status Agent::StartSelection() {
  LOUPE_ASSIGN_OR_RETURN(excluded_map_, MakeBpfExcludedProcessMap(probes_->excluded_tgids_fd(),
                                                                  probes_->conns_fd()));
  exclusion_->AttachKernel(excluded_map_.get());
  if (!selector_->decides_host_processes()) return absl::OkStatus();
  const uint64_t now_ns = clock_.MonotonicNs();
  size_t checked = 0;
  for (uint32_t pid : RunningProcesses()) {
    exclusion_->Decide(pid, processes_->Get(pid, now_ns));
    ++checked;
  }
  log::Info("running processes checked against the selection",
            {{"processes", checked}, {"excluded", exclusion_->excluded_in_kernel()}});
  return absl::OkStatus();
}

void Agent::LearnPreexisting() {
  ProcessTable* status = process_table_.get();
  const PreexistingResult preexisting = LearnPreexistingConnections(
      probes_->conns_fd(), static_cast<uint32_t>(getpid()), config_.max_connections / 2,
      [status](uint32_t pid, std::string_view comm) {
        status->OnGap(pid, comm, InstrumentationGap::kPreexistingSkipped,
                      "connections open before the agent started: data skipped until a clean "
                      "request boundary");
      });
  agent_metrics_->SetPreexistingConnections(preexisting.learned);
  log::Info("connections open before start learned; each is ignored until a clean request "
            "boundary",
            {{"learned", preexisting.learned}, {"table_full", preexisting.table_full}});
}

// TLS plaintext: uprobes on every libssl file in use, rescanned periodically (docs/tls.md).
// Without them HTTPS is still counted as TLS, just not parsed: degrade, do not fail.
void Agent::StartTls(const KernelFeatures& features) {
  tls_metrics_ = std::make_unique<TlsMetrics>(*registry_);
  // Refused uprobes are already reported as a degradation by the feature report.
  if (!features.available(KernelFeature::kUprobes)) {
    tls_unseen_ = std::make_unique<TlsUnseen>(tracker_.get(), process_table_.get(),
                                              "uprobes refused: its HTTPS is counted, not parsed");
    return;
  }
  TlsAttacherOptions options;
  options.self_pid = getpid();
  options.status = process_table_.get();
  absl::StatusOr<std::unique_ptr<TlsAttacher>> attacher =
      TlsAttacher::Create(probes_->object(), tls_metrics_.get(), options);
  if (!attacher.ok()) {
    feature_report_->Degrade({"tls_attacher",
                              absl::StrCat("TLS plaintext capture could not start (",
                                           attacher.status().message(),
                                           "): HTTPS is counted as TLS connections, not parsed"),
                              "see the error; `loupe doctor` checks uprobes"});
    tls_unseen_ = std::make_unique<TlsUnseen>(
        tracker_.get(), process_table_.get(),
        "the TLS attacher could not start: its HTTPS is counted, not parsed");
    return;
  }
  tls_ = std::make_unique<TlsCapture>(std::move(*attacher), tracker_.get());
}

absl::Status Agent::Run(const std::atomic<bool>* stop) {
  while (!stop->load()) {
    absl::StatusOr<int> read = reader_->PollAndDrain(static_cast<int>(config_.poll_interval_ms));
    agent_metrics_->FlushPending();  // also publishes what the previous housekeeping counted
    if (!read.ok()) return read.status();
    OnPolled(clock_.MonotonicNs());
  }
  Drain();
  return absl::OkStatus();
}

void Agent::OnPolled(uint64_t now_ns) {
  health_->Heartbeat(now_ns);
  if (!started_) {
    health_->SetStarted();
    agent_metrics_->SetReady(true);
    log::Info("agent ready", {{"listen_address", config_.listen_address}});
    started_ = true;
  }
  if (now_ns >= next_housekeeping_ns_) {
    next_housekeeping_ns_ = now_ns + kHousekeepingIntervalNs;
    Housekeeping(now_ns);
  }
}

void Agent::Housekeeping(uint64_t now_ns) {
  tracker_->Sweep(now_ns);
  exclusion_->Housekeeping(now_ns);
  if (kernel_red_) {
    if (absl::Status status = probes_->RunRedTimeouts(); !status.ok()) {
      log::Warn("kernel RED timeout pass failed", {{"error", status.message()}});
    }
    kernel_red_->Collect(now_ns);
  }
  if (assembler_) assembler_->Flush();
  PublishOwnGauges();
  if (now_ns >= next_heap_trim_ns_) {
    next_heap_trim_ns_ = now_ns + kHeapTrimIntervalNs;
    malloc_trim(0);
  }
  agent_metrics_->SetProcessCacheEntries(processes_->size());
  if (pod_info_) pod_info_->Sweep();
  process_table_->Tick(now_ns);
  if (tls_) tls_->Poll(now_ns);
}

void Agent::PublishOwnGauges() {
  const auto kernel_counters = probes_->ReadCounters();  // one map read per CPU per counter
  agent_metrics_->UpdateKernelCounters(kernel_counters);
  agent_metrics_->SetProbeRecursionMisses(probes_->ReadProgramStats().recursion_misses);
  tls_metrics_->UpdateKernelCounters(kernel_counters);
  agent_metrics_->SetRingbufFill(reader_->FillRatio());
  for (const InstrumentSchema* family : AllInstruments()) {
    agent_metrics_->SetMetricSeries(family->short_name, red_metrics_->series(*family),
                                    red_metrics_->services(*family));
  }
  agent_metrics_->SetSpansBuffered(assembler_ ? assembler_->buffered() : 0);
  status_processes_->Set(static_cast<double>(process_table_->size()));
  status_refused_.AdvanceTo(process_table_->refused());
  agent_metrics_->UpdateLogCounters();
}

// The parts are released in the order the members' destruction would release them (agent.h);
// between two releases, what the next part still needs is done.
void Agent::Drain() {
  log::Info("shutting down: draining events");
  agent_metrics_->SetReady(false);
  health_->SetProbesAttached(false);
  if (kubernetes_) kubernetes_->RequestStop();  // winds down while the rest drains
  tls_.reset();
  probes_->DetachPrograms();  // first, so no new events arrive while we drain
  FinalKernelRedPass();
  probes_.reset();
  (void)reader_->PollAndDrain(0);
  tracker_->Sweep(kEndOfTime);  // finalize everything still pending
  if (assembler_) assembler_->FlushAll();
  agent_metrics_->FlushPending();  // before the exporters' final push
  if (span_exporter_) span_exporter_->Shutdown(kExporterShutdownTimeout);
  if (metric_exporter_) metric_exporter_->Shutdown(kExporterShutdownTimeout);
}

// Counts what is still in flight before the maps go away with the probes.
void Agent::FinalKernelRedPass() {
  if (!kernel_red_) return;
  if (absl::Status status = probes_->RunRedTimeouts(/*all=*/true); !status.ok()) {
    log::Warn("kernel RED final pass failed", {{"error", status.message()}});
  }
  kernel_red_->Collect(clock_.MonotonicNs());
}

}  // namespace loupe
