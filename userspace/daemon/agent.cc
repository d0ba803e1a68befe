#include "userspace/daemon/agent.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <malloc.h>

#include <climits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "userspace/admin/admin_server.h"
#include "userspace/admin/health.h"
#include "userspace/conn/conn_tracker.h"
#include "userspace/core/redact.h"
#include "userspace/core/status_macros.h"
#include "userspace/kernel_red/kernel_red_table.h"
#include "userspace/daemon/degradations.h"
#include "userspace/daemon/pipeline.h"
#include "userspace/loader/capture_event.h"
#include "userspace/loader/capture_probes.h"
#include "userspace/loader/kernel_features.h"
#include "userspace/loader/preexisting_connections.h"
#include "userspace/loader/ring_reader.h"
#include "userspace/logging/log.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"
#include "userspace/protocols/registry.h"
#include "userspace/tls/tls_attacher.h"
#include "userspace/tls/tls_metrics.h"
#include "userspace/spans/clock.h"
#include "userspace/spans/fan_out_sink.h"
#include "userspace/spans/span_assembler.h"
#include "exporters/otlp/json_lines_span_sink.h"
#include "exporters/otlp/otlp_config.h"
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

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// Decodes ring-buffer records and feeds the tracker; runs on the event thread.
class EventDispatcher : public RawEventHandler {
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

}  // namespace

absl::Status CheckHostPrerequisites() {
  // Capabilities, not the uid: root with CAP_BPF dropped cannot load anything either.
  LOUPE_RETURN_IF_ERROR(CheckCoreCapabilities(ReadHeldCapabilities()));
  return CheckKernelBtf();
}

namespace {

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

}  // namespace

absl::Status RunAgent(const Config& config, const std::atomic<bool>* stop) {
  mallopt(M_ARENA_MAX, kMallocArenas);  // before any thread starts
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold);
  auto registry = std::make_shared<prometheus::Registry>();
  std::vector<std::string> protocol_names;
  for (const auto& protocol : AllProtocols()) protocol_names.emplace_back(protocol->name());
  AgentMetrics agent_metrics(*registry, protocol_names);
  HealthState health;

  LOUPE_ASSIGN_OR_RETURN(
      std::unique_ptr<AdminServer> admin,
      AdminServer::Create(config.listen_address, registry, &health,
                          [&agent_metrics] { agent_metrics.UpdateProcessMetrics(); }));

  LOUPE_ASSIGN_OR_RETURN(OtlpConfig otlp, OtlpConfigFromEnv(ProcessEnvLookup));
  ApplyBaseEndpoint(config, &otlp);

  // Span sinks: OTLP when an endpoint is configured, JSON lines with --print_spans, else none
  // (then no span is assembled at all).
  std::unique_ptr<OtlpSpanExporter> span_exporter;
  if (config.metrics_only && otlp.traces_enabled()) {
    log::Info("spans not exported: --metrics_only builds none",
              {{"endpoint", RedactUrlCredentials(otlp.traces_endpoint)}});
  } else if (otlp.traces_enabled()) {
    OtlpSpanExporterOptions span_export_options;
    span_export_options.queue_capacity = kSpanQueueCapacity;
    LOUPE_ASSIGN_OR_RETURN(span_exporter,
                           OtlpSpanExporter::Create(otlp, *registry, span_export_options));
    log::Info("exporting spans over OTLP", {{"endpoint", RedactUrlCredentials(otlp.traces_endpoint)}});
  }
  std::unique_ptr<JsonLinesSpanSink> span_printer;
  if (config.print_spans) span_printer = std::make_unique<JsonLinesSpanSink>(stdout);
  std::vector<SpanSink*> span_sinks;
  if (span_exporter) span_sinks.push_back(span_exporter.get());
  if (span_printer) span_sinks.push_back(span_printer.get());
  FanOutSpanSink span_sink(span_sinks);
  MonotonicToUnix clock;
  SpanAssemblerOptions assembler_options;
  assembler_options.window_ns = uint64_t{config.pending_timeout_ms} * 1'000'000 + 500'000'000;
  assembler_options.max_buffered = kSpanAssemblerBuffer;
  std::unique_ptr<SpanAssembler> assembler;
  if (!span_sinks.empty()) {
    assembler = std::make_unique<SpanAssembler>(assembler_options, &span_sink, *registry, &clock);
  }

  RedMetrics red_metrics(*registry, &agent_metrics, config.series_budget_per_service,
                         config.max_series);
  ProcessInfoCache processes(HostName(), config.process_cache_size, ReadProcessFacts,
                             otlp.resource_attributes, config.export_command_line);
  Pipeline pipeline(&processes, &red_metrics, config.exclude_processes, assembler.get());

  std::unique_ptr<OtlpMetricExporter> metric_exporter;
  if (otlp.metrics_enabled()) {
    LOUPE_ASSIGN_OR_RETURN(metric_exporter,
                           OtlpMetricExporter::Create(otlp, *registry, *registry));
    LOUPE_RETURN_IF_ERROR(metric_exporter->Start());
    log::Info("exporting metrics over OTLP", {{"endpoint", RedactUrlCredentials(otlp.metrics_endpoint)}});
  }
  ConnTrackerOptions tracker_options;
  tracker_options.max_connections = config.max_connections;
  tracker_options.pending_timeout_ns = uint64_t{config.pending_timeout_ms} * 1'000'000;
  tracker_options.span_attributes = assembler != nullptr;
  ConnTracker tracker(tracker_options, &pipeline, &agent_metrics);
  EventDispatcher dispatcher(&tracker, &agent_metrics);

  // Each optional kernel feature, probed on its own: what loads decides what the capture uses.
  const KernelFeatures features = KernelFeatures::Probe(DisabledFeatures(config));
  FeatureReport feature_report(*registry, &health);
  feature_report.Publish(features);

  CaptureOptions capture_options;
  capture_options.max_connections = config.max_connections;
  capture_options.ringbuf_mib = config.ringbuf_mib;
  capture_options.self_tgid = static_cast<uint32_t>(getpid());
  capture_options.observe_self = config.observe_self;
  capture_options.self_exports = otlp.traces_enabled() || otlp.metrics_enabled();
  capture_options.self_listen_port = static_cast<uint16_t>(admin->port());
  capture_options.kernel_red = config.metrics_only;
  capture_options.red_keys = config.metrics_only_keys;
  capture_options.red_timeout_ns = tracker_options.pending_timeout_ns;
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<CaptureProbes> probes,
                         CaptureProbes::Create(capture_options, features));
  log::Info("tracefs not needed: syscalls are captured through BTF/raw tracepoints",
            {{"hook", HookKindName(probes->hook())}});
  agent_metrics.SetProbesAttached(HookKindName(probes->hook()),
                                  static_cast<int>(probes->attached_programs()));
  std::unique_ptr<KernelRedMaps> kernel_red_maps;
  std::unique_ptr<KernelRedTable> kernel_red;
  if (config.metrics_only) {
    kernel_red_maps = MakeBpfKernelRedMaps(probes->red_keys_fd(), probes->red_stats_fd());
    KernelRedOptions red_options;
    red_options.capacity = config.metrics_only_keys;
    // Past the kernel's own timeout pass, no exchange of a dead process can still be counted.
    red_options.reclaim_delay_ns = 2 * capture_options.red_timeout_ns + kHousekeepingIntervalNs;
    kernel_red = std::make_unique<KernelRedTable>(
        red_options, kernel_red_maps.get(), *registry,
        [](uint32_t tgid) { return ProcessAlive("/proc", tgid); });
    pipeline.set_kernel_red(kernel_red.get());
    log::Info("metrics-only mode: learned HTTP/1 exchanges are counted in the kernel",
              {{"keys", config.metrics_only_keys},
               {"timeout_pass", RedTimeoutPassName(probes->red_timeout_pass())}});
  }
  const PreexistingResult preexisting = LearnPreexistingConnections(
      probes->conns_fd(), capture_options.self_tgid, config.max_connections / 2);
  agent_metrics.SetPreexistingConnections(preexisting.learned);
  log::Info("connections open before start learned; each is ignored until a clean request "
            "boundary",
            {{"learned", preexisting.learned}, {"table_full", preexisting.table_full}});

  // TLS plaintext: uprobes on every libssl file in use, rescanned periodically (docs/tls.md).
  // Without them HTTPS is still counted as TLS, just not parsed: degrade, do not fail.
  TlsMetrics tls_metrics(*registry);
  TlsAttacherOptions tls_options;
  tls_options.self_pid = getpid();
  absl::StatusOr<std::unique_ptr<TlsAttacher>> tls =
      features.available(KernelFeature::kUprobes)
          ? TlsAttacher::Create(probes->object(), &tls_metrics, tls_options)
          : absl::FailedPreconditionError("uprobes refused (see the degradation above)");
  if (!tls.ok() && features.available(KernelFeature::kUprobes)) {
    feature_report.Degrade({"tls_attacher",
                            absl::StrCat("TLS plaintext capture could not start (",
                                         tls.status().message(),
                                         "): HTTPS is counted as TLS connections, not parsed"),
                            "see the error; `loupe doctor` checks uprobes"});
  } else if (tls.ok()) {
    tracker.set_tls_observer(tls->get());
  }
  health.SetProbesAttached(true);

  LOUPE_ASSIGN_OR_RETURN(
      std::unique_ptr<RingReader> reader,
      RingReader::Create(probes->ring_fds(), probes->ring_bytes(), &dispatcher));

  uint64_t next_housekeeping = 0;
  uint64_t next_heap_trim = 0;
  bool started = false;
  while (!stop->load()) {
    absl::StatusOr<int> read = reader->PollAndDrain(static_cast<int>(config.poll_interval_ms));
    agent_metrics.FlushPending();  // also publishes what the previous housekeeping counted
    if (!read.ok()) return read.status();
    const uint64_t now = MonotonicNowNs();
    health.Heartbeat(now);
    if (assembler) assembler->set_now_ns(now);
    if (!started) {
      health.SetStarted();
      agent_metrics.SetReady(true);
      log::Info("agent ready", {{"listen_address", config.listen_address}});
      started = true;
    }
    if (now >= next_housekeeping) {
      next_housekeeping = now + kHousekeepingIntervalNs;
      pipeline.set_now_ns(now);
      tracker.Sweep(now);
      if (kernel_red) {
        if (absl::Status status = probes->RunRedTimeouts(); !status.ok()) {
          log::Warn("kernel RED timeout pass failed", {{"error", status.message()}});
        }
        kernel_red->Collect(now);
      }
      if (assembler) assembler->Flush(now);
      const auto kernel_counters = probes->ReadCounters();  // one map read per CPU per counter
      agent_metrics.UpdateKernelCounters(kernel_counters);
      agent_metrics.SetProbeRecursionMisses(probes->ReadProgramStats().recursion_misses);
      tls_metrics.UpdateKernelCounters(kernel_counters);
      agent_metrics.SetRingbufFill(reader->FillRatio());
      for (const auto& [instrument, name] :
           {std::pair{Instrument::kHttpServer, "http_server"},
            std::pair{Instrument::kHttpClient, "http_client"},
            std::pair{Instrument::kDbClient, "db_client"}}) {
        agent_metrics.SetMetricSeries(name, red_metrics.series(instrument),
                                      red_metrics.services(instrument));
      }
      agent_metrics.SetSpansBuffered(assembler ? assembler->buffered() : 0);
      agent_metrics.UpdateLogCounters();
      if (now >= next_heap_trim) {
        next_heap_trim = now + kHeapTrimIntervalNs;
        malloc_trim(0);
      }
      agent_metrics.SetProcessCacheEntries(processes.size());
      if (tls.ok()) (*tls)->Poll(now);  // picks up new libssl files (rescans /proc every 2 s)
    }
  }

  log::Info("shutting down: draining events");
  agent_metrics.SetReady(false);
  health.SetProbesAttached(false);
  if (tls.ok()) {
    // The uprobes' links go before the object holding their programs, so the attacher goes now;
    // the tracker calls it as its TLS observer while it drains below, so it forgets it first
    // (issue 20: a use-after-free on every stop with TLS traffic).
    tracker.set_tls_observer(nullptr);
    tls->reset();
  }
  probes->DetachPrograms();  // first, so no new events arrive while we drain
  if (kernel_red) {
    // Count what is still in flight before the maps go away with the probes.
    if (absl::Status status = probes->RunRedTimeouts(/*all=*/true); !status.ok()) {
      log::Warn("kernel RED final pass failed", {{"error", status.message()}});
    }
    kernel_red->Collect(MonotonicNowNs());
  }
  probes.reset();
  (void)reader->PollAndDrain(0);
  tracker.Sweep(UINT64_MAX / 2);  // finalize everything still pending
  if (assembler) assembler->Flush(UINT64_MAX / 2);
  agent_metrics.FlushPending();  // before the exporters' final push
  if (span_exporter) span_exporter->Shutdown(absl::Seconds(5));
  if (metric_exporter) metric_exporter->Shutdown(absl::Seconds(5));
  return absl::OkStatus();
}

}  // namespace loupe
