// Attaches the TLS uprobes of bpf/tls.bpf.h to every libssl file processes use, and keeps the
// list of processes whose TLS the agent cannot see.
//
// Uprobes are attached per library FILE with pid = -1, so one attachment covers every process
// that maps that file, now and later. Files are found at start (the usual library directories,
// and /proc/*/maps of running processes) and then by a periodic /proc/*/maps rescan, which picks
// up libraries in new containers or at new paths. Everything is detached on destruction.
//
// "Not visible" processes are reported by the conn tracker (TlsObserver): a connection whose
// first bytes are a TLS record and whose plaintext never came from libssl. The process is
// classified once (Go binary, JVM, no libssl mapped, ...) and logged once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "userspace/core/process_status.h"
#include "userspace/tls/libssl_discovery.h"
#include "userspace/tls/tls_sniff.h"

struct bpf_object;
struct bpf_program;
struct bpf_link;

namespace loupe {

class TlsMetrics;

struct TlsAttacherOptions {
  std::string proc_root = "/proc";
  uint64_t rescan_interval_ns = 2'000'000'000;
  pid_t self_pid = 0;               // never scanned
  bool scan_well_known_paths = true;
  size_t max_libraries = 64;        // distinct libssl files attached at most
  size_t max_not_visible = 1024;    // processes remembered as not visible
  // Told about each process found not visible, with the reason (/status).
  ProcessStatusSink* status = DiscardProcessStatus::Instance();
};

class TlsAttacher : public TlsObserver {
 public:
  // `object` is the loaded capture object holding the uprobe programs; it must outlive this.
  static absl::StatusOr<std::unique_ptr<TlsAttacher>> Create(bpf_object* object,
                                                             TlsMetrics* metrics,
                                                             TlsAttacherOptions options);
  ~TlsAttacher() override;
  TlsAttacher(const TlsAttacher&) = delete;
  TlsAttacher& operator=(const TlsAttacher&) = delete;

  // Rescans /proc when the interval has passed. Call from the event thread's housekeeping.
  void Poll(uint64_t now_ns);

  void OnTlsConnection(uint32_t tgid, std::string_view comm, bool visible) override;

  size_t libraries_attached() const { return libraries_.size(); }
  size_t processes_not_visible() const { return not_visible_.size(); }

 private:
  struct Hook {
    const char* symbol;
    bpf_program* entry;
    bool with_return;
    bool required;
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  using Link = std::unique_ptr<bpf_link, LinkDeleter>;
  struct Library {
    std::string path;
    std::vector<Link> links;
  };

  TlsAttacher(std::vector<Hook> hooks, bpf_program* exit, TlsMetrics* metrics,
              TlsAttacherOptions options)
      : hooks_(std::move(hooks)), exit_(exit), metrics_(metrics), options_(std::move(options)) {}

  void Rescan();
  // Attaches to the libssl mappings of one process not handled yet.
  void ScanProcess(pid_t pid);
  void AttachFile(const std::string& path);
  std::string ClassifyNotVisible(pid_t pid);

  std::vector<Hook> hooks_;
  bpf_program* exit_;
  TlsMetrics* metrics_;
  TlsAttacherOptions options_;
  uint64_t next_scan_ns_ = 0;
  absl::flat_hash_map<FileId, Library> libraries_;
  absl::flat_hash_set<FileId> failed_;
  absl::flat_hash_set<std::string> seen_mappings_;  // "dev inode" from maps, already handled
  absl::flat_hash_map<uint32_t, std::string> not_visible_;  // tgid -> reason
};

}  // namespace loupe
