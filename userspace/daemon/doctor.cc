#include "userspace/daemon/doctor.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "userspace/daemon/degradations.h"
#include "userspace/loader/capture_probes.h"

namespace loupe {
namespace {

constexpr const char* kUsage =
    "usage: loupe doctor\n"
    "Probes kernel BTF, the capabilities held and each optional kernel feature the way the\n"
    "agent does at start, and prints what is available, what is refused (with errno), what\n"
    "each feature is for, what Loupe does instead and what to change.\n"
    "Exit status: 0 the agent can run (perhaps degraded), 1 it cannot run at all, 2 usage.\n";

const char* YesNo(bool held) { return held ? "yes" : "no "; }

void PrintCapabilities(const HeldCapabilities& held, std::ostream& out) {
  out << "capabilities (effective):\n"
      << "  CAP_BPF             " << YesNo(held.bpf) << "   load programs, create maps\n"
      << "  CAP_PERFMON         " << YesNo(held.perfmon) << "   attach tracepoints\n"
      << "  CAP_SYS_ADMIN       " << YesNo(held.sys_admin)
      << "   uprobes (HTTPS plaintext) on current kernels\n"
      << "  CAP_NET_ADMIN       " << YesNo(held.net_admin)
      << "   sock_ops / sk_msg (planned trace-context injection)\n"
      << "  CAP_SYS_PTRACE      " << YesNo(held.sys_ptrace)
      << "   read other users' /proc/<pid>/environ, exe and root\n"
      << "  CAP_DAC_READ_SEARCH " << YesNo(held.dac_read_search)
      << "   open other users' binaries and libraries\n"
      << "  CAP_SYS_RESOURCE    " << YesNo(held.sys_resource)
      << "   only on kernels before 5.11 (RLIMIT_MEMLOCK)\n";
}

}  // namespace

int PrintDoctorReport(const KernelFeatures& features, const absl::Status& btf,
                      const std::string& kernel_release, std::ostream& out) {
  out << "loupe doctor: Linux " << kernel_release << ", uid " << geteuid() << "\n\n";
  out << "kernel BTF: " << (btf.ok() ? "available (/sys/kernel/btf/vmlinux)" : btf.message())
      << "\n";
  const absl::Status core = CheckCoreCapabilities(features.capabilities());
  PrintCapabilities(features.capabilities(), out);
  out << "\nkernel features:\n";
  for (const FeatureProbeResult& result : features.results()) {
    const KernelFeatureInfo& info = InfoFor(result.feature);
    out << "  " << KernelFeatureName(result.feature) << ": " << result.Describe() << "\n"
        << "    for:     " << info.used_for << "\n";
    if (!result.available()) {
      out << "    instead: " << info.instead << "\n"
          << "    change:  " << features.FixFor(result.feature) << "\n";
    }
  }
  const bool can_run = btf.ok() && core.ok() && features.CanCapture();
  out << "\nverdict: ";
  if (!can_run) {
    out << "Loupe cannot run here: "
        << (!btf.ok() ? btf.message()
                      : !core.ok() ? core.message()
                                   : "neither syscall hook (tp_btf, raw_tracepoint) loads")
        << "\n";
    return 1;
  }
  // What the default configuration would report as degraded.
  const std::vector<Degradation> degraded = DegradationsFor(features);
  if (degraded.empty()) {
    out << "Loupe runs here with every feature its default configuration uses.\n";
  } else {
    out << "Loupe runs here, degraded (/health/ready stays 200 and lists these):\n";
    for (const Degradation& d : degraded) out << "  - " << d.feature << ": " << d.effect << "\n";
  }
  // The same choice the capture loader makes.
  const std::optional<RedTimeoutPass> red_pass = ChooseRedTimeoutPass(features);
  out << "--metrics_only: ";
  if (!red_pass.has_value()) {
    out << "cannot start (neither timeout pass loads)\n";
  } else if (*red_pass == RedTimeoutPass::kMapElemIterator) {
    out << "available (timeout pass: map-element iterator)\n";
  } else {
    out << "available (timeout pass: triggered map walk)\n";
  }
  return 0;
}

int RunDoctorCommand(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "loupe doctor: unexpected argument '" << arg << "' (it takes none; see "
              << "`loupe doctor --help`)\n";
    return 2;
  }
  utsname name{};
  const std::string release = uname(&name) == 0 ? name.release : "unknown";
  const absl::Status btf = CheckKernelBtf();
  const KernelFeatures features = KernelFeatures::Probe({});
  return PrintDoctorReport(features, btf, release, std::cout);
}

}  // namespace loupe
