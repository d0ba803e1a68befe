#include "userspace/conn/conn_tracker.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "userspace/conn/address.h"
#include "userspace/core/check.h"
#include "userspace/metrics/agent_metrics.h"

namespace loupe {
namespace {

Exchange ExchangeFrom(const loupe_event_header& h) {
  Exchange ex;
  ex.role = h.tuple.role == LOUPE_ROLE_CLIENT ? Role::kClient : Role::kServer;
  ex.seq = h.totals.seq;
  ex.request_start_ns = h.totals.req_start_ns;
  ex.request_end_ns = h.totals.req_end_ns;
  ex.response_start_ns = h.totals.resp_start_ns;
  ex.response_end_ns = h.totals.resp_end_ns;
  ex.request_bytes = h.totals.req_bytes;
  ex.response_bytes = h.totals.resp_bytes;
  ex.response_chunks = h.totals.resp_chunks;
  ex.first_response_chunk_bytes = h.totals.first_resp_chunk_bytes;
  ex.thread_id = h.totals.req_tid;
  ex.tls = (h.flags & LOUPE_EVF_TLS) != 0;
  return ex;
}

const char* RoleName(Role role) { return role == Role::kClient ? "client" : "server"; }

StreamDirection DirectionOf(uint8_t direction) {
  return direction == LOUPE_CHUNK_REQUEST ? StreamDirection::kRequest : StreamDirection::kResponse;
}

}  // namespace

ConnTracker::ConnTracker(ConnTrackerOptions options, std::vector<const Protocol*> protocols,
                         RecordSink* sink, AgentMetrics* metrics)
    : options_(options), protocols_(std::move(protocols)), sink_(sink), metrics_(metrics) {}

ConnTracker::~ConnTracker() = default;

ConnTracker::Conn* ConnTracker::FindOrCreate(const loupe_event_header& h) {
  auto it = conns_.find(h.conn_id);
  if (it != conns_.end()) {
    LOUPE_DCHECK(*it->second.lru == h.conn_id);
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
  }
  if (conns_.size() >= options_.max_connections && !lru_.empty()) {
    Forget(lru_.back(), "table_full");
  }
  auto [inserted, is_new] = conns_.try_emplace(h.conn_id);
  LOUPE_DCHECK(is_new);
  Conn& conn = inserted->second;
  conn.tgid = h.tgid;
  conn.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
  conn.role = h.tuple.role == LOUPE_ROLE_CLIENT ? Role::kClient : Role::kServer;
  conn.local_address = FormatAddress(h.tuple.family, h.tuple.local_addr);
  conn.remote_address = FormatAddress(h.tuple.family, h.tuple.remote_addr);
  conn.local_port = h.tuple.local_port;
  conn.remote_port = h.tuple.remote_port;
  lru_.push_front(h.conn_id);
  conn.lru = lru_.begin();
  LOUPE_DCHECK(lru_.size() == conns_.size());
  return &conn;
}

void ConnTracker::Forget(uint64_t conn_id, const char* reason) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  if (it->second.pending.has_value()) Finalize(it->second, conn_id, "timeout");
  // A stream forgotten before its close ends as if closed: what it holds is counted.
  if (it->second.stream != nullptr) CloseStream(it->second, conn_id, nullptr);
  if (reason != nullptr) metrics_->ConnectionEvicted(reason);
  LOUPE_DCHECK(*it->second.lru == conn_id);
  lru_.erase(it->second.lru);
  conns_.erase(it);
  LOUPE_DCHECK(lru_.size() == conns_.size());
}

ConnectionInfo ConnTracker::InfoOf(const Conn& conn) const {
  ConnectionInfo info;
  info.role = conn.role;
  info.local_port = conn.local_port;
  info.remote_port = conn.remote_port;
  info.span_attributes = options_.span_attributes;
  if (conn.role == Role::kServer) {
    info.server_address = conn.local_address;
    info.server_port = conn.local_port;
    info.client_address = conn.remote_address;
    info.client_port = conn.remote_port;
  } else {
    info.server_address = conn.remote_address;
    info.server_port = conn.remote_port;
    info.client_address = conn.local_address;
    info.client_port = conn.local_port;
  }
  return info;
}

void ConnTracker::OnEvent(const CaptureEvent& event) {
  const loupe_event_header& h = *event.header;
  metrics_->EventRead(h.kind);
  if (h.kind == LOUPE_EV_EXCHANGE) {
    Conn* conn = FindOrCreate(h);
    conn->last_event_ns = h.totals.resp_start_ns;
    OnExchange(*conn, h.conn_id, event);
  } else if (h.kind == LOUPE_EV_CHUNK) {
    Conn* conn = FindOrCreate(h);
    conn->last_event_ns = event.chunk->ts_ns;
    OnChunk(*conn, h.conn_id, event);
  } else if (h.kind == LOUPE_EV_PREV_END) {
    // The kernel counts the next exchange itself and sends no record of it: this one ends here.
    if (auto it = conns_.find(h.conn_id); it != conns_.end()) {
      it->second.last_event_ns = h.totals.resp_start_ns;
      if (it->second.pending.has_value()) FinalizeWithPrev(it->second, h.conn_id, h.prev);
    }
  } else {
    // A CLOSE for a connection userspace does not hold carries nothing to report, unless it
    // carries a request that was never answered (possibly the connection's first).
    auto it = conns_.find(h.conn_id);
    Conn* conn = it != conns_.end() ? &it->second : nullptr;
    if (conn == nullptr && !event.request.empty()) conn = FindOrCreate(h);
    if (conn == nullptr) return;
    OnClose(*conn, h.conn_id, event);
    Forget(h.conn_id, nullptr);
  }
  ReportConnectionsTracked();
}

// A gauge update is an atomic read-modify-write on a double: done per event it cost ~3 % of
// the pipeline, so it is done only when the number changed.
void ConnTracker::ReportConnectionsTracked() {
  if (conns_.size() == reported_connections_) return;
  reported_connections_ = conns_.size();
  metrics_->SetConnectionsTracked(reported_connections_);
}

bool ConnTracker::Classify(Conn& conn, const Exchange& exchange) {
  if (conn.protocol != nullptr) return true;
  if (conn.detection_attempts >= options_.detection_attempts) return false;
  ++conn.detection_attempts;
  const ConnectionInfo info = InfoOf(conn);
  const Protocol* maybe = nullptr;
  for (const Protocol* protocol : protocols_) {
    const Detection d = protocol->Detect(exchange, info);
    if (d == Detection::kYes) {
      conn.protocol = protocol;
      break;
    }
    if (d == Detection::kMaybe && maybe == nullptr) maybe = protocol;
  }
  if (conn.protocol == nullptr) conn.protocol = maybe;
  if (conn.protocol == nullptr) return false;
  conn.parser = conn.protocol->NewConnection(info);
  sink_->OnConnectionClassified(conn.tgid, conn.comm);
  return true;
}

void ConnTracker::FinalizeWithPrev(Conn& conn, uint64_t conn_id, const loupe_prev_response& prev) {
  LOUPE_DCHECK(conn.pending.has_value());
  Exchange& ex = conn.pending->exchange;
  if (prev.seq == ex.seq && prev.resp_chunks >= ex.response_chunks) {
    ex.response_end_ns = prev.resp_end_ns;
    ex.response_bytes = prev.resp_bytes;
    ex.response_chunks = prev.resp_chunks;
  }
  Finalize(conn, conn_id, "next_exchange");
}

void ConnTracker::OnExchange(Conn& conn, uint64_t conn_id, const CaptureEvent& event) {
  if (conn.pending.has_value()) FinalizeWithPrev(conn, conn_id, event.header->prev);
  Exchange exchange = ExchangeFrom(*event.header);
  exchange.request = event.request;
  exchange.response = event.response;
  std::optional<ExchangeKey> key;
  if (key_source_ != nullptr) {
    key = key_source_->KeyOf(*event.header, event.request, event.response);
  }
  ClassifyAndParse(conn, conn_id, exchange, nullptr, key);
}

// A new exchange (not a pending one being finalized): TLS ciphertext is skipped, an unclaimed
// connection is counted, the rest goes to the connection's parser.
void ConnTracker::ClassifyAndParse(Conn& conn, uint64_t conn_id, const Exchange& exchange,
                                   const char* final_reason,
                                   const std::optional<ExchangeKey>& key) {
  if (SkipTls(conn, exchange)) return;
  if (!Classify(conn, exchange)) {
    metrics_->ExchangeUnclassified();
    return;
  }
  Parse(conn, conn_id, exchange, final_reason, key);
}

// TLS (userspace/tls/): plaintext from libssl is parsed like any other exchange; ciphertext no
// uprobe decrypts (e.g. Go's crypto/tls) is reported once per connection and never parsed, so it
// is not counted as unclassified.
bool ConnTracker::SkipTls(Conn& conn, const Exchange& exchange) {
  if (exchange.tls) {
    if (!conn.tls_seen && tls_observer_ != nullptr) {
      tls_observer_->OnTlsConnection(conn.tgid, conn.comm, true);
    }
    conn.tls_seen = true;
    return false;
  }
  if (!conn.tls_seen) {
    if (conn.protocol != nullptr || !LooksLikeTlsRecord(exchange.request)) return false;
    conn.tls_seen = true;
    if (tls_observer_ != nullptr) tls_observer_->OnTlsConnection(conn.tgid, conn.comm, false);
  }
  return true;
}

void ConnTracker::OnClose(Conn& conn, uint64_t conn_id, const CaptureEvent& event) {
  const loupe_event_header& h = *event.header;
  const char* reason = (h.flags & LOUPE_EVF_EXIT) != 0 ? "process_exit" : "close";
  if (conn.pending.has_value()) FinalizeAtClose(conn, conn_id, h, reason);
  if (conn.stream != nullptr) {
    CloseStream(conn, conn_id, &h);
    return;
  }
  if (!event.request.empty()) ReportUnanswered(conn, conn_id, event, reason);
}

// A chunk of a connection in stream mode. The first one ends the exchange userspace may still
// hold (its final totals ride in `prev`, as in an EXCHANGE record) and picks the stream parser.
void ConnTracker::OnChunk(Conn& conn, uint64_t conn_id, const CaptureEvent& event) {
  if (conn.pending.has_value()) FinalizeWithPrev(conn, conn_id, event.header->prev);
  if (conn.stream == nullptr) StartStream(conn, event);
  const loupe_chunk& chunk = *event.chunk;
  const uint8_t d = chunk.direction;
  LOUPE_DCHECK(d <= LOUPE_CHUNK_RESPONSE);  // DecodeCaptureEvent refuses any other direction
  uint64_t& next = conn.stream->next_offset[d];
  std::string_view data = event.data;
  uint64_t skipped = chunk.skipped;
  StreamCatchUp(conn, d, chunk.offset, chunk.ts_ns);
  if (chunk.offset < next) {
    // Overlaps bytes already fed (never expected): only what lies past them is new.
    uint64_t overlap = next - chunk.offset;
    const uint64_t from_data = std::min<uint64_t>(overlap, data.size());
    data.remove_prefix(static_cast<size_t>(from_data));
    overlap -= from_data;
    skipped -= std::min(overlap, skipped);
  }
  StreamParser* parser = conn.stream->parser.get();
  if (!data.empty()) {
    if (parser != nullptr) {
      parser->OnData(DirectionOf(d), data, chunk.ts_ns, chunk.tid, &stream_out_);
    } else {
      metrics_->StreamBytesUnparsed(d == LOUPE_CHUNK_REQUEST ? "request" : "response",
                                    StreamLossName(StreamLoss::kNoParser), data.size());
    }
  }
  next += data.size();
  if (skipped > 0) StreamGap(conn, d, skipped, /*lost=*/false, chunk.ts_ns);
  EmitStream(conn, conn_id);
}

void ConnTracker::StartStream(Conn& conn, const CaptureEvent& event) {
  conn.stream = std::make_unique<Conn::Stream>();
  Exchange first;
  first.role = conn.role;
  first.tls = (event.header->flags & LOUPE_EVF_TLS) != 0;
  if (event.chunk->direction == LOUPE_CHUNK_REQUEST) first.request = event.data;
  if (!Classify(conn, first) || conn.protocol == nullptr) return;
  conn.stream->parser = conn.protocol->NewStream(InfoOf(conn), first.tls);
}

void ConnTracker::StreamCatchUp(Conn& conn, uint8_t d, uint64_t offset, uint64_t ts_ns) {
  const uint64_t next = conn.stream->next_offset[d];
  if (offset > next) StreamGap(conn, d, offset - next, /*lost=*/true, ts_ns);
}

void ConnTracker::StreamGap(Conn& conn, uint8_t d, uint64_t n, bool lost, uint64_t ts_ns) {
  conn.stream->next_offset[d] += n;
  if (conn.stream->parser != nullptr) {
    conn.stream->parser->OnGap(DirectionOf(d), n, lost, ts_ns, &stream_out_);
  } else {
    metrics_->StreamBytesUnparsed(d == LOUPE_CHUNK_REQUEST ? "request" : "response",
                                  StreamLossName(StreamLoss::kNoParser), n);
  }
}

// The connection closed: bytes past the last chunk (records lost at the end) are a gap, then
// the parser decides what is left. `header` is null when the tracker forgets the connection.
void ConnTracker::CloseStream(Conn& conn, uint64_t conn_id, const loupe_event_header* header) {
  LOUPE_DCHECK(conn.stream != nullptr);
  if (header != nullptr) {
    StreamCatchUp(conn, LOUPE_CHUNK_REQUEST, header->totals.req_bytes, header->totals.req_end_ns);
    StreamCatchUp(conn, LOUPE_CHUNK_RESPONSE, header->totals.resp_bytes,
                  header->totals.resp_end_ns);
  }
  if (conn.stream->parser != nullptr) conn.stream->parser->OnClose(&stream_out_);
  EmitStream(conn, conn_id);
  conn.stream.reset();
}

RecordContext ConnTracker::ContextFor(const Conn& conn, uint64_t conn_id, uint32_t thread_id) {
  LOUPE_DCHECK(conn.protocol != nullptr);
  RecordContext context;
  context.tgid = conn.tgid;
  context.tid = thread_id;
  context.conn_id = conn_id;
  context.role = conn.role;
  context.protocol = conn.protocol->name();
  context.comm = conn.comm;
  context.local_address = conn.local_address;
  context.local_port = conn.local_port;
  context.remote_address = conn.remote_address;
  context.remote_port = conn.remote_port;
  return context;
}

void ConnTracker::EmitStream(Conn& conn, uint64_t conn_id) {
  LOUPE_DCHECK(conn.stream != nullptr);
  StreamParser* parser = conn.stream->parser.get();
  if (parser == nullptr) return;
  const std::string_view protocol = conn.protocol->name();
  for (size_t i = 0; i < stream_out_.records.size(); ++i) {
    metrics_->ExchangeParsed(protocol);
    metrics_->ExchangeFinalized("stream");
    RecordContext context = ContextFor(conn, conn_id, stream_out_.thread_ids[i]);
    Record& record = stream_out_.records[i];
    metrics_->RecordEmitted(record.instrument->short_name);
    sink_->OnRecord(context, std::move(record));
  }
  stream_out_.records.clear();
  stream_out_.thread_ids.clear();
  const StreamCounts counts = parser->TakeCounts();
  const char* role = RoleName(conn.role);
  if (counts.request_not_captured > 0) {
    metrics_->RequestsUnreported(protocol, role, "request_not_captured",
                                 counts.request_not_captured);
  }
  if (counts.response_not_captured > 0) {
    metrics_->RequestsUnreported(protocol, role, "response_not_captured",
                                 counts.response_not_captured);
  }
  if (counts.unanswered > 0) metrics_->RequestsUnanswered(protocol, role, counts.unanswered);
  for (int d = 0; d < 2; ++d) {
    for (int loss = 0; loss < kStreamLossCount; ++loss) {
      if (counts.bytes_unparsed[d][loss] == 0) continue;
      metrics_->StreamBytesUnparsed(d == 0 ? "request" : "response",
                                    StreamLossName(static_cast<StreamLoss>(loss)),
                                    counts.bytes_unparsed[d][loss]);
    }
  }
}

// The request in progress when the connection closed never got a response byte: the parser
// gets it as a final exchange with an empty response and decides (a call that failed, or a
// goodbye like PostgreSQL's Terminate that expects no answer).
void ConnTracker::ReportUnanswered(Conn& conn, uint64_t conn_id, const CaptureEvent& event,
                                   const char* reason) {
  Exchange exchange = ExchangeFrom(*event.header);
  exchange.request = event.request;
  exchange.response_bytes = 0;
  exchange.response_chunks = 0;
  exchange.first_response_chunk_bytes = 0;
  exchange.final = true;
  exchange.closed_with_totals = true;
  ClassifyAndParse(conn, conn_id, exchange, reason, std::nullopt);
}

void ConnTracker::FinalizeAtClose(Conn& conn, uint64_t conn_id, const loupe_event_header& h,
                                  const char* reason) {
  LOUPE_DCHECK(conn.pending.has_value());
  Exchange& ex = conn.pending->exchange;
  // The pending exchange is the one in progress at close, or the one before it when a new
  // request had begun (its final totals then ride in `prev`).
  if (h.totals.seq == ex.seq && h.totals.resp_chunks >= ex.response_chunks) {
    ex.response_end_ns = h.totals.resp_end_ns;
    ex.response_bytes = h.totals.resp_bytes;
    ex.response_chunks = h.totals.resp_chunks;
    ex.closed_with_totals = true;
  } else if (h.prev.seq == ex.seq && h.prev.resp_chunks >= ex.response_chunks) {
    ex.response_end_ns = h.prev.resp_end_ns;
    ex.response_bytes = h.prev.resp_bytes;
    ex.response_chunks = h.prev.resp_chunks;  // a next request had begun: not cut at close
  }
  Finalize(conn, conn_id, reason);
}

void ConnTracker::Finalize(Conn& conn, uint64_t conn_id, const char* reason) {
  LOUPE_DCHECK(conn.pending.has_value());
  Pending pending = std::move(*conn.pending);
  conn.pending.reset();
  pending.exchange.request = pending.request;
  pending.exchange.response = pending.response;
  pending.exchange.final = true;
  Parse(conn, conn_id, pending.exchange, reason, pending.key);
}

void ConnTracker::Parse(Conn& conn, uint64_t conn_id, const Exchange& exchange,
                        const char* final_reason, const std::optional<ExchangeKey>& key) {
  // Only a classified connection is parsed (ClassifyAndParse), and a pending exchange exists
  // only once parsed, so a parser is always there.
  LOUPE_DCHECK(conn.protocol != nullptr && conn.parser != nullptr);
  const std::string_view protocol = conn.protocol->name();
  scratch_records_.clear();
  const ParseState state = conn.parser->Parse(exchange, &scratch_records_);
  const uint64_t unreported = conn.parser->TakeUnreportedRequests();
  switch (state) {
    case ParseState::kNeedsMoreData:
      if (exchange.final) {
        // A parser must decide on a final exchange; treat indecision as invalid.
        metrics_->ParseFailure(protocol);
        break;
      }
      conn.pending = Pending{exchange, std::string(exchange.request),
                             std::string(exchange.response), key};
      return;
    case ParseState::kInvalid:
      metrics_->ParseFailure(protocol);
      break;
    case ParseState::kIgnored:
      metrics_->ExchangeIgnored(protocol);
      break;
    case ParseState::kOk: {
      metrics_->ExchangeParsed(protocol);
      metrics_->ExchangeFinalized(final_reason == nullptr ? "complete" : final_reason);
      RecordContext context = ContextFor(conn, conn_id, exchange.thread_id);
      // A key stands for the exchange's record only if the exchange made exactly one (kernel
      // RED then checks that the record's labels follow from the key alone).
      if (key.has_value() && scratch_records_.size() == 1 && unreported == 0) {
        context.aggregation_key = &*key;
      }
      for (Record& record : scratch_records_) {
        metrics_->RecordEmitted(record.instrument->short_name);
        sink_->OnRecord(context, std::move(record));
      }
      break;
    }
  }
  if (unreported > 0) {
    metrics_->RequestsUnreported(protocol, RoleName(conn.role), "exchange_prefix", unreported);
  }
}

void ConnTracker::Sweep(uint64_t now_ns) {
  LOUPE_DCHECK(lru_.size() == conns_.size());
  for (auto it = lru_.begin(); it != lru_.end();) {
    const uint64_t conn_id = *it;
    ++it;  // Forget() below erases conn_id's node, never the next one.
    // Every LRU entry names a held connection (FindOrCreate and Forget change both together).
    auto found = conns_.find(conn_id);
    LOUPE_DCHECK(found != conns_.end());
    if (found == conns_.end()) continue;
    Conn& conn = found->second;
    if (conn.pending.has_value() &&
        now_ns > conn.pending->exchange.response_start_ns + options_.pending_timeout_ns) {
      Finalize(conn, conn_id, "timeout");
    }
    if (now_ns > conn.last_event_ns + options_.idle_timeout_ns) {
      Forget(conn_id, "idle");
    }
  }
  LOUPE_DCHECK(lru_.size() == conns_.size());
  ReportConnectionsTracked();
}

}  // namespace loupe
