// Who a process is: its service name and OpenTelemetry resource, read from /proc once and cached
// (bounded; entries are re-validated against the process start time so a reused pid is noticed).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/resource.h"

namespace loupe {

// What /proc tells about a process; separated from the cache so naming rules are unit-tested.
struct ProcessFacts {
  int64_t pid = 0;
  std::string exe_path;                // readlink /proc/pid/exe
  std::vector<std::string> argv;       // /proc/pid/cmdline
  std::string comm;                    // /proc/pid/comm
  std::optional<std::string> otel_service_name;        // from the process's environment
  std::optional<std::string> otel_resource_attributes;  // from the process's environment
  uint64_t start_time_ticks = 0;       // /proc/pid/stat field 22
};

std::optional<ProcessFacts> ReadProcessFacts(int64_t pid);

// Whether `pid` still exists: <proc_root>/<pid> is there ("/proc" outside tests).
bool ProcessAlive(const std::string& proc_root, uint32_t pid);

// OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then the script an
// interpreter runs (python app.py -> "app"; python -m http.server -> "http.server"), then the
// executable's name, then comm.
std::string ServiceNameOf(const ProcessFacts& facts);

class ProcessInfoCache {
 public:
  using Reader = std::function<std::optional<ProcessFacts>(int64_t pid)>;

  // `agent_attributes` (the agent's own OTEL_RESOURCE_ATTRIBUTES) are added to every resource.
  // The command line (process.command_line) is only filled with `export_command_line`, redacted
  // by RedactCommandLine (core/redact.h): no redactor knows every program's way of taking a
  // password, so by default it is not exported at all.
  ProcessInfoCache(std::string host_name, size_t max_entries, Reader reader = ReadProcessFacts,
                   std::vector<Attribute> agent_attributes = {}, bool export_command_line = false);

  // Never null. A process that exited before we looked is named after `comm_hint` (the comm the
  // kernel saw when the connection opened), never after its pid, to keep service names bounded.
  std::shared_ptr<const ProcessResource> Get(uint32_t tgid, uint64_t now_ns,
                                             std::string_view comm_hint = {});

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::shared_ptr<const ProcessResource> resource;
    uint64_t start_time_ticks = 0;
    uint64_t checked_ns = 0;
    std::list<uint32_t>::iterator lru;
  };

  std::shared_ptr<const ProcessResource> Build(uint32_t tgid, const ProcessFacts* facts,
                                               std::string_view comm_hint) const;

  std::string host_name_;
  size_t max_entries_;
  std::vector<Attribute> agent_attributes_;
  bool export_command_line_;
  Reader reader_;
  absl::flat_hash_map<uint32_t, Entry> entries_;
  std::list<uint32_t> lru_;
};

// Parses "k1=v1,k2=v2" (values percent-decoded) as in OTEL_RESOURCE_ATTRIBUTES; bad pairs are
// skipped.
std::vector<Attribute> ParseResourceAttributes(std::string_view text);

}  // namespace loupe
