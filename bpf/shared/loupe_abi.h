/* The one ABI between the BPF programs and the daemon. Fixed-width types, explicit padding and
 * explicit enum values only: userspace static_asserts the layout (userspace/loader/capture_probes.cc
 * and capture_event.cc). */
#ifndef LOUPE_BPF_SHARED_LOUPE_ABI_H
#define LOUPE_BPF_SHARED_LOUPE_ABI_H

#ifdef __BPF__
/* vmlinux.h provides __u8 ... __u64 */
#else
#include <linux/types.h>
#endif

/* Bytes of the request (first chunk) and of the first response chunk copied per exchange. The
 * capture keeps at most CAP - 1 bytes so the verifier can bound copies with a mask. */
#define LOUPE_REQ_CAP 1024
#define LOUPE_RESP_CAP 512

enum loupe_event_kind {
  LOUPE_EV_EXCHANGE = 1, /* a response began: request prefix + first response chunk */
  /* 2 was a separate TAIL record; its content now rides in the next EXCHANGE's `prev`. */
  LOUPE_EV_CLOSE = 3,    /* the connection closed (or its process exited); carries the last
                          * exchange's final totals, and in phase REQUEST the unanswered
                          * request's prefix (req_len bytes after the header) */
  LOUPE_EV_PREV_END = 4, /* header only: the previous exchange (sent as a record) ended with
                          * the totals in `prev`; the new one is counted in the kernel
                          * (--metrics_only, bpf/red_aggregate.bpf.h) */
  LOUPE_EV_CHUNK = 5,    /* streaming capture (bpf/stream.bpf.h): ordered bytes of one direction
                          * of a connection in stream mode (struct loupe_chunk_event) */
};

enum loupe_role {
  LOUPE_ROLE_SERVER = 1, /* accepted */
  LOUPE_ROLE_CLIENT = 2, /* connected */
};

/* Per-CPU counters, exported by the daemon as loupe_* metrics. */
enum loupe_counter {
  LOUPE_CNT_RINGBUF_FULL = 0,      /* event lost: ring buffer had no room */
  LOUPE_CNT_CONN_TABLE_FULL = 1,   /* connection not tracked: conn map full */
  LOUPE_CNT_REQ_TRUNCATED = 2,     /* request bytes beyond the captured prefix */
  LOUPE_CNT_RESP_TRUNCATED = 3,    /* first response chunk longer than the captured prefix */
  LOUPE_CNT_UNSOLICITED = 4,       /* response-direction data with no request before it */
  /* 5-7 counted submitted records; userspace counts what it reads instead. */
  LOUPE_CNT_CONNS_OPENED = 8,      /* connections added to the conn map */
  LOUPE_CNT_SYNC_SKIPPED = 9,      /* data on pre-existing connections before a clean boundary */
  LOUPE_CNT_NOT_TCP = 10,          /* accepted/connected sockets that are not TCP over IP */
  LOUPE_CNT_WAKEUPS = 11,          /* forced ring-buffer wakeups */
  /* TLS (bpf/tls.bpf.h) */
  LOUPE_CNT_TLS_BYTES_SKIPPED = 12, /* ciphertext bytes on TLS connections, never parsed */
  LOUPE_CNT_TLS_CALLS = 13,         /* SSL_read/SSL_write(_ex)/SSL_do_handshake calls seen */
  LOUPE_CNT_TLS_NO_FD = 14,         /* plaintext dropped: the SSL object's socket is unknown */
  LOUPE_CNT_CLOSED_AT_EXIT = 15,    /* connections still open when their process exited */
  /* Kernel RED aggregation (--metrics_only, bpf/red_aggregate.bpf.h) */
  LOUPE_CNT_RED_AGGREGATED = 16,    /* exchanges counted in red_stats instead of sent as records */
  LOUPE_CNT_RED_SLOT_MISSING = 17,  /* a learned key pointed past red_stats: exchange lost */
  /* Streaming capture (bpf/stream.bpf.h) */
  LOUPE_CNT_STREAM_SWITCHED = 18,       /* connections switched to stream mode */
  LOUPE_CNT_STREAM_BYTES_TRUNCATED = 19, /* stream bytes moved past the per-syscall capture */
  /* The agent's own traffic seen from the other end, not tracked (bpf/self_traffic.bpf.h) */
  LOUPE_CNT_SELF_EXCLUDED = 20,
  /* Process selection (bpf/selection.bpf.h): connections not tracked */
  LOUPE_CNT_PROCESS_EXCLUDED = 21, /* their process is excluded (excluded_tgids) */
  LOUPE_CNT_PORT_EXCLUDED = 22,    /* their server port is excluded (selected_ports) */
  LOUPE_CNT_MAX = 23,
};

/* The phase of a connection in the kernel. The transitions between phases (the phase machine)
 * are bpf/shared/conn_phase.h, plain C unit-tested without a kernel. SYNC is for connections
 * learned from /proc at start-up (userspace/loader/preexisting_connections.cc). */
enum loupe_phase {
  LOUPE_PHASE_IDLE = 0,
  LOUPE_PHASE_REQUEST = 1,
  LOUPE_PHASE_RESPONSE = 2,
  LOUPE_PHASE_SYNC = 3,
  LOUPE_PHASE_SYNC_BOUNDARY = 4,
  LOUPE_PHASE_CLOSED = 5,
  /* Stream mode (bpf/stream.bpf.h): every data syscall goes out as CHUNK records, in order. Set
   * when an HTTP/1 request does not fit the exchange record (bytes past the prefix, a body or a
   * second request after the first head); kept until close. totals.req_bytes / resp_bytes are
   * then the stream offsets of the next byte in each direction. */
  LOUPE_PHASE_STREAM = 6,
};

struct loupe_conn_key {
  __u32 tgid;
  __s32 fd;
};

struct loupe_tuple {
  __u8 local_addr[16];  /* IPv4 in the first 4 bytes when family == AF_INET */
  __u8 remote_addr[16];
  __u16 local_port;     /* host byte order */
  __u16 remote_port;    /* host byte order */
  __u16 family;         /* AF_INET or AF_INET6 */
  __u8 role;            /* enum loupe_role */
  __u8 pad0;
};

/* Totals of the exchange in progress; copied whole into every event. */
struct loupe_exchange_totals {
  __u64 seq;
  __u64 req_start_ns;
  __u64 req_end_ns;
  __u64 resp_start_ns;
  __u64 resp_end_ns;
  __u64 req_bytes;
  __u64 resp_bytes;
  __u64 first_resp_chunk_bytes;
  __u32 resp_chunks;
  __u32 req_tid;  /* the thread that read (server) or wrote (client) the request */
};

/* The final totals of the previous exchange's response, carried by the next EXCHANGE record. */
struct loupe_prev_response {
  __u64 seq;          /* 0: none */
  __u64 resp_end_ns;
  __u64 resp_bytes;
  __u32 resp_chunks;
  __u32 pad0;
};

struct loupe_event_header {
  __u32 kind;   /* enum loupe_event_kind */
  __u32 tgid;
  __u64 conn_id;
  struct loupe_exchange_totals totals;
  struct loupe_tuple tuple;
  __s32 fd;
  __u16 req_len;   /* captured request bytes: data[0 .. req_len) */
  __u16 resp_len;  /* captured response bytes: data[req_len .. req_len + resp_len) */
  __u32 phase;     /* for CLOSE: the phase the connection was in */
  __u32 flags;     /* LOUPE_EVF_* */
  char comm[16];   /* the process's comm when the connection was opened (it may exit first) */
  struct loupe_prev_response prev;
};

/* LOUPE_EV_EXCHANGE, submitted with only the captured bytes (the record is variable-size, so the
 * ring holds several times more exchanges than fixed-size records would). CLOSE carries the
 * header, plus the request prefix when a request was left unanswered. */
/* loupe_event_header.flags */
#define LOUPE_EVF_TLS 1u /* the payloads are plaintext read from libssl (bpf/tls.bpf.h) */
#define LOUPE_EVF_EXIT 2u /* CLOSE: the process exited with the connection open */
/* EXCHANGE: an HTTP/1 exchange the kernel could have aggregated had its key been learned
 * (--metrics_only): userspace may teach the kernel the key (userspace/kernel_red/). */
#define LOUPE_EVF_RED_CANDIDATE 4u

struct loupe_exchange_event {
  struct loupe_event_header hdr;
  __u8 data[LOUPE_REQ_CAP + LOUPE_RESP_CAP];
};

/* ---- streaming capture (bpf/stream.bpf.h) ----------------------------------------------------
 *
 * A connection in LOUPE_PHASE_STREAM sends each data syscall as one or more CHUNK records: the
 * header (its `prev` ends the exchange userspace may still hold), then where the bytes sit in the
 * direction's stream. Bytes [offset, offset + len) are in data; the `skipped` bytes right after
 * them moved but were not copied (sendfile, or past LOUPE_STREAM_SYSCALL_CHUNKS chunks of one
 * syscall). A record lost to a full ring shows up as an offset jump. */
#define LOUPE_CHUNK_CAP 4096          /* a chunk carries at most LOUPE_CHUNK_CAP - 1 bytes */
#define LOUPE_STREAM_SYSCALL_CHUNKS 16 /* chunks copied per syscall: ~64 KiB */
#define LOUPE_STREAM_SEGMENTS 8        /* iovecs of one readv/writev/recvmsg/sendmsg walked */

enum loupe_chunk_direction {
  LOUPE_CHUNK_REQUEST = 0,  /* server: ingress; client: egress */
  LOUPE_CHUNK_RESPONSE = 1,
};

struct loupe_chunk {
  __u64 offset;   /* stream offset of data[0] in this direction */
  __u64 ts_ns;    /* when the syscall moved the bytes (CLOCK_MONOTONIC) */
  __u64 skipped;  /* bytes after data[0 .. len) moved but not copied */
  __u32 len;      /* bytes in data */
  __u32 tid;      /* the thread that made the syscall */
  __u8 direction; /* enum loupe_chunk_direction */
  __u8 pad0[7];
};

struct loupe_chunk_event {
  struct loupe_event_header hdr; /* kind LOUPE_EV_CHUNK; req_len = resp_len = 0 */
  struct loupe_chunk chunk;
  __u8 data[LOUPE_CHUNK_CAP];
};

/* loupe_conn.flags */
#define LOUPE_CONN_F_TLS 1u /* libssl drives this socket: raw bytes are ciphertext, skipped */

/* Kernel connection state, value of the conn map. */
struct loupe_conn {
  __u64 conn_id;
  __u64 sock;    /* the struct sock behind the fd, to tell a reused fd from the closed one */
  struct loupe_exchange_totals totals;
  struct loupe_tuple tuple;
  __u32 phase;   /* enum loupe_phase */
  __u16 req_len;
  __u16 pad0;
  __u32 flags;   /* LOUPE_CONN_F_* */
  __u32 ring;    /* index in `rings` of the ring this connection's events go to */
  char comm[16];
  struct loupe_prev_response prev;
  __u8 req_buf[LOUPE_REQ_CAP];
  /* Kernel RED aggregation (--metrics_only). */
  __u64 last_full_seq;  /* seq of the last exchange sent as a full EXCHANGE record; 0: none */
  __u64 red_pending;    /* 0, or 1 + the red_stats slot the exchange in progress is counted in
                         * when it ends (one word, for one compare-and-swap) */
};

/* ---- kernel RED aggregation (--metrics_only) ------------------------------------------------
 *
 * An HTTP/1 exchange whose request was captured whole is identified by a hash of its request
 * bytes and by its status code. Userspace parses the first exchange of each such key as usual;
 * when that gives exactly one record, it gives the key a slot (red_keys) and later exchanges
 * with the same key are counted in that slot (red_stats) instead of being sent: same request
 * bytes, same labels. See docs/architecture.md. */
#define LOUPE_RED_BUCKETS 15 /* 14 bounds of DurationBuckets() plus +Inf */

struct loupe_red_key {
  __u64 request_hash;      /* loupe_request_hash() of the captured request bytes */
  __u8 server_addr[16];    /* client role: the peer's address; server role: zero */
  __u32 tgid;
  __u16 server_port;       /* server role: local port; client role: remote port */
  __u16 status;            /* the response's status code, 200..599 */
  __u8 role;               /* enum loupe_role */
  __u8 pad0[7];
};

struct loupe_red_slot {
  __u64 count;
  __u64 duration_sum_ns;
  __u64 buckets[LOUPE_RED_BUCKETS]; /* not cumulative: buckets[i] counts bound[i-1] < d <= bound[i] */
};

/* Upper bounds in nanoseconds of the OpenTelemetry duration buckets (DurationBuckets()). */
#define LOUPE_RED_BOUNDS_NS                                                                   \
  {5000000ULL,   10000000ULL,   25000000ULL,   50000000ULL,   75000000ULL,                   \
   100000000ULL, 250000000ULL,  500000000ULL,  750000000ULL,  1000000000ULL,                 \
   2500000000ULL, 5000000000ULL, 7500000000ULL, 10000000000ULL}

/* 64-bit hash of the request bytes, eight at a time (little-endian words, the last one
 * zero-padded), by the kernel (bpf/red_aggregate.bpf.h) and userspace (userspace/kernel_red/)
 * through these same three steps, so that the two cannot drift apart. */
#define LOUPE_HASH_SEED 0x9E3779B97F4A7C15ULL
#define LOUPE_HASH_MUL 0xFF51AFD7ED558CCDULL

static inline __u64 loupe_hash_init(__u64 len) { return LOUPE_HASH_SEED ^ (len * LOUPE_HASH_MUL); }

static inline __u64 loupe_hash_step(__u64 h, __u64 word) {
  h = (h ^ word) * LOUPE_HASH_MUL;
  return h ^ (h >> 32);
}

static inline __u64 loupe_hash_finish(__u64 h) {
  h ^= h >> 29;
  h *= LOUPE_HASH_SEED;
  return h ^ (h >> 32);
}

/* Fills a zeroed key (its padding is part of the hash-map key) from the connection's tuple. */
static inline void loupe_red_key_fill(struct loupe_red_key *key, const struct loupe_tuple *tuple,
                                      __u32 tgid, __u64 request_hash, __u16 status) {
  key->request_hash = request_hash;
  key->tgid = tgid;
  key->role = tuple->role;
  key->status = status;
  if (tuple->role == LOUPE_ROLE_CLIENT) {
    __builtin_memcpy(key->server_addr, tuple->remote_addr, sizeof(key->server_addr));
    key->server_port = tuple->remote_port;
  } else {
    key->server_port = tuple->local_port;
  }
}

#endif /* LOUPE_BPF_SHARED_LOUPE_ABI_H */
