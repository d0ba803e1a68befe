#include "userspace/conn/conn_tracker.h"

#include <cstring>
#include <utility>

#include "userspace/conn/address.h"
#include "userspace/kernel_red/red_key.h"
#include "userspace/metrics/agent_metrics.h"
#include "userspace/protocols/registry.h"

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

const char* InstrumentName(Instrument instrument) {
  switch (instrument) {
    case Instrument::kHttpServer: return "http_server";
    case Instrument::kHttpClient: return "http_client";
    case Instrument::kDbClient: return "db_client";
  }
  return "unknown";
}

}  // namespace

ConnTracker::ConnTracker(ConnTrackerOptions options, RecordSink* sink, AgentMetrics* metrics)
    : options_(options), sink_(sink), metrics_(metrics) {}

ConnTracker::~ConnTracker() = default;

ConnTracker::Conn* ConnTracker::FindOrCreate(const loupe_event_header& h) {
  auto it = conns_.find(h.conn_id);
  if (it != conns_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
  }
  if (conns_.size() >= options_.max_connections && !lru_.empty()) {
    Forget(lru_.back(), "table_full");
  }
  Conn& conn = conns_[h.conn_id];
  conn.tgid = h.tgid;
  conn.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
  conn.role = h.tuple.role == LOUPE_ROLE_CLIENT ? Role::kClient : Role::kServer;
  conn.local_address = FormatAddress(h.tuple.family, h.tuple.local_addr);
  conn.remote_address = FormatAddress(h.tuple.family, h.tuple.remote_addr);
  conn.local_port = h.tuple.local_port;
  conn.remote_port = h.tuple.remote_port;
  lru_.push_front(h.conn_id);
  conn.lru = lru_.begin();
  return &conn;
}

void ConnTracker::Forget(uint64_t conn_id, const char* reason) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  if (it->second.pending.has_value()) Finalize(it->second, conn_id, "timeout");
  if (reason != nullptr) metrics_->ConnectionEvicted(reason);
  lru_.erase(it->second.lru);
  conns_.erase(it);
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
  } else if (h.kind == LOUPE_EV_PREV_END) {
    // The next exchange is counted in the kernel (--metrics_only); this one ends here.
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
  for (const auto& protocol : AllProtocols()) {
    const Detection d = protocol->Detect(exchange, info);
    if (d == Detection::kYes) {
      conn.protocol = protocol.get();
      break;
    }
    if (d == Detection::kMaybe && maybe == nullptr) maybe = protocol.get();
  }
  if (conn.protocol == nullptr) conn.protocol = maybe;
  if (conn.protocol == nullptr) return false;
  conn.parser = conn.protocol->NewConnection(info);
  sink_->OnConnectionClassified(conn.tgid, conn.comm);
  return true;
}

void ConnTracker::FinalizeWithPrev(Conn& conn, uint64_t conn_id, const loupe_prev_response& prev) {
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
  std::optional<loupe_red_key> red_key;
  if ((event.header->flags & LOUPE_EVF_RED_CANDIDATE) != 0) {
    red_key = KernelRedKeyFor(*event.header, event.request, event.response);
  }
  ClassifyAndParse(conn, conn_id, exchange, nullptr, red_key);
}

// A new exchange (not a pending one being finalized): TLS ciphertext is skipped, an unclaimed
// connection is counted, the rest goes to the connection's parser.
void ConnTracker::ClassifyAndParse(Conn& conn, uint64_t conn_id, const Exchange& exchange,
                                   const char* final_reason,
                                   const std::optional<loupe_red_key>& red_key) {
  if (SkipTls(conn, exchange)) return;
  if (!Classify(conn, exchange)) {
    metrics_->ExchangeUnclassified();
    return;
  }
  Parse(conn, conn_id, exchange, final_reason, red_key);
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
  if (!event.request.empty()) ReportUnanswered(conn, conn_id, event, reason);
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
  Pending pending = std::move(*conn.pending);
  conn.pending.reset();
  pending.exchange.request = pending.request;
  pending.exchange.response = pending.response;
  pending.exchange.final = true;
  Parse(conn, conn_id, pending.exchange, reason, pending.red_key);
}

void ConnTracker::Parse(Conn& conn, uint64_t conn_id, const Exchange& exchange,
                        const char* final_reason, const std::optional<loupe_red_key>& red_key) {
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
                             std::string(exchange.response), red_key};
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
      RecordContext context;
      context.tgid = conn.tgid;
      context.tid = exchange.thread_id;
      context.conn_id = conn_id;
      context.role = conn.role;
      context.protocol = protocol;
      context.comm = conn.comm;
      context.local_address = conn.local_address;
      context.local_port = conn.local_port;
      context.remote_address = conn.remote_address;
      context.remote_port = conn.remote_port;
      // The kernel may count this key's later exchanges only if this one made exactly one
      // record (KernelRedTable::Learn checks that its labels follow from the key alone).
      if (red_key.has_value() && scratch_records_.size() == 1 && unreported == 0) {
        context.kernel_red_key = &*red_key;
      }
      for (Record& record : scratch_records_) {
        metrics_->RecordEmitted(InstrumentName(record.instrument));
        sink_->OnRecord(context, std::move(record));
      }
      break;
    }
  }
  if (unreported > 0) metrics_->RequestsUnreported(protocol, unreported);
}

void ConnTracker::Sweep(uint64_t now_ns) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    const uint64_t conn_id = *it;
    ++it;  // Forget() below erases conn_id's node, never the next one.
    Conn& conn = conns_.at(conn_id);
    if (conn.pending.has_value() &&
        now_ns > conn.pending->exchange.response_start_ns + options_.pending_timeout_ns) {
      Finalize(conn, conn_id, "timeout");
    }
    if (now_ns > conn.last_event_ns + options_.idle_timeout_ns) {
      Forget(conn_id, "idle");
    }
  }
  ReportConnectionsTracked();
}

}  // namespace loupe
