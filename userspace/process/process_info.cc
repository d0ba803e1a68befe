#include "userspace/process/process_info.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "userspace/core/redact.h"
#include "userspace/core/small_file.h"
#include "userspace/process/container_id.h"

namespace loupe {
namespace {

constexpr uint64_t kRecheckNs = 30'000'000'000;  // re-validate a cached pid every 30 s

// /proc/<pid> files are small; capped so that a hostile process cannot make the agent read much.
constexpr size_t kMaxProcFileBytes = 1u << 20;

std::string Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

std::string StripExtension(std::string name) {
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

bool IsInterpreter(absl::string_view exe) {
  static constexpr std::array<absl::string_view, 10> kPrefixes = {
      "python", "node", "ruby", "perl", "php", "java", "bash", "sh", "bun", "deno"};
  for (absl::string_view prefix : kPrefixes) {
    if (absl::StartsWith(exe, prefix)) return true;
  }
  return false;
}

std::string PercentDecode(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    int hi = 0, lo = 0;
    if (in[i] == '%' && i + 2 < in.size() &&
        absl::ascii_isxdigit(in[i + 1]) && absl::ascii_isxdigit(in[i + 2])) {
      hi = absl::ascii_isdigit(in[i + 1]) ? in[i + 1] - '0' : absl::ascii_tolower(in[i + 1]) - 'a' + 10;
      lo = absl::ascii_isdigit(in[i + 2]) ? in[i + 2] - '0' : absl::ascii_tolower(in[i + 2]) - 'a' + 10;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

std::vector<Attribute> ParseResourceAttributes(std::string_view std_text) {
  const absl::string_view text(std_text.data(), std_text.size());
  std::vector<Attribute> out;
  for (absl::string_view pair : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos || eq == 0) continue;
    std::string key(absl::StripAsciiWhitespace(pair.substr(0, eq)));
    std::string value = PercentDecode(absl::StripAsciiWhitespace(pair.substr(eq + 1)));
    if (key.empty()) continue;
    out.push_back(Attribute{std::move(key), std::move(value), false});
  }
  return out;
}

bool ProcessAlive(const std::string& proc_root, uint32_t pid) {
  struct stat st{};
  return stat(absl::StrCat(proc_root, "/", pid).c_str(), &st) == 0;
}

std::optional<ProcessFacts> ReadProcessFacts(int64_t pid) {
  const std::string base = absl::StrCat("/proc/", pid);
  ProcessFacts facts;
  facts.pid = pid;
  const std::string stat = ReadSmallFile(base + "/stat", kMaxProcFileBytes);
  if (stat.empty()) return std::nullopt;
  // Field 2 (comm) may hold spaces and parentheses: fields after it start past the last ')'.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
    // After ')' the first field is field 3 (state); start time is field 22.
    if (fields.size() > 19) (void)absl::SimpleAtoi(fields[19], &facts.start_time_ticks);
  }
  char exe[4096];
  const ssize_t n = readlink((base + "/exe").c_str(), exe, sizeof(exe) - 1);
  if (n > 0) facts.exe_path.assign(exe, static_cast<size_t>(n));
  const std::string cmdline = ReadSmallFile(base + "/cmdline", kMaxProcFileBytes);
  for (absl::string_view arg : absl::StrSplit(cmdline, '\0', absl::SkipEmpty())) {
    facts.argv.emplace_back(arg);
  }
  facts.comm = std::string(
      absl::StripTrailingAsciiWhitespace(ReadSmallFile(base + "/comm", kMaxProcFileBytes)));
  const std::string environ = ReadSmallFile(base + "/environ", kMaxProcFileBytes);
  for (absl::string_view var : absl::StrSplit(environ, '\0', absl::SkipEmpty())) {
    if (absl::StartsWith(var, "OTEL_SERVICE_NAME=")) {
      facts.otel_service_name = std::string(var.substr(18));
    } else if (absl::StartsWith(var, "OTEL_RESOURCE_ATTRIBUTES=")) {
      facts.otel_resource_attributes = std::string(var.substr(25));
    }
  }
  facts.container_id = ReadContainerId("/proc", pid);
  return facts;
}

std::string ExplicitServiceName(const ProcessFacts& facts) {
  if (facts.otel_service_name.has_value() && !facts.otel_service_name->empty()) {
    return *facts.otel_service_name;
  }
  if (facts.otel_resource_attributes.has_value()) {
    for (const Attribute& a : ParseResourceAttributes(*facts.otel_resource_attributes)) {
      if (a.key == "service.name" && !a.value.empty()) return a.value;
    }
  }
  return "";
}

std::string ServiceNameFor(std::string_view explicit_name, const KubernetesIdentity* kubernetes,
                           std::string_view process_view) {
  if (!explicit_name.empty()) return std::string(explicit_name);
  if (kubernetes != nullptr) {
    for (const std::string* name :
         {&kubernetes->service_name_annotation, &kubernetes->app_name_label,
          &kubernetes->workload.name, &kubernetes->container_name}) {
      if (!name->empty()) return *name;
    }
  }
  return std::string(process_view);
}

std::string ServiceNameOf(const ProcessFacts& facts) {
  return ServiceNameFor(ExplicitServiceName(facts), nullptr, ProcessViewServiceName(facts));
}

std::string ProcessViewServiceName(const ProcessFacts& facts) {
  std::string exe = Basename(facts.exe_path);
  if (exe.empty() && !facts.argv.empty()) exe = Basename(facts.argv[0]);
  if (IsInterpreter(exe) && facts.argv.size() > 1) {
    for (size_t i = 1; i < facts.argv.size(); ++i) {
      const std::string& arg = facts.argv[i];
      if (arg == "-m" && i + 1 < facts.argv.size()) return facts.argv[i + 1];
      if (arg == "-c" || arg == "-e") break;  // inline code: no script name to use
      if (arg == "-jar" && i + 1 < facts.argv.size()) return StripExtension(Basename(facts.argv[i + 1]));
      if (!arg.empty() && arg[0] == '-') continue;
      return StripExtension(Basename(arg));
    }
  }
  if (!exe.empty()) return exe;
  if (!facts.comm.empty()) return facts.comm;
  return "unknown";
}

ProcessInfoCache::ProcessInfoCache(std::string host_name, size_t max_entries, Reader reader,
                                   std::vector<Attribute> agent_attributes,
                                   bool export_command_line, const PodDirectory* pods)
    : host_name_(std::move(host_name)),
      pods_(pods),
      max_entries_(max_entries),
      agent_attributes_(std::move(agent_attributes)),
      export_command_line_(export_command_line),
      reader_(std::move(reader)) {
  for (const Attribute& a : agent_attributes_) {
    if (a.key == "service.namespace") agent_namespace_ = a.value;
  }
}

void ProcessInfoCache::ApplyNaming(const Naming& naming, ProcessResource* resource) const {
  const KubernetesIdentity* kubernetes = resource->kubernetes.get();
  resource->service_name =
      ServiceNameFor(naming.explicit_name, kubernetes, naming.process_view);
  resource->service_namespace = naming.explicit_namespace;
  if (resource->service_namespace.empty() && kubernetes != nullptr) {
    resource->service_namespace = kubernetes->namespace_name;
  }
  if (resource->service_namespace.empty()) resource->service_namespace = agent_namespace_;
}

bool ProcessInfoCache::RefreshIdentity(Entry* entry) const {
  if (pods_ == nullptr || entry->resource->container_id.empty()) return false;
  const uint64_t generation = pods_->generation();
  if (generation == entry->pods_generation) return false;
  entry->pods_generation = generation;
  std::shared_ptr<const KubernetesIdentity> kubernetes =
      pods_->FindContainer(entry->resource->container_id);
  if (kubernetes == entry->resource->kubernetes) return false;
  // A pod that went away keeps its last identity for the process's last spans.
  if (kubernetes == nullptr) return false;
  auto renamed = std::make_shared<ProcessResource>(*entry->resource);
  renamed->kubernetes = std::move(kubernetes);
  ApplyNaming(entry->naming, renamed.get());
  entry->resource = std::move(renamed);
  return true;
}

void ProcessInfoCache::Announce(const Entry& entry) const {
  if (listener_) listener_(*entry.resource);
}

void ProcessInfoCache::Build(uint32_t tgid, const ProcessFacts* facts, std::string_view comm_hint,
                             Entry* entry) const {
  auto resource = std::make_shared<ProcessResource>();
  resource->host_name = host_name_;
  resource->pid = tgid;
  resource->extra = agent_attributes_;
  entry->naming = Naming{};
  entry->pods_generation = 0;
  if (facts == nullptr) {
    entry->naming.process_view = comm_hint.empty() ? "unknown" : std::string(comm_hint);
    ApplyNaming(entry->naming, resource.get());
    resource->executable_name = std::string(comm_hint);  // best knowledge; comm is cut at 15
    resource->service_instance_id = absl::StrCat(host_name_, ":", tgid);
    entry->resource = std::move(resource);
    return;
  }
  // A process that exits while /proc is read leaves its stat read and the rest empty: then the
  // kernel's comm stands in for what was lost (seen in CI as a psql counted under "unknown").
  ProcessFacts complete;
  if (facts->comm.empty() && !comm_hint.empty()) {
    complete = *facts;
    complete.comm = std::string(comm_hint);
    facts = &complete;
  }
  entry->naming.explicit_name = ExplicitServiceName(*facts);
  entry->naming.process_view = ProcessViewServiceName(*facts);
  resource->container_id = facts->container_id;
  if (pods_ != nullptr && !resource->container_id.empty()) {
    // The generation first: a change while looking up makes the next Get look again.
    entry->pods_generation = pods_->generation();
    resource->kubernetes = pods_->FindContainer(resource->container_id);
  }
  resource->service_instance_id =
      absl::StrCat(host_name_, ":", tgid, ":", facts->start_time_ticks);
  resource->executable_name = Basename(facts->exe_path);
  if (resource->executable_name.empty()) resource->executable_name = facts->comm;
  if (export_command_line_) resource->command_line = RedactCommandLine(facts->argv);
  if (facts->otel_resource_attributes.has_value()) {
    for (Attribute& a : ParseResourceAttributes(*facts->otel_resource_attributes)) {
      if (a.key == "service.namespace") entry->naming.explicit_namespace = a.value;
      if (a.key == "service.name" || a.key == "service.namespace" || LooksSecretKey(a.key)) {
        continue;
      }
      // The process's own attributes win over the agent's for the same key.
      std::erase_if(resource->extra, [&](const Attribute& e) { return e.key == a.key; });
      resource->extra.push_back(std::move(a));
    }
  }
  // The agent's service.namespace is a fallback of the naming, not an extra attribute.
  std::erase_if(resource->extra, [](const Attribute& e) { return e.key == "service.namespace"; });
  ApplyNaming(entry->naming, resource.get());
  entry->resource = std::move(resource);
}

std::shared_ptr<const ProcessResource> ProcessInfoCache::Get(uint32_t tgid, uint64_t now_ns,
                                                             std::string_view comm_hint) {
  auto it = entries_.find(tgid);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    lru_.splice(lru_.begin(), lru_, entry.lru);
    if (now_ns < entry.checked_ns + kRecheckNs) {
      if (RefreshIdentity(&entry)) Announce(entry);
      return entry.resource;
    }
    entry.checked_ns = now_ns;
    const std::optional<ProcessFacts> facts = reader_(tgid);
    // Same start time: same process. Gone: keep the last known identity for its last spans.
    if (!facts.has_value() || facts->start_time_ticks == entry.start_time_ticks) {
      if (RefreshIdentity(&entry)) Announce(entry);
      return entry.resource;
    }
    Build(tgid, &*facts, comm_hint, &entry);
    entry.start_time_ticks = facts->start_time_ticks;
    Announce(entry);
    return entry.resource;
  }
  if (entries_.size() >= max_entries_ && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  const std::optional<ProcessFacts> facts = reader_(tgid);
  Entry entry;
  Build(tgid, facts.has_value() ? &*facts : nullptr, comm_hint, &entry);
  Announce(entry);
  entry.start_time_ticks = facts.has_value() ? facts->start_time_ticks : 0;
  entry.checked_ns = now_ns;
  lru_.push_front(tgid);
  entry.lru = lru_.begin();
  auto resource = entry.resource;
  entries_.emplace(tgid, std::move(entry));
  return resource;
}

}  // namespace loupe
