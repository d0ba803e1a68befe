#include "userspace/loader/kernel_features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <bpf/btf.h>

#include "bpf/probe.skel.h"
#include "userspace/logging/log.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

// The uprobe probe attaches here: a function of the agent's own executable that nothing calls,
// found through the process's own mappings so that a stripped binary works as well.
extern "C" __attribute__((noinline, used)) void loupe_uprobe_probe_target() {
  asm volatile("" ::: "memory");
}

namespace loupe {
namespace {

constexpr int kEnotsupp = 524;  // the kernel's ENOTSUPP, which has no userspace name

// Which program or map of the probe skeleton a probe uses.
using ProgramOf = bpf_program* (*)(probe*);
using MapOf = bpf_map* (*)(probe*);

struct FeatureEntry {
  KernelFeature feature;
  std::string_view name;
  KernelFeatureInfo info;
};

constexpr FeatureEntry kFeatures[kKernelFeatureCount] = {
    {KernelFeature::kTpBtf, "tp_btf",
     {"the syscall hook (BTF tracepoint on sys_exit), the cheapest one",
      "raw tracepoints on sys_exit: the same capture, about 75 ns more per syscall",
      "CAP_BPF, CAP_PERFMON", "5.5"}},
    {KernelFeature::kRawTracepoint, "raw_tracepoint",
     {"the syscall hook where BTF tracepoints are refused",
      "nothing: without either syscall hook Loupe cannot capture and does not start",
      "CAP_BPF, CAP_PERFMON", "4.17"}},
    {KernelFeature::kProcessExitProbe, "process_exit_probe",
     {"ending the connections of processes that exit without close(2), with their true totals",
      "such connections end by the pending timeout (--pending_timeout_ms) and stay in the "
      "kernel's connection map until it is full (counted as conn_table_full)",
      "CAP_BPF, CAP_PERFMON", "5.17 (bpf_loop)"}},
    {KernelFeature::kMapElemIterator, "map_elem_iterator",
     {"the --metrics_only timeout pass: counts kernel-aggregated exchanges of quiet connections",
      "the triggered map walk (same pass, same exact counts, one BPF_PROG_TEST_RUN)",
      "CAP_BPF, CAP_PERFMON", "5.9"}},
    {KernelFeature::kTriggeredMapWalk, "triggered_map_walk",
     {"the --metrics_only timeout pass where the map-element iterator is refused",
      "with the iterator refused too, --metrics_only cannot start (the default mode works)",
      "CAP_BPF, CAP_PERFMON", "5.13 (bpf_for_each_map_elem)"}},
    {KernelFeature::kUprobes, "uprobes",
     {"HTTPS and TLS-wrapped database plaintext, read at libssl's SSL_read/SSL_write",
      "TLS connections are counted (loupe_tls_connections_not_visible) but not parsed: no "
      "HTTPS metrics or spans",
      "CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN (uprobes need it again on current kernels)", "4.17"}},
    {KernelFeature::kFentry, "fentry",
     {"nothing yet: reported because it allows cheaper per-function hooks than sys_exit",
      "nothing changes: the tracepoint hooks are used", "CAP_BPF, CAP_PERFMON", "5.5"}},
    {KernelFeature::kSockOps, "sock_ops",
     {"nothing yet: planned for injecting traceparent into outgoing requests",
      "nothing changes today", "CAP_BPF, CAP_NET_ADMIN, a writable cgroup v2 hierarchy",
      "4.13"}},
    {KernelFeature::kSkMsg, "sk_msg",
     {"nothing yet: planned for injecting traceparent into outgoing requests",
      "nothing changes today", "CAP_BPF, CAP_NET_ADMIN", "4.17"}},
};

const FeatureEntry& EntryFor(KernelFeature feature) {
  return kFeatures[static_cast<size_t>(feature)];
}

bool HasCapability(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

// libbpf explains every refused probe at warning level; those refusals are results here, so
// they go to debug while probing.
int QuietLibbpfPrint(enum libbpf_print_level, const char* format, va_list args) {
  char buffer[512];
  const int n = vsnprintf(buffer, sizeof(buffer), format, args);
  std::string_view text(buffer, n > 0 ? std::min<size_t>(n, sizeof(buffer) - 1) : 0);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  log::Debug("libbpf (feature probe)", {{"detail", text}});
  return 0;
}

class QuietLibbpf {
 public:
  QuietLibbpf() : previous_(libbpf_set_print(QuietLibbpfPrint)) {}
  ~QuietLibbpf() { libbpf_set_print(previous_); }

 private:
  libbpf_print_fn_t previous_;
};

FeatureProbeResult Refused(KernelFeature feature, const char* step, int error) {
  FeatureProbeResult result;
  result.feature = feature;
  result.outcome = ProbeOutcome::kRefused;
  result.step = step;
  result.error = error > 0 ? error : EINVAL;
  return result;
}

FeatureProbeResult Available(KernelFeature feature, std::string note = "") {
  FeatureProbeResult result;
  result.feature = feature;
  result.outcome = ProbeOutcome::kAvailable;
  result.note = std::move(note);
  return result;
}

struct ProbeDeleter {
  void operator()(probe* skel) const { probe__destroy(skel); }
};
using ProbeSkeleton = std::unique_ptr<probe, ProbeDeleter>;

// Opens the probe object and loads exactly one of its programs (and only the maps named).
// Returns null with errno set on failure; `step` says which step failed.
ProbeSkeleton LoadOne(ProgramOf program, std::initializer_list<MapOf> maps, const char** step) {
  *step = "open";
  ProbeSkeleton skel(probe__open());
  if (!skel) return nullptr;
  bpf_object* object = skel->obj;
  bpf_program* chosen = program(skel.get());
  bpf_program* each = nullptr;
  bpf_object__for_each_program(each, object) bpf_program__set_autoload(each, each == chosen);
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, object) {
    const bool wanted = std::any_of(maps.begin(), maps.end(),
                                    [&](MapOf map_of) { return map_of(skel.get()) == map; });
    // .rodata/.bss of the object are not used by any probe program.
    bpf_map__set_autocreate(map, wanted);
  }
  *step = "load";
  const int err = probe__load(skel.get());
  if (err != 0) {
    errno = -err;
    return nullptr;
  }
  return skel;
}

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// Loads one program and attaches it the way its section says (tracepoints, fentry).
FeatureProbeResult ProbeAutoAttach(KernelFeature feature, ProgramOf program) {
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne(program, {}, &step);
  if (!skel) return Refused(feature, step, errno);
  Link link(bpf_program__attach(program(skel.get())));
  if (!link) return Refused(feature, "attach", errno);
  return Available(feature);
}

FeatureProbeResult ProbeMapElemIterator() {
  const KernelFeature feature = KernelFeature::kMapElemIterator;
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne([](probe* p) { return p->progs.probe_map_elem_iter; }, {MapOf([](probe* p) { return p->maps.probe_map; })},
                               &step);
  if (!skel) return Refused(feature, step, errno);
  union bpf_iter_link_info info = {};
  info.map.map_fd = static_cast<uint32_t>(bpf_map__fd(skel->maps.probe_map));
  DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
  opts.link_info = &info;
  opts.link_info_len = sizeof(info);
  Link link(bpf_program__attach_iter(skel->progs.probe_map_elem_iter, &opts));
  if (!link) return Refused(feature, "attach", errno);
  const int fd = bpf_iter_create(bpf_link__fd(link.get()));
  if (fd < 0) return Refused(feature, "run", errno);
  char buffer[8];
  const ssize_t n = read(fd, buffer, sizeof(buffer));
  const int err = errno;
  close(fd);
  if (n < 0) return Refused(feature, "run", err);
  return Available(feature);
}

FeatureProbeResult ProbeTriggeredMapWalk() {
  const KernelFeature feature = KernelFeature::kTriggeredMapWalk;
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne([](probe* p) { return p->progs.probe_triggered_walk; },
                               {MapOf([](probe* p) { return p->maps.probe_map; })}, &step);
  if (!skel) return Refused(feature, step, errno);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.probe_triggered_walk), &opts) != 0) {
    return Refused(feature, "run", errno);
  }
  return Available(feature);
}

// The file offset of the probe target in the agent's executable, from its own mappings.
bool UprobeTargetOffset(uint64_t* offset) {
  const auto address = reinterpret_cast<uintptr_t>(&loupe_uprobe_probe_target);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset dev inode path
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 6) continue;
    std::vector<std::string> range = absl::StrSplit(fields[0], '-');
    if (range.size() != 2) continue;
    const uintptr_t start = std::strtoull(range[0].c_str(), nullptr, 16);
    const uintptr_t end = std::strtoull(range[1].c_str(), nullptr, 16);
    if (address < start || address >= end) continue;
    const uint64_t file_offset = std::strtoull(fields[2].c_str(), nullptr, 16);
    *offset = address - start + file_offset;
    return true;
  }
  return false;
}

FeatureProbeResult ProbeUprobes() {
  const KernelFeature feature = KernelFeature::kUprobes;
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne([](probe* p) { return p->progs.probe_uprobe; }, {}, &step);
  if (!skel) return Refused(feature, step, errno);
  uint64_t offset = 0;
  if (!UprobeTargetOffset(&offset)) return Refused(feature, "attach", ENOENT);
  DECLARE_LIBBPF_OPTS(bpf_uprobe_opts, opts);
  Link link(bpf_program__attach_uprobe_opts(skel->progs.probe_uprobe, getpid(), "/proc/self/exe",
                                            offset, &opts));
  if (!link) return Refused(feature, "attach", errno);
  return Available(feature);
}

// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid hosts).
std::string Cgroup2Mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() >= 3 && fields[2] == "cgroup2") return fields[1];
  }
  return "";
}

// sock_ops attaches to a cgroup: a fresh, empty child of the cgroup v2 root, so that nothing on
// the host runs the probe program.
FeatureProbeResult ProbeSockOps() {
  const KernelFeature feature = KernelFeature::kSockOps;
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne([](probe* p) { return p->progs.probe_sock_ops; }, {}, &step);
  if (!skel) return Refused(feature, step, errno);
  const std::string root = Cgroup2Mount();
  if (root.empty()) {
    return Available(feature, "loaded; attach not tried: no cgroup v2 hierarchy is mounted");
  }
  const std::string dir = absl::StrCat(root, "/loupe-feature-probe-", getpid());
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Available(feature, absl::StrCat("loaded; attach not tried: cannot create a cgroup (",
                                           strerror(errno), ")"));
  }
  FeatureProbeResult result = Available(feature);
  const int cgroup_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd < 0) {
    result = Refused(feature, "attach", errno);
  } else {
    Link link(bpf_program__attach_cgroup(skel->progs.probe_sock_ops, cgroup_fd));
    if (!link) result = Refused(feature, "attach", errno);
    link.reset();
    close(cgroup_fd);
  }
  rmdir(dir.c_str());
  return result;
}

FeatureProbeResult ProbeSkMsg() {
  const KernelFeature feature = KernelFeature::kSkMsg;
  const char* step = nullptr;
  ProbeSkeleton skel = LoadOne([](probe* p) { return p->progs.probe_sk_msg; }, {MapOf([](probe* p) { return p->maps.probe_sockhash; })},
                               &step);
  if (!skel) return Refused(feature, step, errno);
  const int prog_fd = bpf_program__fd(skel->progs.probe_sk_msg);
  const int map_fd = bpf_map__fd(skel->maps.probe_sockhash);
  if (bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0) != 0) {
    return Refused(feature, "attach", errno);
  }
  bpf_prog_detach2(prog_fd, map_fd, BPF_SK_MSG_VERDICT);
  return Available(feature);
}

FeatureProbeResult ProbeFeature(KernelFeature feature) {
  switch (feature) {
    case KernelFeature::kTpBtf:
      return ProbeAutoAttach(feature, [](probe* p) { return p->progs.probe_tp_btf; });
    case KernelFeature::kRawTracepoint:
      return ProbeAutoAttach(feature, [](probe* p) { return p->progs.probe_raw_tp; });
    case KernelFeature::kProcessExitProbe:
      return ProbeAutoAttach(feature, [](probe* p) { return p->progs.probe_process_exit; });
    case KernelFeature::kMapElemIterator:
      return ProbeMapElemIterator();
    case KernelFeature::kTriggeredMapWalk:
      return ProbeTriggeredMapWalk();
    case KernelFeature::kUprobes:
      return ProbeUprobes();
    case KernelFeature::kFentry:
      return ProbeAutoAttach(feature, [](probe* p) { return p->progs.probe_fentry; });
    case KernelFeature::kSockOps:
      return ProbeSockOps();
    case KernelFeature::kSkMsg:
      return ProbeSkMsg();
  }
  return Refused(feature, "open", EINVAL);
}

}  // namespace

std::string_view KernelFeatureName(KernelFeature feature) { return EntryFor(feature).name; }

absl::StatusOr<KernelFeature> ParseKernelFeature(std::string_view name) {
  for (const FeatureEntry& entry : kFeatures) {
    if (entry.name == name) return entry.feature;
  }
  std::string known;
  for (const FeatureEntry& entry : kFeatures) {
    absl::StrAppend(&known, known.empty() ? "" : ", ", std::string(entry.name));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kernel feature '", std::string(name), "' (known: ", known, ")"));
}

std::vector<KernelFeature> AllKernelFeatures() {
  std::vector<KernelFeature> all;
  for (const FeatureEntry& entry : kFeatures) all.push_back(entry.feature);
  return all;
}

const KernelFeatureInfo& InfoFor(KernelFeature feature) { return EntryFor(feature).info; }

std::string ErrnoName(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case ENOTSUP: return "EOPNOTSUPP";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    case ENOSYS: return "ENOSYS";
    case ENODEV: return "ENODEV";
    case ENOSPC: return "ENOSPC";
    case EFAULT: return "EFAULT";
    case kEnotsupp: return "ENOTSUPP";
    default: return absl::StrCat("E", error);
  }
}

std::string ErrnoText(int error) {
  return absl::StrCat(strerror(error), " (", ErrnoName(error), ")");
}

std::string FeatureProbeResult::Describe() const {
  switch (outcome) {
    case ProbeOutcome::kAvailable:
      return note.empty() ? "available" : absl::StrCat("available (", note, ")");
    case ProbeOutcome::kDisabled:
      return "disabled by --disable_features";
    case ProbeOutcome::kRefused:
      break;
  }
  return absl::StrCat("refused at ", step, ": ", ErrnoText(error));
}

std::string FeatureProbeResult::Reason() const {
  switch (outcome) {
    case ProbeOutcome::kAvailable: return "ok";
    case ProbeOutcome::kDisabled: return "disabled";
    case ProbeOutcome::kRefused: break;
  }
  return ErrnoName(error);
}

HeldCapabilities ReadHeldCapabilities() {
  HeldCapabilities held;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return held;
  held.bpf = HasCapability(data, CAP_BPF);
  held.perfmon = HasCapability(data, CAP_PERFMON);
  held.sys_admin = HasCapability(data, CAP_SYS_ADMIN);
  held.net_admin = HasCapability(data, CAP_NET_ADMIN);
  held.sys_ptrace = HasCapability(data, CAP_SYS_PTRACE);
  held.dac_read_search = HasCapability(data, CAP_DAC_READ_SEARCH);
  held.sys_resource = HasCapability(data, CAP_SYS_RESOURCE);
  return held;
}

KernelFeatures KernelFeatures::Probe(const std::vector<KernelFeature>& disabled) {
  QuietLibbpf quiet;
  std::vector<FeatureProbeResult> results;
  for (KernelFeature feature : AllKernelFeatures()) {
    if (std::find(disabled.begin(), disabled.end(), feature) != disabled.end()) {
      FeatureProbeResult result;
      result.feature = feature;
      result.outcome = ProbeOutcome::kDisabled;
      results.push_back(result);
      continue;
    }
    results.push_back(ProbeFeature(feature));
  }
  return FromResults(std::move(results), ReadHeldCapabilities());
}

KernelFeatures KernelFeatures::FromResults(std::vector<FeatureProbeResult> results,
                                           HeldCapabilities capabilities) {
  KernelFeatures features;
  for (KernelFeature feature : AllKernelFeatures()) {
    features.results_[static_cast<size_t>(feature)].feature = feature;
  }
  for (FeatureProbeResult& result : results) {
    features.results_[static_cast<size_t>(result.feature)] = std::move(result);
  }
  features.capabilities_ = capabilities;
  return features;
}

absl::Status CheckKernelBtf(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel BTF not found at ", path, " (", strerror(errno),
        "): Loupe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels "
        "since 5.8 are); in a container, mount the host's /sys/kernel/btf read-only"));
  }
  btf* parsed = btf__parse(path.c_str(), nullptr);
  if (parsed == nullptr) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel BTF at ", path, " cannot be read (", strerror(err), ", ", info.st_size,
        " bytes): it must be the kernel's own BTF; in a container, mount the host's "
        "/sys/kernel/btf/vmlinux unchanged"));
  }
  btf__free(parsed);
  return absl::OkStatus();
}

absl::Status CheckCoreCapabilities(const HeldCapabilities& held) {
  std::vector<std::string> missing;
  if (!held.bpf && !held.sys_admin) missing.push_back("CAP_BPF");
  if (!held.perfmon && !held.sys_admin) missing.push_back("CAP_PERFMON");
  if (missing.empty()) return absl::OkStatus();
  std::string caps;
  for (const std::string& cap : missing) absl::StrAppend(&caps, caps.empty() ? "" : " and ", cap);
  return absl::PermissionDeniedError(absl::StrCat(
      "missing ", caps, ": loupe cannot load BPF programs without them; run it as root with its "
      "capabilities, or grant them (DaemonSet: securityContext.capabilities.add; systemd: "
      "AmbientCapabilities; docker/podman: --cap-add) — `loupe doctor` lists what each "
      "capability enables"));
}

std::string KernelFeatures::FixFor(KernelFeature feature) const {
  const FeatureProbeResult& probed = result(feature);
  if (probed.outcome == ProbeOutcome::kAvailable) return "nothing";
  if (probed.outcome == ProbeOutcome::kDisabled) {
    return absl::StrCat("remove ", std::string(KernelFeatureName(feature)), " from --disable_features");
  }
  const HeldCapabilities& held = capabilities_;
  std::vector<std::string> missing;
  if (!held.bpf && !held.sys_admin) missing.push_back("CAP_BPF");
  if (!held.perfmon && !held.sys_admin &&
      (feature != KernelFeature::kSockOps && feature != KernelFeature::kSkMsg)) {
    missing.push_back("CAP_PERFMON");
  }
  if (feature == KernelFeature::kUprobes && !held.sys_admin) missing.push_back("CAP_SYS_ADMIN");
  // The kernel accepts CAP_SYS_ADMIN in place of CAP_NET_ADMIN for these (bpf_net_capable).
  if ((feature == KernelFeature::kSockOps || feature == KernelFeature::kSkMsg) && !held.net_admin &&
      !held.sys_admin) {
    missing.push_back("CAP_NET_ADMIN");
  }
  const bool permission = probed.error == EPERM || probed.error == EACCES;
  if (permission && !missing.empty()) {
    std::string caps;
    for (const std::string& cap : missing) absl::StrAppend(&caps, caps.empty() ? "" : " and ", cap);
    return absl::StrCat("grant ", caps,
                        " (DaemonSet: securityContext.capabilities.add; systemd: "
                        "AmbientCapabilities)");
  }
  if (permission) {
    return absl::StrCat(
        "the kernel refuses it although the capabilities it needs (", InfoFor(feature).capabilities,
        ") are held: a kernel build or security policy (lockdown, LSM, seccomp) choice; "
        "another kernel build may allow it");
  }
  if (probed.error == EINVAL || probed.error == ENOENT || probed.error == ESRCH ||
      probed.error == ENOTSUP || probed.error == kEnotsupp || probed.error == E2BIG) {
    return absl::StrCat("a kernel with this feature (Linux ", InfoFor(feature).since,
                        " or later, with BTF)");
  }
  return absl::StrCat("see the error above; the feature needs ", InfoFor(feature).capabilities,
                      " and Linux ", InfoFor(feature).since);
}

}  // namespace loupe
