// The daemon: owns capture, tracking, metrics, exporters and the admin endpoint, runs the event
// loop on the calling thread until a stop is requested, then drains and shuts everything down in
// order.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "exporters/otlp/otlp_config.h"
#include "userspace/config/config.h"
#include "userspace/core/clock.h"
#include "userspace/core/service_resources.h"
#include "userspace/kernel_red/red_key.h"
#include "userspace/metrics/metric_registration.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace loupe {

class AdminServer;
class AgentMetrics;
class CaptureProbes;
class ExcludedProcessMap;
class ConnTracker;
class FanOutSpanSink;
class FeatureReport;
class HealthState;
class JsonLinesSpanSink;
class KubernetesSource;
class KernelFeatures;
class KernelRedMaps;
class KernelRedTable;
class OtlpMetricExporter;
class OtlpSpanExporter;
class Pipeline;
class PodInfoSeries;
class ProcessExclusion;
class ProcessInfoCache;
class ProcessSelector;
class ProcessTable;
class RedMetrics;
class RingReader;
class SpanAssembler;
class TlsMetrics;

// Checks that can fail before anything is started: privileges, kernel BTF.
absl::Status CheckHostPrerequisites();

// One agent: every part it starts, owned so that destroying the Agent stops them in a safe order.
//
// Members are declared in dependency order: a part is declared after everything it uses, so
// C++ destroys it before them. That order is also the shutdown order Run() follows when a stop
// is requested (TLS uprobes, probes, ring, tracker, spans, exporters, admin endpoint): Run()
// only adds the work between two releases (final passes, draining, flushing). A start-up that
// fails half-way, or a Run() that fails, leaves the rest to the destructor in the same order.
class Agent {
 public:
  // Starts every part, in this order: heap tuning, the admin endpoint, the span output (OTLP
  // exporter, --print_spans, assembler), the Kubernetes pod watch, the record path (RED metrics, process identities,
  // pipeline), the OTLP metric exporter, the tracker, the capture (kernel feature probe, probes,
  // kernel RED, connections open before start, TLS uprobes, ring reader). An error names the
  // part that could not start; what had started is stopped again.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(const Config& config);
  ~Agent();

  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs the event loop until *stop becomes true, then drains and shuts down. Returns an error
  // (and does not drain) if reading the ring buffer fails.
  absl::Status Run(const std::atomic<bool>* stop);

 private:
  class EventDispatcher;
  class TlsCapture;
  class TlsUnseen;

  explicit Agent(const Config& config);

  absl::Status StartAdmin();
  absl::Status ResolveOtlpConfig();
  absl::Status BuildSpanOutput();
  absl::Status StartKubernetes();
  void BuildRecordPath();
  absl::Status StartMetricExport();
  void BuildTracker();
  absl::Status StartCapture();
  absl::Status StartKernelRed();
  void LearnPreexisting();
  absl::Status StartSelection();
  void StartTls(const KernelFeatures& features);

  // One pass of the loop after the ring was drained.
  void OnPolled(uint64_t now_ns);
  // Every kHousekeepingIntervalNs: timeouts, kernel counters, the agent's own gauges.
  void Housekeeping(uint64_t now_ns);
  void PublishOwnGauges();
  // The stop: no new events, everything in flight reported, exporters flushed.
  void Drain();
  void FinalKernelRedPass();

  const Config config_;
  // The one source of time; every part that reads the time is given it, so it outlives them.
  const RealClock clock_;
  OtlpConfig otlp_;  // OTEL_* variables with the config's endpoint folded in
  // The loop's own state (monotonic ns).
  bool started_ = false;
  uint64_t next_housekeeping_ns_ = 0;
  uint64_t next_heap_trim_ns_ = 0;

  // Everything registers its metrics here; shared with the admin endpoint and the exporters.
  std::shared_ptr<prometheus::Registry> registry_;
  // Every part counts into it; its values are published until the very end.
  std::unique_ptr<AgentMetrics> agent_metrics_;
  // Read by the admin endpoint, written by the loop and the feature report.
  std::unique_ptr<HealthState> health_;
  // The process table behind /status: written on the event thread by the pipeline, TLS and the
  // start-up learner, its snapshot read by the admin endpoint.
  std::unique_ptr<ProcessTable> process_table_;
  prometheus::Gauge* status_processes_ = nullptr;
  MirroredCounter status_refused_;
  // Serves /metrics and /health/* while anything else still runs, so it goes after all of them.
  std::unique_ptr<AdminServer> admin_;

  // Each service's workload-level resource: RED metrics fill it, the OTLP metric exporter reads
  // it, so it outlives both.
  ServiceResources service_resources_;
  // The exporters are shut down after the final flush (Drain), so they outlive what feeds them.
  std::unique_ptr<OtlpMetricExporter> metric_exporter_;
  std::unique_ptr<OtlpSpanExporter> span_exporter_;
  std::unique_ptr<JsonLinesSpanSink> span_printer_;  // --print_spans
  // Both span outputs behind one sink; empty when there is neither (then no assembler).
  std::unique_ptr<FanOutSpanSink> span_sink_;
  // Null without a span output. Flushed in Drain after the tracker's last records.
  std::unique_ptr<SpanAssembler> assembler_;

  std::unique_ptr<RedMetrics> red_metrics_;
  // This node's pods (userspace/k8s/), watched on its own thread; null outside Kubernetes.
  // Process identities read its directory, so it outlives them.
  std::unique_ptr<KubernetesSource> kubernetes_;
  // Pod-level info series (Kubernetes only): reads kubernetes_' directory and is told by
  // processes_ of each resource, so it sits between them.
  std::unique_ptr<PodInfoSeries> pod_info_;
  std::unique_ptr<ProcessInfoCache> processes_;
  // Kernel RED (--metrics_only): a key source of the tracker and a counted-record stage of the
  // pipeline. The table reads and writes the probes' maps through kernel_red_maps_, which holds
  // its own duplicates of their fds. The pipeline may still teach the table while the tracker
  // drains after the probes are gone, so all three outlive the pipeline and the tracker.
  KernelRedKeySource kernel_red_keys_;
  std::unique_ptr<KernelRedMaps> kernel_red_maps_;
  std::unique_ptr<KernelRedTable> kernel_red_;
  // Process selection: the rules, the kernel map of excluded processes (its own fd duplicates,
  // so it may outlive the probes), and the pipeline's exclusion stage over both.
  std::unique_ptr<ProcessSelector> selector_;
  std::unique_ptr<ExcludedProcessMap> excluded_map_;
  std::unique_ptr<ProcessExclusion> exclusion_;
  std::unique_ptr<Pipeline> pipeline_;  // uses the metrics, processes, assembler and kernel RED
  std::unique_ptr<ConnTracker> tracker_;  // reports to the pipeline
  std::unique_ptr<EventDispatcher> dispatcher_;  // feeds the tracker
  std::unique_ptr<FeatureReport> feature_report_;

  // Drained once more after the probes are gone (its buffers are mapped, not borrowed), so it
  // outlives them.
  std::unique_ptr<RingReader> reader_;
  // The BPF object: its programs, maps and ring buffers. Detached first in Drain, so no new
  // events arrive while the rest drains.
  std::unique_ptr<CaptureProbes> probes_;
  std::unique_ptr<TlsMetrics> tls_metrics_;  // written by the TLS attacher
  // Goes first: the uprobes' links must go before the object holding their programs, and the
  // tracker must forget it as its TLS observer before it goes (issue 20: a use-after-free on
  // every stop with TLS traffic). Null when uprobes are refused or the attacher failed.
  std::unique_ptr<TlsCapture> tls_;
  // Instead of tls_ when uprobes are refused or the attacher failed: tells /status which
  // processes have TLS the agent cannot read for that reason.
  std::unique_ptr<TlsUnseen> tls_unseen_;
};

}  // namespace loupe
