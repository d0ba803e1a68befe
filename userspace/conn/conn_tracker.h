// Turns capture events into protocol records. Holds per-connection userspace state (which
// protocol, the protocol's parser, an exchange waiting for its response to end) in a bounded
// table keyed by the kernel's connection id.
//
// Exchange life cycle in userspace:
//
//   event                         | pending exchange of this conn        | then
//   ------------------------------+--------------------------------------+---------------------------
//   EXCHANGE seq=n, prev          | older one exists -> take its final   | parse n (final=false):
//                                 |   totals from `prev`, finalize it    |  ok -> records; needs more
//                                 |   (reason next_exchange)             |  -> keep n pending
//   PREV_END                      | pending -> take its final totals     | nothing: the next exchange
//                                 |   from `prev`, finalize it           |  is counted in the kernel
//                                 |   (reason next_exchange)             |  (it sends no record)
//   CLOSE                         | pending -> update totals, finalize   | a request left
//                                 |   (reason close, or process_exit     |  unanswered (its prefix
//                                 |   when the process exited with it)   |  rides in the CLOSE) is
//                                 |                                      |  parsed as final with no
//                                 |                                      |  response; drop the conn
//   Sweep (timer)                 | pending older than timeout -> final  | (reason timeout)
//   CHUNK (stream mode)           | pending -> take its final totals     | bytes to the protocol's
//                                 |   from `prev`, finalize it           |  StreamParser (gaps from
//                                 |   (reason next_exchange)             |  offsets); its records;
//                                 |                                      |  at CLOSE, its OnClose
//
// Stream mode (bpf/stream.bpf.h): once the kernel streams a connection, no EXCHANGE follows on
// it. Each direction's next expected offset is kept: a chunk further on means records were lost
// (a gap the parser skips inside a body, or loses sync on), a chunk's `skipped` bytes are a gap
// too, and the CLOSE's totals are the final offsets.
//
// Exactly one finalization happens per exchange, so each request is reported at most once.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "userspace/core/exchange.h"
#include "userspace/core/record.h"
#include "userspace/core/record_sink.h"
#include "userspace/core/record_stage.h"
#include "userspace/loader/capture_event.h"
#include "userspace/protocols/protocol.h"
#include "userspace/tls/tls_sniff.h"

namespace loupe {

class AgentMetrics;

struct ConnTrackerOptions {
  size_t max_connections = 16384;
  uint64_t pending_timeout_ns = 2'000'000'000;    // finalize a waiting exchange after 2 s
  uint64_t idle_timeout_ns = 600'000'000'000;     // forget a silent connection after 10 min
  int detection_attempts = 3;                     // exchanges to try before giving up
  bool span_attributes = true;                    // ConnectionInfo::span_attributes
};

class ConnTracker {
 public:
  // `protocols`: the ones to detect, in detection order (the first kYes wins, else the first
  // kMaybe; RegisteredProtocols() in the agent). They must outlive the tracker.
  ConnTracker(ConnTrackerOptions options, std::vector<const Protocol*> protocols,
              RecordSink* sink, AgentMetrics* metrics);
  ~ConnTracker();

  void OnEvent(const CaptureEvent& event);
  // Finalizes timed-out exchanges and forgets idle connections. `now_ns` is CLOCK_MONOTONIC.
  void Sweep(uint64_t now_ns);

  size_t size() const { return conns_.size(); }

  // Told about TLS connections (userspace/tls/); may be null.
  void set_tls_observer(TlsObserver* observer) { tls_observer_ = observer; }
  // Gives exchanges an aggregation key their record carries (core/record_stage.h); may be null.
  void set_exchange_key_source(const ExchangeKeySource* source) { key_source_ = source; }

 private:
  struct Pending {
    Exchange exchange;
    std::string request;
    std::string response;
    std::optional<ExchangeKey> key;
  };
  struct Conn {
    uint32_t tgid = 0;
    Role role = Role::kServer;
    std::string comm;
    std::string local_address;
    std::string remote_address;
    uint16_t local_port = 0;
    uint16_t remote_port = 0;
    const Protocol* protocol = nullptr;
    int detection_attempts = 0;
    std::unique_ptr<ConnectionParser> parser;
    std::optional<Pending> pending;
    struct Stream {
      std::unique_ptr<StreamParser> parser;  // null: no stream parser, bytes counted unparsed
      uint64_t next_offset[2] = {0, 0};      // by loupe_chunk_direction
    };
    std::unique_ptr<Stream> stream;  // set once the kernel streams the connection
    bool tls_seen = false;  // TLS: plaintext from libssl, or ciphertext skipped (SkipTls)
    uint64_t last_event_ns = 0;
    std::list<uint64_t>::iterator lru;
  };

  Conn* FindOrCreate(const loupe_event_header& header);
  void Forget(uint64_t conn_id, const char* reason);
  void OnExchange(Conn& conn, uint64_t conn_id, const CaptureEvent& event);
  void OnClose(Conn& conn, uint64_t conn_id, const CaptureEvent& event);
  void OnChunk(Conn& conn, uint64_t conn_id, const CaptureEvent& event);
  void StartStream(Conn& conn, const CaptureEvent& event);
  // Feeds a direction's bytes up to `offset` (a gap of records lost before it, if any).
  void StreamCatchUp(Conn& conn, uint8_t direction, uint64_t offset, uint64_t ts_ns);
  void StreamGap(Conn& conn, uint8_t direction, uint64_t n, bool lost, uint64_t ts_ns);
  void CloseStream(Conn& conn, uint64_t conn_id, const loupe_event_header* header);
  // Reports the stream's records and what it could not report.
  // Who a record of `conn` came from (the connection's protocol must be known).
  static RecordContext ContextFor(const Conn& conn, uint64_t conn_id, uint32_t thread_id);
  void EmitStream(Conn& conn, uint64_t conn_id);
  // Ends the pending exchange with the final totals a later record carried.
  void FinalizeWithPrev(Conn& conn, uint64_t conn_id, const loupe_prev_response& prev);
  void FinalizeAtClose(Conn& conn, uint64_t conn_id, const loupe_event_header& header,
                       const char* reason);
  void ReportUnanswered(Conn& conn, uint64_t conn_id, const CaptureEvent& event,
                        const char* reason);
  bool Classify(Conn& conn, const Exchange& exchange);
  void ClassifyAndParse(Conn& conn, uint64_t conn_id, const Exchange& exchange,
                        const char* final_reason, const std::optional<ExchangeKey>& key);
  bool SkipTls(Conn& conn, const Exchange& exchange);
  void Parse(Conn& conn, uint64_t conn_id, const Exchange& exchange, const char* final_reason,
             const std::optional<ExchangeKey>& key);
  void Finalize(Conn& conn, uint64_t conn_id, const char* reason);
  ConnectionInfo InfoOf(const Conn& conn) const;
  void ReportConnectionsTracked();

  ConnTrackerOptions options_;
  std::vector<const Protocol*> protocols_;
  RecordSink* sink_;
  AgentMetrics* metrics_;
  // Kept in step by FindOrCreate and Forget alone (LOUPE_DCHECKed): one LRU node per held
  // connection, each node naming its connection, whose `lru` points back at it.
  absl::flat_hash_map<uint64_t, Conn> conns_;
  std::list<uint64_t> lru_;  // front = most recently active
  std::vector<Record> scratch_records_;
  StreamOutput stream_out_;
  TlsObserver* tls_observer_ = nullptr;
  const ExchangeKeySource* key_source_ = nullptr;
  size_t reported_connections_ = 0;  // last value given to the connections gauge
};

}  // namespace loupe
