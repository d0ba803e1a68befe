#include "userspace/daemon/agent.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "userspace/admin/admin_server.h"
#include "userspace/admin/health.h"
#include "userspace/conn/conn_tracker.h"
#include "userspace/core/status_macros.h"
#include "userspace/daemon/pipeline.h"
#include "userspace/loader/capture_event.h"
#include "userspace/loader/capture_probes.h"
#include "userspace/loader/ring_reader.h"
#include "userspace/logging/log.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/metrics/red_metrics.h"
#include "userspace/process/process_info.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace loupe {
namespace {

constexpr uint64_t kHousekeepingIntervalNs = 200'000'000;

bool HasCapability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

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

}  // namespace

absl::Status CheckHostPrerequisites() {
  if (geteuid() != 0 && !(HasCapability(CAP_BPF) && HasCapability(CAP_PERFMON))) {
    return absl::PermissionDeniedError(
        "loupe must run as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and "
        "CAP_DAC_READ_SEARCH): try `sudo loupe`");
  }
  if (!std::filesystem::exists("/sys/kernel/btf/vmlinux")) {
    return absl::FailedPreconditionError(
        "kernel BTF not found at /sys/kernel/btf/vmlinux: Loupe needs a kernel built with "
        "CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.8 are)");
  }
  return absl::OkStatus();
}

absl::Status RunAgent(const Config& config, const std::atomic<bool>* stop) {
  auto registry = std::make_shared<prometheus::Registry>();
  AgentMetrics agent_metrics(*registry);
  HealthState health;

  LOUPE_ASSIGN_OR_RETURN(
      std::unique_ptr<AdminServer> admin,
      AdminServer::Create(config.listen_address, registry, &health,
                          [&agent_metrics] { agent_metrics.UpdateProcessMetrics(); }));

  RedMetrics red_metrics(*registry, &agent_metrics, config.series_budget_per_service);
  ProcessInfoCache processes(HostName(), config.process_cache_size);
  Pipeline pipeline(&processes, &red_metrics, config.exclude_processes, nullptr);
  ConnTrackerOptions tracker_options;
  tracker_options.max_connections = config.max_connections;
  tracker_options.pending_timeout_ns = uint64_t{config.pending_timeout_ms} * 1'000'000;
  ConnTracker tracker(tracker_options, &pipeline, &agent_metrics);
  EventDispatcher dispatcher(&tracker, &agent_metrics);

  CaptureOptions capture_options;
  capture_options.max_connections = config.max_connections;
  capture_options.ringbuf_mib = config.ringbuf_mib;
  capture_options.self_tgid = static_cast<uint32_t>(getpid());
  capture_options.force_raw_tracepoint = config.force_raw_tracepoint;
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<CaptureProbes> probes,
                         CaptureProbes::Create(capture_options));
  log::Info("tracefs not needed: syscalls are captured through BTF/raw tracepoints",
            {{"hook", HookKindName(probes->hook())}});
  agent_metrics.SetProbesAttached(HookKindName(probes->hook()), 1);
  health.SetProbesAttached(true);

  LOUPE_ASSIGN_OR_RETURN(
      std::unique_ptr<RingReader> reader,
      RingReader::Create(probes->events_fd(), probes->ringbuf_bytes(), &dispatcher));

  uint64_t next_housekeeping = 0;
  bool started = false;
  while (!stop->load()) {
    absl::StatusOr<int> read = reader->PollAndDrain(static_cast<int>(config.poll_interval_ms));
    if (!read.ok()) return read.status();
    const uint64_t now = MonotonicNowNs();
    health.Heartbeat(now);
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
      agent_metrics.UpdateKernelCounters(probes->ReadCounters());
      agent_metrics.SetRingbufFill(reader->FillRatio());
    }
  }

  log::Info("shutting down: draining events");
  agent_metrics.SetReady(false);
  health.SetProbesAttached(false);
  probes.reset();  // detach first so no new events arrive while we drain
  (void)reader->PollAndDrain(0);
  tracker.Sweep(UINT64_MAX / 2);  // finalize everything still pending
  return absl::OkStatus();
}

}  // namespace loupe
