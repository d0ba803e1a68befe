#include "userspace/loader/capture_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bpf/capture.skel.h"
#include "userspace/loader/ring_layout.h"
#include "userspace/loader/selection_maps.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

static_assert(sizeof(loupe_tuple) == 40, "ABI: loupe_tuple layout changed");
static_assert(sizeof(loupe_exchange_totals) == 72, "ABI: loupe_exchange_totals layout changed");
static_assert(sizeof(loupe_event_header) == 192, "ABI: loupe_event_header layout changed");
// flags (TLS, bpf/tls.bpf.h) took an explicit padding slot; the conn value grew by 8 bytes.
static_assert(offsetof(loupe_event_header, flags) == 140, "ABI: loupe_event_header.flags moved");
static_assert(sizeof(loupe_conn) == 1232, "ABI: loupe_conn layout changed");
static_assert(offsetof(loupe_conn, flags) == 136, "ABI: loupe_conn.flags moved");
static_assert(offsetof(loupe_conn, ring) == 140, "ABI: loupe_conn.ring moved");
static_assert(sizeof(loupe_exchange_event) ==
                  sizeof(loupe_event_header) + LOUPE_REQ_CAP + LOUPE_RESP_CAP,
              "ABI: loupe_exchange_event must have no tail padding");

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  char buffer[1024];
  int n = vsnprintf(buffer, sizeof(buffer), format, args);
  std::string_view text(buffer, n > 0 ? std::min<size_t>(n, sizeof(buffer) - 1) : 0);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (level == LIBBPF_WARN) {
    log::Warn("libbpf", {{"detail", text}});
  } else {
    log::Debug("libbpf", {{"detail", text}});
  }
  return 0;
}

// Which programs a load attempt includes: one of the two sys_exit programs, the matching
// process-exit program if the feature probe found bpf_loop usable, and with kernel_red the
// timeout pass the probe chose.
struct LoadPlan {
  HookKind hook = HookKind::kTpBtf;
  bool exit_probe = true;
};

std::string PlanName(const LoadPlan& plan) {
  return absl::StrCat(HookKindName(plan.hook), plan.exit_probe ? " with" : " without",
                      " the process-exit probe");
}

// The programs a plan attaches, capture first.
std::vector<bpf_program*> PlannedPrograms(const capture* skel, const LoadPlan& plan) {
  const bool btf = plan.hook == HookKind::kTpBtf;
  std::vector<bpf_program*> programs = {btf ? skel->progs.loupe_sys_exit_btf
                                            : skel->progs.loupe_sys_exit_raw};
  if (plan.exit_probe) {
    programs.push_back(btf ? skel->progs.loupe_process_exit_btf
                           : skel->progs.loupe_process_exit_raw);
  }
  return programs;
}

bpf_program* RedTimeoutProgram(const capture* skel, RedTimeoutPass pass) {
  return pass == RedTimeoutPass::kMapElemIterator ? skel->progs.loupe_red_timeouts
                                                  : skel->progs.loupe_red_timeouts_walk;
}

// The inode of the agent's network namespace: a scrape of its port comes from the same one.
uint32_t SelfNetnsInode() {
  struct stat st {};
  return stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

// Opens, configures and loads the skeleton with exactly the programs of `plan`.
absl::StatusOr<capture*> OpenAndLoad(const CaptureOptions& options, const RingLayout& rings,
                                     const LoadPlan& plan, RedTimeoutPass red_pass) {
  capture* skel = capture__open();
  if (skel == nullptr) {
    return absl::InternalError(absl::StrCat("opening the BPF object failed: ", strerror(errno)));
  }
  skel->rodata->self_tgid = options.self_tgid;
  skel->rodata->observe_self = options.observe_self ? 1 : 0;
  skel->rodata->self_exports = options.self_exports ? 1 : 0;
  skel->rodata->self_listen_port = options.self_listen_port;
  skel->rodata->self_netns = SelfNetnsInode();
  // A forced wakeup must come well before one ring fills.
  skel->rodata->wakeup_bytes = std::min(options.wakeup_bytes, rings.bytes_each / 4);
  skel->rodata->ring_count = rings.count;
  bpf_map__set_max_entries(skel->maps.conns, options.max_connections);
  bpf_map__set_max_entries(skel->maps.rings, rings.count);
  skel->rodata->red_enabled = options.kernel_red ? 1 : 0;
  skel->rodata->red_timeout_ns = options.red_timeout_ns;
  // Unused maps still take memory: one entry when the mode is off.
  const uint32_t red_entries = options.kernel_red ? options.red_keys : 1;
  bpf_map__set_max_entries(skel->maps.red_keys, red_entries);
  bpf_map__set_max_entries(skel->maps.red_stats, red_entries);
  bpf_map__set_max_entries(skel->maps.excluded_tgids, options.max_excluded_processes);
  skel->rodata->port_rules = PortRulesMode(options.include_ports, options.exclude_ports);
  // Every program not chosen stays out of the load (the TLS uprobes of bpf/tls.bpf.h always
  // load: userspace/tls/ attaches them, or leaves them unattached where uprobes are refused).
  for (bpf_program* program :
       {skel->progs.loupe_sys_exit_btf, skel->progs.loupe_sys_exit_raw,
        skel->progs.loupe_process_exit_btf, skel->progs.loupe_process_exit_raw,
        skel->progs.loupe_red_timeouts, skel->progs.loupe_red_timeouts_walk}) {
    bpf_program__set_autoload(program, false);
  }
  if (options.kernel_red) bpf_program__set_autoload(RedTimeoutProgram(skel, red_pass), true);
  for (bpf_program* planned : PlannedPrograms(skel, plan)) {
    bpf_program__set_autoload(planned, true);
  }
  int err = capture__load(skel);
  if (err != 0) {
    capture__destroy(skel);
    return absl::InternalError(absl::StrCat(
        "loading the capture programs (", PlanName(plan),
        options.kernel_red ? absl::StrCat(", kernel RED timeout pass: ", RedTimeoutPassName(red_pass))
                           : std::string(),
        ") failed: ", ErrnoText(-err), "; the libbpf lines above name the program; `loupe doctor` shows what this kernel "
        "accepts"));
  }
  return skel;
}

// The timeout pass of kernel RED aggregation: an iterator over the connection map.
absl::StatusOr<bpf_link*> AttachRedIterator(const capture* skel) {
  union bpf_iter_link_info info = {};
  info.map.map_fd = static_cast<uint32_t>(bpf_map__fd(skel->maps.conns));
  DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
  opts.link_info = &info;
  opts.link_info_len = sizeof(info);
  bpf_link* link = bpf_program__attach_iter(skel->progs.loupe_red_timeouts, &opts);
  if (link == nullptr) {
    const int err = errno;
    return absl::InternalError(absl::StrCat(
        "attaching the kernel RED timeout iterator (program loupe_red_timeouts, "
        "iter/bpf_map_elem) failed: ",
        ErrnoText(err), "; pass --disable_features=map_elem_iterator to use the triggered map walk"));
  }
  return link;
}

// Creates the rings and puts them in the `rings` slots, before anything attaches: an empty slot
// would lose every event of the connections assigned to it.
absl::StatusOr<std::vector<int>> CreateRings(const capture* skel, const RingLayout& layout) {
  std::vector<int> fds;
  const int outer = bpf_map__fd(skel->maps.rings);
  for (uint32_t index = 0; index < layout.count; ++index) {
    const std::string name = absl::StrCat("loupe_ring", index);
    const int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name.c_str(), 0, 0,
                                  static_cast<uint32_t>(layout.bytes_each), nullptr);
    if (fd >= 0 && bpf_map_update_elem(outer, &index, &fd, BPF_ANY) == 0) {
      fds.push_back(fd);
      continue;
    }
    const int err = errno;  // set by whichever of the two calls failed, nothing in between
    if (fd >= 0) close(fd);
    for (int created : fds) close(created);
    return absl::InternalError(absl::StrCat("creating ring buffer ", index, " of ", layout.count,
                                            " (", layout.bytes_each, " bytes) failed: ",
                                            strerror(err)));
  }
  return fds;
}

}  // namespace

const char* HookKindName(HookKind kind) {
  return kind == HookKind::kTpBtf ? "tp_btf" : "raw_tracepoint";
}

const char* RedTimeoutPassName(RedTimeoutPass pass) {
  return pass == RedTimeoutPass::kMapElemIterator ? "map_elem_iterator" : "triggered_map_walk";
}

std::optional<RedTimeoutPass> ChooseRedTimeoutPass(const KernelFeatures& features) {
  if (features.available(KernelFeature::kMapElemIterator)) return RedTimeoutPass::kMapElemIterator;
  if (features.available(KernelFeature::kTriggeredMapWalk)) return RedTimeoutPass::kTriggeredMapWalk;
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<CaptureProbes>> CaptureProbes::Create(
    const CaptureOptions& options, const KernelFeatures& features) {
  libbpf_set_print(LibbpfPrint);
  if (options.ringbuf_mib == 0 || (options.ringbuf_mib & (options.ringbuf_mib - 1)) != 0) {
    return absl::InvalidArgumentError("--ringbuf_mib must be a power of two (e.g. 8, 16, 32)");
  }
  if (!features.CanCapture()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no syscall hook loads on this kernel: tp_btf ",
        features.result(KernelFeature::kTpBtf).Describe(), "; raw_tracepoint ",
        features.result(KernelFeature::kRawTracepoint).Describe(), ". To change: ",
        features.FixFor(KernelFeature::kRawTracepoint), " (`loupe doctor` has the details)"));
  }
  const std::optional<RedTimeoutPass> chosen_pass = ChooseRedTimeoutPass(features);
  if (options.kernel_red && !chosen_pass.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--metrics_only needs a timeout pass and this kernel refuses both: map_elem_iterator ",
        features.result(KernelFeature::kMapElemIterator).Describe(), "; triggered_map_walk ",
        features.result(KernelFeature::kTriggeredMapWalk).Describe(),
        ". Run without --metrics_only, or: ", features.FixFor(KernelFeature::kTriggeredMapWalk)));
  }
  // Without kernel_red neither pass loads; the value only names one in messages.
  const RedTimeoutPass red_pass = chosen_pass.value_or(RedTimeoutPass::kMapElemIterator);

  // The plans, in order: what the feature probe found, then without the process-exit probe in
  // case the full program (more than the probe's) is refused where the probe was not.
  // Neither needs tracefs.
  const HookKind hook = features.available(KernelFeature::kTpBtf) ? HookKind::kTpBtf
                                                                   : HookKind::kRawTracepoint;
  std::vector<LoadPlan> plans;
  if (features.available(KernelFeature::kProcessExitProbe)) plans.push_back({hook, true});
  plans.push_back({hook, false});
  const RingLayout ring_layout = PlanRings(options.ringbuf_mib, sysconf(_SC_NPROCESSORS_ONLN));
  absl::StatusOr<capture*> skel = absl::InternalError("no load attempted");
  LoadPlan plan;
  for (size_t i = 0; i < plans.size(); ++i) {
    plan = plans[i];
    skel = OpenAndLoad(options, ring_layout, plan, red_pass);
    if (skel.ok()) break;
    if (i + 1 < plans.size()) {
      log::Warn("BPF load failed, falling back", {{"tried", PlanName(plan)},
                                                   {"next", PlanName(plans[i + 1])},
                                                   {"error", skel.status().message()}});
    }
  }
  if (!skel.ok()) return skel.status();
  // Before anything attaches: a connection opened in between would escape the port rules.
  if (absl::Status ports = FillSelectedPorts(bpf_map__fd((*skel)->maps.selected_ports),
                                             options.include_ports, options.exclude_ports);
      !ports.ok()) {
    capture__destroy(*skel);
    return ports;
  }
  absl::StatusOr<std::vector<int>> ring_fds = CreateRings(*skel, ring_layout);
  if (!ring_fds.ok()) {
    capture__destroy(*skel);
    return ring_fds.status();
  }

  bpf_link* red_iterator = nullptr;
  if (options.kernel_red && red_pass == RedTimeoutPass::kMapElemIterator) {
    absl::StatusOr<bpf_link*> attached = AttachRedIterator(*skel);
    if (!attached.ok()) {
      for (int fd : *ring_fds) close(fd);
      capture__destroy(*skel);
      return attached.status();
    }
    red_iterator = *attached;
  }

  std::vector<bpf_link*> links;
  for (bpf_program* program : PlannedPrograms(*skel, plan)) {
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      const int err = errno;
      for (bpf_link* attached : links) bpf_link__destroy(attached);
      if (red_iterator != nullptr) bpf_link__destroy(red_iterator);
      for (int fd : *ring_fds) close(fd);
      capture__destroy(*skel);
      return absl::InternalError(absl::StrCat("attaching ", bpf_program__name(program),
                                              " failed: ", ErrnoText(err),
                                              "; `loupe doctor` shows what this kernel accepts"));
    }
    links.push_back(link);
  }
  log::Info("probes attached", {{"hook", HookKindName(plan.hook)},
                                {"process_exit_probe", plan.exit_probe},
                                {"max_connections", options.max_connections},
                                {"ringbuf_mib", options.ringbuf_mib},
                                {"rings", ring_layout.count},
                                {"ring_bytes", ring_layout.bytes_each},
                                {"kernel_red_aggregation", options.kernel_red},
                                {"port_rules", static_cast<int>(PortRulesMode(
                                                   options.include_ports, options.exclude_ports))},
                                {"kernel_red_timeout_pass",
                                 options.kernel_red ? RedTimeoutPassName(red_pass) : "none"},
                                {"tracefs_required", false}});
  return std::unique_ptr<CaptureProbes>(new CaptureProbes(
      *skel, PlannedPrograms(*skel, plan), std::move(links), plan.hook, std::move(*ring_fds),
      ring_layout.bytes_each, options.kernel_red, red_pass, red_iterator));
}

CaptureProbes::~CaptureProbes() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  if (red_iterator_ != nullptr) bpf_link__destroy(red_iterator_);
  for (int fd : ring_fds_) close(fd);
  capture__destroy(skel_);
  log::Info("probes detached");
}

int CaptureProbes::conns_fd() const { return bpf_map__fd(skel_->maps.conns); }
int CaptureProbes::excluded_tgids_fd() const { return bpf_map__fd(skel_->maps.excluded_tgids); }
bpf_object* CaptureProbes::object() const { return skel_->obj; }
int CaptureProbes::red_keys_fd() const {
  return kernel_red_ ? bpf_map__fd(skel_->maps.red_keys) : -1;
}
int CaptureProbes::red_stats_fd() const {
  return kernel_red_ ? bpf_map__fd(skel_->maps.red_stats) : -1;
}

void CaptureProbes::DetachPrograms() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

absl::Status CaptureProbes::RunRedTimeouts(bool all) const {
  if (!kernel_red_) return absl::OkStatus();
  skel_->bss->red_flush_all = all ? 1 : 0;
  if (red_pass_ == RedTimeoutPass::kTriggeredMapWalk) {
    LIBBPF_OPTS(bpf_test_run_opts, run);
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.loupe_red_timeouts_walk), &run) != 0) {
      const int err = errno;
      return absl::InternalError(absl::StrCat(
          "running the RED timeout walk (program loupe_red_timeouts_walk, BPF_PROG_TEST_RUN): ",
          ErrnoText(err)));
    }
    return absl::OkStatus();
  }
  const int fd = bpf_iter_create(bpf_link__fd(red_iterator_));
  if (fd < 0) {
    const int err = errno;
    return absl::InternalError(absl::StrCat(
        "creating the RED timeout iterator (program loupe_red_timeouts): ", ErrnoText(err)));
  }
  // The program prints nothing: one read runs it over every connection.
  char buffer[64];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
  }
  const int err = errno;
  close(fd);
  if (n < 0) {
    return absl::InternalError(absl::StrCat(
        "running the RED timeout iterator (program loupe_red_timeouts): ", ErrnoText(err)));
  }
  return absl::OkStatus();
}

std::array<uint64_t, LOUPE_CNT_MAX> CaptureProbes::ReadCounters() const {
  std::array<uint64_t, LOUPE_CNT_MAX> totals{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return totals;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  const int fd = bpf_map__fd(skel_->maps.counters);
  for (uint32_t index = 0; index < LOUPE_CNT_MAX; ++index) {
    if (bpf_map_lookup_elem(fd, &index, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[index] += v;
  }
  return totals;
}

ProgramStats CaptureProbes::ReadProgramStats() const {
  ProgramStats stats;
  for (bpf_program* program : programs_) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    const int prog_fd = bpf_program__fd(program);
    if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) continue;
    stats.run_count += info.run_cnt;
    stats.run_time_ns += info.run_time_ns;
    stats.recursion_misses += info.recursion_misses;
  }
  return stats;
}

}  // namespace loupe
