/* The kernel connection phase machine (enum loupe_phase) as plain C: no BPF helper, no map, so
 * bpf/capture.bpf.c (and the headers it includes) takes every phase decision from here, and
 * bpf/shared/conn_phase_test.cc checks every (phase, event) pair without root or a kernel.
 *
 *   phase        | request-direction data        | response-direction data      | close / exit
 *   -------------+-------------------------------+------------------------------+-----------------
 *   IDLE         | start exchange -> REQUEST     | client's first data: empty-  | delete
 *                |                               | request EXCHANGE -> RESPONSE |
 *                |                               | else count unsolicited       |
 *   REQUEST      | accumulate                    | emit EXCHANGE -> RESPONSE    | emit CLOSE, delete
 *   RESPONSE     | keep totals as `prev`, start  | accumulate                   | emit CLOSE, delete
 *                | next exchange -> REQUEST      |                              |
 *   SYNC         | skip (count)                  | skip -> SYNC_BOUNDARY        | delete
 *   SYNC_BOUNDARY| start exchange -> REQUEST     | skip                         | delete
 *   CLOSED       | ignore                        | ignore                       | ignore
 *   STREAM       | CHUNK records (request)       | CHUNK records (response)     | emit CLOSE, delete
 *
 * Close/exit emits CLOSE for any connection that carried an exchange (seq != 0) and that
 * userspace holds state for (loupe_userspace_knows); "delete" above is the case of none. Close
 * deletes the entry, except when the fd number already holds another file by the time the
 * close's sys_exit runs (another thread reused it): then the entry becomes a CLOSED tombstone,
 * replaced by the next accept/connect on that fd or removed when the process exits.
 *
 * Other events:
 *   - TLS: libssl turns out to drive the socket. A raw request in progress was ciphertext:
 *     REQUEST -> IDLE, forgetting it, so the first plaintext starts a fresh exchange.
 *   - OUTGROWN: an HTTP/1 request does not fit the exchange record (bytes past the prefix, a
 *     body, a pipelined request; see bpf/stream.bpf.h and the loupe_stream_* rules below):
 *     REQUEST or RESPONSE -> STREAM for good. The bytes of the exchange in progress go out as
 *     the stream's first chunks, so nothing before the switch is lost.
 *
 * A response's end is known only when the next request begins or the connection closes; the
 * next EXCHANGE record carries it as `prev` (no record of its own). CLOSE carries the exchange
 * in progress in `totals` and the one before it in `prev`.
 *
 * With kernel RED aggregation (--metrics_only), REQUEST -> RESPONSE emits no EXCHANGE for an
 * exchange whose key userspace learned: it is counted in red_stats when it ends (next request,
 * close, exit, timeout pass). If the exchange before it went out as a record, a PREV_END record
 * carries that one's `prev` (loupe_needs_prev_end). CLOSE is sent only for connections that
 * sent a record.
 *
 * SYNC is for connections learned from /proc at start-up: they may be mid-request, so data is
 * ignored until a response-to-request direction change gives a clean boundary. */
#ifndef LOUPE_BPF_SHARED_CONN_PHASE_H
#define LOUPE_BPF_SHARED_CONN_PHASE_H

#include "loupe_abi.h"

/* Not a phase a connection is ever in: the entry is removed from the conn map. */
#define LOUPE_PHASE_GONE 0xffu

enum loupe_conn_event {
  LOUPE_CONN_REQUEST_DATA = 0,  /* bytes in the request direction (server: in, client: out) */
  LOUPE_CONN_RESPONSE_DATA = 1, /* bytes in the response direction */
  LOUPE_CONN_CLOSE = 2,         /* close(2) and the fd is free, process exit, or the entry is
                                 * replaced by an accept/connect on the same fd */
  LOUPE_CONN_CLOSE_FD_REUSED = 3, /* close(2), but the fd already holds another file */
  LOUPE_CONN_TLS = 4,           /* libssl drives the socket: raw bytes are ciphertext */
  LOUPE_CONN_OUTGROWN = 5,      /* an HTTP/1 request does not fit the exchange record */
};

enum loupe_conn_action {
  LOUPE_ACT_NONE = 0,             /* nothing to do (CLOSED tombstone; TLS outside REQUEST) */
  LOUPE_ACT_STREAM_CHUNKS = 1,    /* send the syscall's bytes as CHUNK records */
  LOUPE_ACT_REQUEST_MORE = 2,     /* add to the request in progress */
  LOUPE_ACT_REQUEST_START = 3,    /* start an exchange with these bytes */
  LOUPE_ACT_REQUEST_NEXT = 4,     /* the response ended: keep its totals as `prev`, start the
                                   * next exchange with these bytes */
  LOUPE_ACT_RESPONSE_BEGIN = 5,   /* the response began: EXCHANGE record (or kernel count) */
  LOUPE_ACT_RESPONSE_MORE = 6,    /* add to the response in progress */
  LOUPE_ACT_SERVER_FIRST = 7,     /* the server spoke first (MySQL greeting, SMTP banner):
                                   * an EXCHANGE with an empty request */
  LOUPE_ACT_UNSOLICITED = 8,      /* response bytes with no request: count them */
  LOUPE_ACT_SYNC_SKIP = 9,        /* pre-existing connection not at a boundary: count, skip */
  LOUPE_ACT_CLOSE_SILENT = 10,    /* userspace holds nothing for it: no record */
  LOUPE_ACT_CLOSE_RECORD = 11,    /* emit CLOSE */
  LOUPE_ACT_FORGET_REQUEST = 12,  /* TLS: drop the ciphertext request prefix */
  LOUPE_ACT_STREAM_BEGIN = 13,    /* OUTGROWN: send the exchange in progress as first chunks */
};

/* What the machine needs to know about the connection besides its phase. */
#define LOUPE_FACT_CLIENT_FIRST 1u /* client role and no exchange yet (seq == 0) */
#define LOUPE_FACT_HAD_EXCHANGE 2u /* an exchange began at some point (seq != 0) */
#define LOUPE_FACT_USERSPACE_KNOWS 4u /* loupe_userspace_knows() */

struct loupe_step {
  __u32 next_phase; /* enum loupe_phase, or LOUPE_PHASE_GONE */
  __u32 action;     /* enum loupe_conn_action */
};

static inline struct loupe_step loupe_step_make(__u32 next_phase, __u32 action) {
  struct loupe_step s = {next_phase, action};
  return s;
}

/* Whether userspace holds state for the connection and so must see its CLOSE. Without kernel
 * RED aggregation it always does (once an exchange began); with it, only once a record went out
 * (last_full_seq) or while a request is in progress (a CLOSE would carry it). */
static inline int loupe_userspace_knows(__u32 red_enabled, __u64 last_full_seq, __u32 phase) {
  return !red_enabled || last_full_seq != 0 || phase == LOUPE_PHASE_REQUEST;
}

/* --metrics_only: an exchange about to be counted in the kernel follows one that went out as a
 * record, which userspace may hold until a record carrying its final totals (`prev`) ends it. */
static inline int loupe_needs_prev_end(__u64 last_full_seq, __u64 seq) {
  return last_full_seq != 0 && last_full_seq + 1 == seq;
}

static inline struct loupe_step loupe_on_request_data(__u32 phase) {
  switch (phase) {
    case LOUPE_PHASE_IDLE:
    case LOUPE_PHASE_SYNC_BOUNDARY:
      return loupe_step_make(LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_START);
    case LOUPE_PHASE_REQUEST:
      return loupe_step_make(LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_MORE);
    case LOUPE_PHASE_RESPONSE:
      return loupe_step_make(LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_NEXT);
    case LOUPE_PHASE_SYNC:
      return loupe_step_make(LOUPE_PHASE_SYNC, LOUPE_ACT_SYNC_SKIP);
    case LOUPE_PHASE_STREAM:
      return loupe_step_make(LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_CHUNKS);
  }
  return loupe_step_make(phase, LOUPE_ACT_NONE); /* CLOSED */
}

static inline struct loupe_step loupe_on_response_data(__u32 phase, __u32 facts) {
  switch (phase) {
    case LOUPE_PHASE_IDLE:
      if (facts & LOUPE_FACT_CLIENT_FIRST)
        return loupe_step_make(LOUPE_PHASE_RESPONSE, LOUPE_ACT_SERVER_FIRST);
      return loupe_step_make(LOUPE_PHASE_IDLE, LOUPE_ACT_UNSOLICITED);
    case LOUPE_PHASE_REQUEST:
      return loupe_step_make(LOUPE_PHASE_RESPONSE, LOUPE_ACT_RESPONSE_BEGIN);
    case LOUPE_PHASE_RESPONSE:
      return loupe_step_make(LOUPE_PHASE_RESPONSE, LOUPE_ACT_RESPONSE_MORE);
    case LOUPE_PHASE_SYNC:
    case LOUPE_PHASE_SYNC_BOUNDARY:
      return loupe_step_make(LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_ACT_SYNC_SKIP);
    case LOUPE_PHASE_STREAM:
      return loupe_step_make(LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_CHUNKS);
  }
  return loupe_step_make(phase, LOUPE_ACT_NONE); /* CLOSED */
}

static inline struct loupe_step loupe_on_close(__u32 phase, __u32 facts, int fd_reused) {
  if (phase == LOUPE_PHASE_CLOSED) return loupe_step_make(phase, LOUPE_ACT_NONE);
  const __u32 next = fd_reused ? (__u32)LOUPE_PHASE_CLOSED : LOUPE_PHASE_GONE;
  if ((facts & LOUPE_FACT_HAD_EXCHANGE) && (facts & LOUPE_FACT_USERSPACE_KNOWS))
    return loupe_step_make(next, LOUPE_ACT_CLOSE_RECORD);
  return loupe_step_make(next, LOUPE_ACT_CLOSE_SILENT);
}

/* Every phase change of a connection, given its phase, the event and LOUPE_FACT_* bits. */
static inline struct loupe_step loupe_conn_step(__u32 phase, __u32 event, __u32 facts) {
  switch (event) {
    case LOUPE_CONN_REQUEST_DATA:
      return loupe_on_request_data(phase);
    case LOUPE_CONN_RESPONSE_DATA:
      return loupe_on_response_data(phase, facts);
    case LOUPE_CONN_CLOSE:
      return loupe_on_close(phase, facts, 0);
    case LOUPE_CONN_CLOSE_FD_REUSED:
      return loupe_on_close(phase, facts, 1);
    case LOUPE_CONN_TLS:
      if (phase == LOUPE_PHASE_REQUEST)
        return loupe_step_make(LOUPE_PHASE_IDLE, LOUPE_ACT_FORGET_REQUEST);
      return loupe_step_make(phase, LOUPE_ACT_NONE);
    case LOUPE_CONN_OUTGROWN:
      if (phase == LOUPE_PHASE_REQUEST || phase == LOUPE_PHASE_RESPONSE)
        return loupe_step_make(LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_BEGIN);
      return loupe_step_make(phase, LOUPE_ACT_NONE);
  }
  return loupe_step_make(phase, LOUPE_ACT_NONE);
}

/* ---- when an HTTP/1 request outgrows the exchange record (LOUPE_CONN_OUTGROWN) ------------
 * Each rule is checked before the HTTP/1 request-line sniff (which reads the prefix), and only
 * requests that start like HTTP/1 switch. */

/* Some servers read the first bytes of a request on their own (Go's net/http does a 1-byte
 * background read on keep-alive connections), so a tiny first chunk is extended with the next
 * one. The bounds (offset < 64, length < 512) keep the copy provably inside req_buf. */
#define LOUPE_SMALL_HEAD 64
#define LOUPE_APPEND_MAX 512

/* REQUEST, more request bytes (`ret` of them): they cannot be appended whole to a request
 * captured whole so far. */
static inline int loupe_stream_on_more(__u32 req_len, __u64 req_bytes, __s64 ret) {
  if (req_len < LOUPE_SMALL_HEAD && ret < LOUPE_APPEND_MAX) return 0; /* appended whole */
  return req_bytes == req_len;
}

/* A request just started: its first syscall moved more bytes than the prefix holds. */
static inline int loupe_stream_on_start(__u32 req_len, __s64 ret) {
  return (__u64)ret > req_len;
}

/* The response begins: only a request captured whole can be checked for bytes after its first
 * head (loupe_stream_head_end_inside). */
static inline int loupe_request_whole(__u32 req_len, __u64 req_bytes) {
  return req_bytes == req_len;
}

/* The captured request holds bytes after its first head (ending at `head_end`, 0: no end
 * seen): a body or a pipelined request the exchange record would pair with one response. */
static inline int loupe_stream_head_end_inside(__u32 head_end, __u32 req_len) {
  return head_end != 0 && head_end < req_len;
}

#endif /* LOUPE_BPF_SHARED_CONN_PHASE_H */
