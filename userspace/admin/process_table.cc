#include "userspace/admin/process_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "userspace/core/absl_compat.h"
#include "userspace/core/json.h"

namespace loupe {
namespace {

void AppendString(std::string* out, std::string_view key, std::string_view value) {
  absl::StrAppend(out, "\"", AbslView(key), "\":\"", JsonEscape(value), "\"");
}

void AppendKubernetes(std::string* out, const KubernetesIdentity& k8s) {
  out->append(",\"kubernetes\":{");
  AppendString(out, "namespace", k8s.namespace_name);
  out->append(",");
  AppendString(out, "pod", k8s.pod_name);
  out->append(",");
  AppendString(out, "pod_uid", k8s.pod_uid);
  out->append(",");
  AppendString(out, "container", k8s.container_name);
  out->append(",");
  AppendString(out, "node", k8s.node_name);
  out->append(",");
  AppendString(out, "workload_kind", k8s.workload.kind);
  out->append(",");
  AppendString(out, "workload_name", k8s.workload.name);
  out->append("}");
}

void AppendRow(std::string* out, const ProcessStatusRow& row) {
  absl::StrAppend(out, "{\"pid\":", row.pid, ",");
  const ProcessResource* resource = row.resource.get();
  AppendString(out, "service_name", resource ? resource->service_name : "");
  out->append(",");
  AppendString(out, "service_namespace", resource ? resource->service_namespace : "");
  out->append(",");
  AppendString(out, "service_instance_id", resource ? resource->service_instance_id : "");
  out->append(",");
  AppendString(out, "executable", resource ? resource->executable_name : "");
  out->append(",");
  AppendString(out, "comm", row.comm);
  out->append(",");
  AppendString(out, "container_id", resource ? resource->container_id : "");
  if (resource != nullptr && resource->kubernetes != nullptr) {
    AppendKubernetes(out, *resource->kubernetes);
  }
  out->append(",\"protocols\":[");
  for (size_t i = 0; i < row.protocols.size(); ++i) {
    absl::StrAppend(out, i ? "," : "", "\"", JsonEscape(row.protocols[i]), "\"");
  }
  absl::StrAppend(out, "],\"exchanges\":", row.exchanges, ",\"instrumented\":\"",
                  AbslView(InstrumentedName(InstrumentedOf(row))), "\",\"not_instrumented\":[");
  bool first = true;
  for (int g = 0; g < kInstrumentationGapCount; ++g) {
    const ProcessStatusRow::GapState& gap = row.gaps[g];
    if (gap.count == 0) continue;
    absl::StrAppend(out, first ? "" : ",", "{");
    AppendString(out, "reason", InstrumentationGapName(static_cast<InstrumentationGap>(g)));
    out->append(",");
    AppendString(out, "detail", gap.detail);
    absl::StrAppend(out, ",\"count\":", gap.count, "}");
    first = false;
  }
  out->append("]}");
}

}  // namespace

bool ProcessStatusRow::has_any_gap() const {
  return std::any_of(gaps.begin(), gaps.end(), [](const GapState& g) { return g.count > 0; });
}

Instrumented InstrumentedOf(const ProcessStatusRow& row) {
  if (row.has_gap(InstrumentationGap::kExcludedByRule)) return Instrumented::kNo;
  return row.has_any_gap() ? Instrumented::kPartly : Instrumented::kYes;
}

std::string_view InstrumentedName(Instrumented instrumented) {
  switch (instrumented) {
    case Instrumented::kYes: return "yes";
    case Instrumented::kPartly: return "partly";
    case Instrumented::kNo: return "no";
  }
  return "no";
}

ProcessTable::ProcessTable(ProcessTableOptions options, ProcessAlive process_alive)
    : options_(options),
      process_alive_(std::move(process_alive)),
      published_(std::make_shared<const ProcessStatusSnapshot>()) {}

ProcessStatusRow* ProcessTable::RowFor(uint32_t tgid) {
  auto it = rows_.find(tgid);
  if (it != rows_.end()) return &it->second;
  if (rows_.size() >= options_.max_processes) {
    ++refused_;
    changed_ = true;
    return nullptr;
  }
  ProcessStatusRow& row = rows_[tgid];
  row.pid = tgid;
  changed_ = true;
  return &row;
}

ProcessStatusRow* ProcessTable::RowForResource(
    const std::shared_ptr<const ProcessResource>& resource) {
  const uint32_t tgid = static_cast<uint32_t>(resource->pid);
  ProcessStatusRow* row = RowFor(tgid);
  if (row == nullptr || row->resource == resource) return row;
  // Another instance id under the same pid: the pid was reused, what we knew was another process.
  if (row->resource != nullptr &&
      row->resource->service_instance_id != resource->service_instance_id) {
    *row = ProcessStatusRow{};
    row->pid = tgid;
  }
  row->resource = resource;  // the same process, perhaps with a Kubernetes identity now
  changed_ = true;
  return row;
}

void ProcessTable::OnProcessResolved(const std::shared_ptr<const ProcessResource>& resource) {
  if (resource != nullptr) RowForResource(resource);
}

void ProcessTable::OnExchangeCounted(const std::shared_ptr<const ProcessResource>& resource,
                                     std::string_view protocol) {
  if (resource == nullptr) return;
  ProcessStatusRow* row = RowForResource(resource);
  if (row == nullptr) return;
  ++row->exchanges;
  changed_ = true;
  if (protocol.empty() || row->protocols.size() >= options_.max_protocols) return;
  if (std::find(row->protocols.begin(), row->protocols.end(), protocol) == row->protocols.end()) {
    row->protocols.emplace_back(protocol);
  }
}

void ProcessTable::OnGap(uint32_t tgid, std::string_view comm, InstrumentationGap gap,
                         std::string_view detail) {
  ProcessStatusRow* row = RowFor(tgid);
  if (row == nullptr) return;
  if (row->comm.empty()) row->comm = std::string(comm.substr(0, options_.max_detail_bytes));
  ProcessStatusRow::GapState& state = row->gaps[static_cast<size_t>(gap)];
  if (state.count++ == 0) state.detail = std::string(detail.substr(0, options_.max_detail_bytes));
  changed_ = true;
}

void ProcessTable::DropExited() {
  for (auto it = rows_.begin(); it != rows_.end();) {
    if (process_alive_(it->first)) {
      ++it;
      continue;
    }
    rows_.erase(it++);
    changed_ = true;
  }
}

void ProcessTable::Tick(uint64_t now_ns) {
  if (now_ns >= next_exit_check_ns_) {
    next_exit_check_ns_ = now_ns + options_.exit_check_interval_ns;
    DropExited();
  }
  if (now_ns >= next_publish_ns_ && changed_) {
    next_publish_ns_ = now_ns + options_.publish_interval_ns;
    Publish();
  }
}

void ProcessTable::Publish() {
  auto snapshot = std::make_shared<ProcessStatusSnapshot>();
  snapshot->processes.reserve(rows_.size());
  for (const auto& [pid, row] : rows_) snapshot->processes.push_back(row);
  std::sort(snapshot->processes.begin(), snapshot->processes.end(),
            [](const ProcessStatusRow& a, const ProcessStatusRow& b) { return a.pid < b.pid; });
  snapshot->max_processes = options_.max_processes;
  snapshot->refused = refused_;
  changed_ = false;
  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(snapshot);
}

std::shared_ptr<const ProcessStatusSnapshot> ProcessTable::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

std::string ProcessStatusJson(const ProcessStatusSnapshot& snapshot) {
  std::string out = "{\"processes\":[";
  for (size_t i = 0; i < snapshot.processes.size(); ++i) {
    if (i > 0) out.append(",");
    AppendRow(&out, snapshot.processes[i]);
  }
  absl::StrAppend(&out, "],\"max_processes\":", snapshot.max_processes,
                  ",\"refused\":", snapshot.refused, "}\n");
  return out;
}

}  // namespace loupe
