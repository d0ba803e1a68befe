// Turns records into spans with trace context, following these rules (docs/tracing.md):
//
//  1. A SERVER record carrying a valid `traceparent` continues that trace: same trace id, parent
//     = the caller's span id, the sampled flag respected.
//  2. A SERVER record whose connection's other end is a CLIENT record seen on this host (same
//     4-tuple mirrored, client interval enclosing the server interval) is that client span's
//     child, so local calls form one trace even when nobody forwards headers.
//  3. A CLIENT record made by a thread while that thread served a request (same tgid and tid,
//     server interval enclosing the client interval) is that SERVER span's child. This covers
//     thread-per-request runtimes; event loops and async runtimes hop threads and are not covered.
//  4. Anything else starts a new trace with random ids.
//
// Records arrive in completion order (children usually before their parents), so each span is
// held for an assembly window before it is resolved and emitted, and stays findable (with its ids
// fixed) for one more window after that, for relatives that arrive late. The buffer is bounded:
// when it is full the oldest emitted span is forgotten, or else the oldest one is resolved early
// (counted). Spans that nothing can still change are emitted at once, which keeps the buffer
// small under load: SERVER spans continuing a traceparent, and CLIENT spans of processes that
// have never served a request (load generators, batch jobs, database clients). The price: the
// very first client call of a process, made before its first request was seen, becomes a root.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "userspace/core/clock.h"
#include "userspace/core/record_sink.h"
#include "userspace/core/span.h"

namespace loupe {

struct SpanAssemblerOptions {
  uint64_t window_ns = 2'500'000'000;  // hold each span this long for its relatives to arrive
  size_t max_buffered = 20000;
};

class SpanAssembler : public ResolvedRecordSink {
 public:
  // `clock` stamps arrivals, times the window and converts the kernel's timestamps to Unix
  // time; it must outlive the assembler.
  SpanAssembler(SpanAssemblerOptions options, SpanSink* sink, prometheus::Registry& registry,
                const Clock* clock);

  void OnResolvedRecord(const RecordContext& context,
                        const std::shared_ptr<const ProcessResource>& resource,
                        Record record) override;

  // Emits every span whose window has passed, and forgets those emitted a window ago.
  void Flush();
  // Shutdown: emits everything still held, relatives linked as far as they arrived.
  void FlushAll();

  size_t buffered() const { return nodes_.size(); }

 private:
  using Id = uint64_t;  // arrival sequence number
  struct Node {
    Record record;
    std::shared_ptr<const ProcessResource> resource;
    uint32_t tgid = 0;
    uint32_t tid = 0;
    std::string local_address, remote_address;
    uint16_t local_port = 0, remote_port = 0;
    uint64_t arrival_ns = 0;
    std::array<uint8_t, 8> span_id{};
    // Resolved lazily, then fixed, so that relatives emitted at different times agree.
    bool resolved = false;
    std::array<uint8_t, 16> trace_id{};
    std::array<uint8_t, 8> parent_span_id{};
    bool sampled = true;
    bool emitted = false;
  };
  struct Tuple {
    std::string a_address;
    uint16_t a_port;
    std::string b_address;
    uint16_t b_port;
    bool operator==(const Tuple&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Tuple& t) {
      return H::combine(std::move(h), t.a_address, t.a_port, t.b_address, t.b_port);
    }
  };
  struct ThreadKey {
    uint32_t tgid;
    uint32_t tid;
    bool operator==(const ThreadKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const ThreadKey& k) {
      return H::combine(std::move(h), k.tgid, k.tid);
    }
  };

  void Resolve(Node& node, int depth);
  Node* FindLocalClient(const Node& server);
  Node* FindServingThread(const Node& client);
  void FlushUntil(uint64_t now_ns);
  void Emit(Id id, uint64_t now_ns);
  void Forget(Id id);
  template <size_t N>
  std::array<uint8_t, N> RandomId();

  SpanAssemblerOptions options_;
  SpanSink* sink_;
  const Clock* clock_;
  Id next_id_ = 1;
  absl::flat_hash_map<Id, Node> nodes_;
  std::deque<Id> to_emit_;                          // arrival order
  std::deque<std::pair<uint64_t, Id>> to_retire_;   // (forget after, id), emission order
  // Client spans by (local address, local port, remote address, remote port).
  absl::flat_hash_map<Tuple, std::vector<Id>> clients_by_tuple_;
  // Server spans by the thread that served them.
  absl::flat_hash_map<ThreadKey, std::vector<Id>> servers_by_thread_;
  // Processes that served at least one request (bounded: cleared when it grows past the cap).
  absl::flat_hash_set<uint32_t> serving_tgids_;
  std::mt19937_64 rng_;

  prometheus::Counter& spans_assembled_;
  prometheus::Counter& spans_unsampled_;
  prometheus::Counter& spans_early_;
  prometheus::Counter& parent_traceparent_;
  prometheus::Counter& parent_local_client_;
  prometheus::Counter& parent_thread_;
};

}  // namespace loupe
