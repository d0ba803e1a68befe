#include "userspace/spans/span_assembler.h"

#include <algorithm>

namespace loupe {
namespace {

constexpr size_t kMaxServingProcesses = 65536;
// How far a server exchange may stick out of its client exchange's interval and still be its
// child. Consecutive exchanges on one connection are a round trip apart, far more than this.
constexpr uint64_t kLocalMatchToleranceNs = 200'000;
// Later than any arrival, yet far enough from overflow to add a window to.
constexpr uint64_t kEndOfTime = UINT64_MAX / 2;

}  // namespace

SpanAssembler::SpanAssembler(SpanAssemblerOptions options, SpanSink* sink,
                             prometheus::Registry& registry, const Clock* clock)
    : options_(options),
      sink_(sink),
      clock_(clock),
      rng_(std::random_device{}()),
      spans_assembled_(prometheus::BuildCounter()
                           .Name("loupe_spans_assembled_total")
                           .Help("Spans built from records and handed to the span exporters")
                           .Register(registry)
                           .Add({})),
      spans_unsampled_(prometheus::BuildCounter()
                           .Name("loupe_spans_unsampled_total")
                           .Help("Spans not exported because the caller's traceparent was not "
                                 "sampled")
                           .Register(registry)
                           .Add({})),
      spans_early_(prometheus::BuildCounter()
                       .Name("loupe_spans_assembled_early_total")
                       .Help("Spans resolved before their assembly window ended because the "
                             "buffer was full (their parent may be missed)")
                       .Register(registry)
                       .Add({})),
      parent_traceparent_(prometheus::BuildCounter()
                              .Name("loupe_span_parents_total")
                              .Help("How spans found their parent")
                              .Register(registry)
                              .Add({{"source", "traceparent"}})),
      parent_local_client_(prometheus::BuildCounter()
                               .Name("loupe_span_parents_total")
                               .Help("How spans found their parent")
                               .Register(registry)
                               .Add({{"source", "local_client"}})),
      parent_thread_(prometheus::BuildCounter()
                         .Name("loupe_span_parents_total")
                         .Help("How spans found their parent")
                         .Register(registry)
                         .Add({{"source", "serving_thread"}})) {}

template <size_t N>
std::array<uint8_t, N> SpanAssembler::RandomId() {
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t bits = rng_();
      for (size_t j = 0; j < 8 && i + j < N; ++j) id[i + j] = static_cast<uint8_t>(bits >> (8 * j));
    }
  } while (std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; }));
  return id;
}

void SpanAssembler::OnResolvedRecord(const RecordContext& context,
                                     const std::shared_ptr<const ProcessResource>& resource,
                                     Record record) {
  const uint64_t now_ns = clock_->MonotonicNs();
  const Id id = next_id_++;
  Node& node = nodes_[id];
  node.record = std::move(record);
  node.resource = resource;
  node.tgid = context.tgid;
  node.tid = context.tid;
  node.local_address = std::string(context.local_address);
  node.remote_address = std::string(context.remote_address);
  node.local_port = context.local_port;
  node.remote_port = context.remote_port;
  node.arrival_ns = now_ns;
  node.span_id = RandomId<8>();
  if (node.record.span_kind() == SpanKind::kClient) {
    clients_by_tuple_[Tuple{node.local_address, node.local_port, node.remote_address,
                            node.remote_port}]
        .push_back(id);
  } else {
    servers_by_thread_[ThreadKey{node.tgid, node.tid}].push_back(id);
    if (serving_tgids_.size() >= kMaxServingProcesses) serving_tgids_.clear();
    serving_tgids_.insert(node.tgid);
  }
  to_emit_.push_back(id);
  const bool final_now = node.record.span_kind() == SpanKind::kClient
                             ? !serving_tgids_.contains(node.tgid)
                             : node.record.incoming_context.has_value();
  if (final_now) Emit(id, now_ns);
  while (nodes_.size() > options_.max_buffered) {
    if (!to_retire_.empty()) {
      Forget(to_retire_.front().second);
      to_retire_.pop_front();
    } else if (!to_emit_.empty()) {
      const Id oldest = to_emit_.front();
      to_emit_.pop_front();
      // Spans emitted at once keep their turn in to_emit_ and may be forgotten already: only
      // a span still waiting is resolved early (and counted).
      auto waiting = nodes_.find(oldest);
      if (waiting == nodes_.end() || waiting->second.emitted) continue;
      spans_early_.Increment();
      Emit(oldest, now_ns);
    } else {
      break;
    }
  }
}

SpanAssembler::Node* SpanAssembler::FindLocalClient(const Node& server) {
  auto it = clients_by_tuple_.find(
      Tuple{server.remote_address, server.remote_port, server.local_address, server.local_port});
  if (it == clients_by_tuple_.end()) return nullptr;
  // The two ends' timestamps come from different threads: a peer's read can return before the
  // writer's syscall exits, so the server interval may poke out of the client's by microseconds.
  // Pick the client exchange on this connection that the server interval violates the least.
  Node* best = nullptr;
  uint64_t best_violation = kLocalMatchToleranceNs + 1;
  for (Id id : it->second) {
    Node& client = nodes_.at(id);
    const Record& c = client.record;
    const Record& s = server.record;
    const uint64_t violation = (c.start_ns > s.start_ns ? c.start_ns - s.start_ns : 0) +
                               (s.end_ns > c.end_ns ? s.end_ns - c.end_ns : 0);
    if (violation < best_violation) {
      best_violation = violation;
      best = &client;
    }
  }
  return best;
}

SpanAssembler::Node* SpanAssembler::FindServingThread(const Node& client) {
  auto it = servers_by_thread_.find(ThreadKey{client.tgid, client.tid});
  if (it == servers_by_thread_.end()) return nullptr;
  for (Id id : it->second) {
    Node& server = nodes_.at(id);
    if (server.record.start_ns <= client.record.start_ns &&
        client.record.end_ns <= server.record.end_ns) {
      return &server;
    }
  }
  return nullptr;
}

void SpanAssembler::Resolve(Node& node, int depth) {
  if (node.resolved) return;
  node.resolved = true;  // set first: a cycle (impossible with sane clocks) ends as a root
  Node* parent = nullptr;
  if (node.record.span_kind() == SpanKind::kServer) {
    if (node.record.incoming_context.has_value()) {
      const TraceContext& ctx = *node.record.incoming_context;
      node.trace_id = ctx.trace_id;
      node.parent_span_id = ctx.span_id;
      node.sampled = ctx.sampled;
      parent_traceparent_.Increment();
      return;
    }
    parent = depth < 16 ? FindLocalClient(node) : nullptr;
    if (parent != nullptr) parent_local_client_.Increment();
  } else {
    parent = depth < 16 ? FindServingThread(node) : nullptr;
    if (parent != nullptr) parent_thread_.Increment();
  }
  if (parent != nullptr) {
    Resolve(*parent, depth + 1);
    node.trace_id = parent->trace_id;
    node.parent_span_id = parent->span_id;
    node.sampled = parent->sampled;
    return;
  }
  node.trace_id = RandomId<16>();
  node.parent_span_id = {};
  node.sampled = true;
}

void SpanAssembler::Emit(Id id, uint64_t now_ns) {
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.emitted) return;
  Node& node = it->second;
  Resolve(node, 0);
  node.emitted = true;
  to_retire_.emplace_back(now_ns + options_.window_ns, id);
  if (!node.sampled) {
    spans_unsampled_.Increment();
    return;
  }
  Span span;
  span.trace_id = node.trace_id;
  span.span_id = node.span_id;
  span.parent_span_id = node.parent_span_id;
  span.sampled = node.sampled;
  span.kind = node.record.span_kind();
  // The node stays (children may still link to it) but its record's name and attributes are
  // not read again once the span is out.
  span.name = std::move(node.record.span_name);
  span.start_unix_ns = clock_->MonotonicToUnixNs(node.record.start_ns);
  span.end_unix_ns =
      clock_->MonotonicToUnixNs(std::max(node.record.end_ns, node.record.start_ns));
  span.is_error = node.record.is_error;
  span.attributes = std::move(node.record.attributes);
  if (node.record.is_error && !node.record.error_type.empty()) {
    span.status_message = node.record.error_type;
    span.attributes.push_back(SpanAttribute{"error.type", node.record.error_type, false});
  }
  span.resource = node.resource;
  spans_assembled_.Increment();
  sink_->Consume(std::move(span));
}

void SpanAssembler::Forget(Id id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  const Node& node = it->second;
  auto drop = [id](std::vector<Id>& ids) { ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end()); };
  if (node.record.span_kind() == SpanKind::kClient) {
    auto list = clients_by_tuple_.find(
        Tuple{node.local_address, node.local_port, node.remote_address, node.remote_port});
    if (list != clients_by_tuple_.end()) {
      drop(list->second);
      if (list->second.empty()) clients_by_tuple_.erase(list);
    }
  } else {
    auto list = servers_by_thread_.find(ThreadKey{node.tgid, node.tid});
    if (list != servers_by_thread_.end()) {
      drop(list->second);
      if (list->second.empty()) servers_by_thread_.erase(list);
    }
  }
  nodes_.erase(it);
}

void SpanAssembler::Flush() { FlushUntil(clock_->MonotonicNs()); }

void SpanAssembler::FlushAll() { FlushUntil(kEndOfTime); }

void SpanAssembler::FlushUntil(uint64_t now_ns) {
  while (!to_emit_.empty()) {
    auto it = nodes_.find(to_emit_.front());
    if (it != nodes_.end() && it->second.arrival_ns + options_.window_ns > now_ns) break;
    const Id id = to_emit_.front();
    to_emit_.pop_front();
    Emit(id, now_ns);
  }
  while (!to_retire_.empty() && to_retire_.front().first <= now_ns) {
    Forget(to_retire_.front().second);
    to_retire_.pop_front();
  }
}

}  // namespace loupe
