#include "userspace/tls/tls_attacher.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "userspace/logging/log.h"
#include "userspace/process/process_info.h"
#include "userspace/tls/go_binary.h"
#include "userspace/tls/tls_metrics.h"

namespace loupe {
namespace {

constexpr size_t kMaxSeenMappings = 4096;

std::string ReadLink(const std::string& path) {
  char buffer[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buffer, sizeof(buffer) - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

}  // namespace

void TlsAttacher::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

absl::StatusOr<std::unique_ptr<TlsAttacher>> TlsAttacher::Create(bpf_object* object,
                                                                  TlsMetrics* metrics,
                                                                  TlsAttacherOptions options) {
  auto program = [object](const char* name) {
    return bpf_object__find_program_by_name(object, name);
  };
  // SSL_read/SSL_write and their _ex forms do not call each other in OpenSSL 1.1.1 and 3.0, so
  // all four are needed (nginx and curl use SSL_read/SSL_write, CPython uses the _ex forms); the
  // BPF side ignores nested calls should another build nest them.
  std::vector<Hook> hooks = {
      {"SSL_read", program("loupe_ssl_read_enter"), true, true},
      {"SSL_write", program("loupe_ssl_write_enter"), true, true},
      {"SSL_read_ex", program("loupe_ssl_read_ex_enter"), true, false},
      {"SSL_write_ex", program("loupe_ssl_write_ex_enter"), true, false},
      {"SSL_do_handshake", program("loupe_ssl_handshake_enter"), true, false},
      {"SSL_set_fd", program("loupe_ssl_set_fd"), false, false},
  };
  bpf_program* exit = program("loupe_ssl_exit");
  for (const Hook& hook : hooks) {
    if (hook.entry == nullptr || exit == nullptr) {
      return absl::InternalError("the capture object lacks the TLS uprobe programs");
    }
    if (bpf_program__fd(hook.entry) < 0 || bpf_program__fd(exit) < 0) {
      return absl::FailedPreconditionError("the TLS uprobe programs are not loaded");
    }
  }
  std::unique_ptr<TlsAttacher> attacher(
      new TlsAttacher(std::move(hooks), exit, metrics, std::move(options)));
  if (attacher->options_.scan_well_known_paths) {
    for (const std::string& path : WellKnownLibsslPaths()) attacher->AttachFile(path);
  }
  attacher->Rescan();
  return attacher;
}

TlsAttacher::~TlsAttacher() {
  const size_t n = libraries_.size();
  libraries_.clear();  // destroys every link
  log::Info("libssl uprobes detached", {{"libraries", n}});
}

void TlsAttacher::AttachFile(const std::string& path) {
  const std::optional<FileId> id = StatFileId(path);
  if (!id.has_value() || libraries_.contains(*id) || failed_.contains(*id)) return;
  if (libraries_.size() >= options_.max_libraries) {
    log::Warn("too many libssl files: not attaching", {{"path", path},
                                                       {"max", options_.max_libraries}});
    failed_.insert(*id);
    return;
  }
  Library library{path, {}};
  size_t functions = 0;
  for (const Hook& hook : hooks_) {
    std::vector<Link> links;
    bool ok = true;
    for (bool retprobe : {false, true}) {
      if (retprobe && !hook.with_return) continue;
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = hook.symbol);
      bpf_link* link = bpf_program__attach_uprobe_opts(retprobe ? exit_ : hook.entry, -1,
                                                       path.c_str(), 0, &opts);
      if (link == nullptr) {
        const int err = errno;
        log::Debug("libssl function not attached",
                   {{"path", path}, {"symbol", hook.symbol}, {"error", strerror(err)}});
        ok = false;
        break;
      }
      links.emplace_back(link);
    }
    if (!ok) {
      if (hook.required) {
        log::Warn("libssl not instrumented: a required function could not be attached",
                  {{"path", path}, {"symbol", hook.symbol}});
        metrics_->AttachFailure();
        failed_.insert(*id);
        return;  // `library` and its links are destroyed here
      }
      continue;
    }
    ++functions;
    for (Link& link : links) library.links.push_back(std::move(link));
  }
  log::Info("libssl uprobes attached", {{"path", path}, {"functions", functions}});
  libraries_.emplace(*id, std::move(library));
  metrics_->SetLibrariesAttached(libraries_.size());
}

void TlsAttacher::ScanProcess(pid_t pid) {
  for (const LibsslMapping& mapping : LibsslMappingsOf(options_.proc_root, pid)) {
    std::string key = absl::StrCat(mapping.maps_dev, " ", mapping.inode);
    if (seen_mappings_.contains(key)) continue;
    if (seen_mappings_.size() >= kMaxSeenMappings) seen_mappings_.clear();
    seen_mappings_.insert(std::move(key));
    // Through the process's root: the file may live in a container's mount namespace.
    AttachFile(absl::StrCat(options_.proc_root, "/", pid, "/root", mapping.path));
  }
}

void TlsAttacher::Rescan() {
  for (pid_t pid : ListPids(options_.proc_root)) {
    if (pid != options_.self_pid) ScanProcess(pid);
  }
  for (auto it = not_visible_.begin(); it != not_visible_.end();) {
    if (ProcessAlive(options_.proc_root, it->first)) {
      ++it;
    } else {
      not_visible_.erase(it++);
    }
  }
  metrics_->SetLibrariesAttached(libraries_.size());
  metrics_->SetProcessesNotVisible(not_visible_.size());
}

void TlsAttacher::Poll(uint64_t now_ns) {
  if (now_ns < next_scan_ns_) return;
  next_scan_ns_ = now_ns + options_.rescan_interval_ns;
  Rescan();
}

std::string TlsAttacher::ClassifyNotVisible(pid_t pid) {
  const std::string exe_link = absl::StrCat(options_.proc_root, "/", pid, "/exe");
  if (absl::StatusOr<bool> go = IsGoBinary(exe_link); go.ok() && *go) return "go_crypto_tls";
  const std::string exe = ReadLink(exe_link);
  const size_t slash = exe.rfind('/');
  if (exe.substr(slash == std::string::npos ? 0 : slash + 1) == "java") return "jvm_jsse";
  const size_t before = libraries_.size();
  ScanProcess(pid);
  if (libraries_.size() > before) return "";  // its libssl was just attached: visible from now
  if (MapsLibssl(options_.proc_root, pid)) return "tls_outside_libssl";
  return "no_libssl_mapped";
}

void TlsAttacher::OnTlsConnection(uint32_t tgid, std::string_view comm, bool visible) {
  metrics_->Connection(visible);
  if (visible) {
    not_visible_.erase(tgid);
    metrics_->SetProcessesNotVisible(not_visible_.size());
    return;
  }
  if (not_visible_.contains(tgid) || not_visible_.size() >= options_.max_not_visible) return;
  std::string reason = ClassifyNotVisible(static_cast<pid_t>(tgid));
  if (reason.empty()) return;
  log::Warn("TLS not visible", {{"pid", tgid},
                                {"comm", comm},
                                {"exe", ReadLink(absl::StrCat(options_.proc_root, "/", tgid,
                                                              "/exe"))},
                                {"reason", reason}});
  options_.status->OnGap(tgid, comm, InstrumentationGap::kTlsNotVisible, reason);
  not_visible_.emplace(tgid, std::move(reason));
  metrics_->SetProcessesNotVisible(not_visible_.size());
}

}  // namespace loupe
