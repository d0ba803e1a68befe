/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Streaming capture, included by capture.bpf.c inside its data path.
 *
 * The exchange record (request prefix + first response chunk) sees one HTTP/1 request and one
 * response. A request that does not fit it — bytes past the prefix, a body, a second pipelined
 * request — used to leave every later request of the exchange invisible (10,001 requests in one
 * write to nginx: one counted, 967 in no counter). Such a connection switches to stream mode for
 * good: every data syscall, both directions, goes out as ordered CHUNK records, and userspace
 * parses the two byte streams (userspace/protocols/http1/http1_stream.h).
 *
 * Nothing before the switch is lost: the switch happens in the syscall that shows the problem,
 * and the bytes of the exchange in progress (its request prefix, which then still holds every
 * request byte) go out as the stream's first chunk. Every byte a syscall moved is accounted for:
 * copied (up to LOUPE_STREAM_SYSCALL_CHUNKS chunks), or reported as `skipped` (sendfile, past the
 * chunk budget, unreadable memory), so userspace always knows where the next byte sits.
 *
 * Only requests that start with an HTTP/1 method switch: other protocols have no stream parser
 * yet and keep the exchange record (their pipelining stays counted as unreported). */

/* Per-CPU assembly of one chunk record (too large for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct loupe_chunk_event);
} chunk_scratch SEC(".maps");

/* The request prefix starts like an HTTP/1 request line (protocols/http1/kernel/http1_sniff.h). */
static __always_inline bool stream_http_request(const struct loupe_conn *c) {
  return loupe_http1_request_start(c->req_buf, c->req_len);
}

/* Offset just past the blank line ending the first request head in req_buf (CRLF or bare LF
 * line ends), or 0 if the captured bytes hold none. A global function: the verifier checks its
 * loop once. Scans eight bytes at a time for a LF; a 200-byte GET costs ~25 words. */
__noinline __u32 loupe_first_head_end(const struct loupe_conn *c) {
  if (!c) return 0;
  __u32 len = c->req_len;
  if (len > LOUPE_REQ_CAP - 1) len = LOUPE_REQ_CAP - 1;
  for (__u32 i = 0; i < LOUPE_REQ_CAP / 8; i++) {
    __u32 offset = i * 8;
    if (offset >= len) break;
    __u64 word = 0;
    __builtin_memcpy(&word, c->req_buf + offset, 8);
    __u64 x = word ^ 0x0a0a0a0a0a0a0a0aULL;
    if (((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) == 0) continue;
    for (__u32 j = 0; j < 8; j++) {
      __u32 p = offset + j;
      if (p >= len) break;
      if (p < 2 || c->req_buf[p & (LOUPE_REQ_CAP - 1)] != '\n') continue;
      __u8 before = c->req_buf[(p - 1) & (LOUPE_REQ_CAP - 1)];
      if (before == '\n') return p + 1; /* LF LF */
      if (before == '\r' && c->req_buf[(p - 2) & (LOUPE_REQ_CAP - 1)] == '\n') return p + 1;
    }
  }
  return 0;
}

/* What loupe_stream_emit() sends; on the caller's stack (a global function takes five
 * arguments at most). */
struct stream_emit_args {
  __u64 offset;   /* stream offset of the first byte */
  __u64 user;     /* user address of the bytes; 0: the connection's request prefix */
  __u64 skipped;  /* bytes after them that moved but are not copied */
  __u64 ts;       /* when they moved */
  __u64 now;
  __u32 tgid;
  __u32 tid;
  __u32 len;      /* bytes to copy, < LOUPE_CHUNK_CAP */
  __s32 fd;
  __u8 direction; /* enum loupe_chunk_direction */
  __u8 pad0[7];
};

/* Emits one CHUNK record. A global function: the verifier checks it once, not at each of the
 * loop iterations and call sites that use it (inlined, the TLS return probe went past the
 * verifier's instruction budget). */
__noinline int loupe_stream_emit(struct loupe_conn *c, struct stream_emit_args *a) {
  if (!c || !a) return 0;
  __u32 zero = 0;
  struct loupe_chunk_event *e = bpf_map_lookup_elem(&chunk_scratch, &zero);
  if (!e) return 0;
  fill_header(&e->hdr, LOUPE_EV_CHUNK, a->tgid, a->fd, c);
  e->chunk.offset = a->offset;
  e->chunk.ts_ns = a->ts;
  e->chunk.tid = a->tid;
  e->chunk.direction = a->direction;
  __u64 skipped = a->skipped;
  __u32 n = a->len & (LOUPE_CHUNK_CAP - 1);
  long err = 0;
  if (n > 0) {
    if (a->user) {
      err = bpf_probe_read_user(e->data, n, (const void *)a->user);
    } else {
      n &= LOUPE_REQ_CAP - 1;
      err = bpf_probe_read_kernel(e->data, n, c->req_buf);
    }
  }
  if (err != 0) {
    skipped += n; /* unreadable: its place in the stream is still known */
    n = 0;
  }
  e->chunk.len = n;
  e->chunk.skipped = skipped;
  __u64 size = sizeof(e->hdr) + sizeof(e->chunk) + n;
  if (size > sizeof(*e)) size = sizeof(*e);
  void *ring = conn_ring(c);
  if (!ring || bpf_ringbuf_output(ring, e, size, submit_flags(ring, a->now, size)) != 0) {
    count(LOUPE_CNT_RINGBUF_FULL, 1);
  }
  return 0;
}

/* One data syscall of a streamed connection (loupe_stream_syscall()). */
struct stream_syscall_args {
  __u64 arg1;  /* the syscall's buffer, iovec array or msghdr */
  __s64 ret;   /* bytes it moved */
  __u64 now;
  __u32 tgid;
  __u32 tid;
  __s32 fd;
  __s32 kind;  /* enum buf_kind */
  __u8 request_direction;
  __u8 pad0[7];
};

/* Where loupe_stream_syscall() is in a syscall's bytes. Kept in a per-CPU map value rather than
 * in registers: the verifier does not follow values through map memory, so every loop iteration
 * starts from the same state and is pruned; with the values in registers their ranges differed
 * on every path and the loop alone went past the verifier's million-instruction budget. */
struct stream_cursor {
  __u64 offset;    /* stream offset of the next byte */
  __u64 left;      /* bytes of the syscall not sent yet */
  __u64 ptr;       /* user address of the next byte */
  __u64 seg_left;  /* bytes left in the current buffer / iovec */
  __u64 iov_addr;  /* next iovec to read; 0: none */
  __u32 chunks;
  __u32 segments;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stream_cursor);
} stream_cursors SEC(".maps");

#define LOUPE_VOLATILE(x) (*(volatile typeof(x) *)&(x))

/* Sends every byte one data syscall moved as chunks at the direction's stream offset, and
 * advances it. Bytes are copied from the user buffer (each iovec in turn for readv/writev/
 * recvmsg/sendmsg) in chunks of up to LOUPE_CHUNK_CAP - 1 bytes, at most
 * LOUPE_STREAM_SYSCALL_CHUNKS per syscall; the rest (and sendfile's bytes) is reported as
 * skipped in one last record. A global function, verified once. */
__noinline int loupe_stream_syscall(struct loupe_conn *c, struct stream_syscall_args *s) {
  if (!c || !s) return 0;
  __u32 zero = 0;
  struct stream_cursor *cur = bpf_map_lookup_elem(&stream_cursors, &zero);
  if (!cur) return 0;
  struct stream_emit_args a;
  __builtin_memset(&a, 0, sizeof(a));
  a.tgid = s->tgid;
  a.fd = s->fd;
  a.tid = s->tid;
  a.ts = s->now;
  a.now = s->now;
  a.direction = s->request_direction ? LOUPE_CHUNK_REQUEST : LOUPE_CHUNK_RESPONSE;
  int kind = s->kind;
  cur->offset = s->request_direction ? c->totals.req_bytes : c->totals.resp_bytes;
  cur->left = s->ret > 0 ? (__u64)s->ret : 0;
  cur->ptr = 0;
  cur->seg_left = 0;
  cur->iov_addr = 0;
  cur->chunks = 0;
  cur->segments = 0;
  if (kind == BUF_PLAIN || kind == BUF_TLS) {
    cur->ptr = s->arg1;
    cur->seg_left = cur->left;
  } else if (kind == BUF_IOV) {
    cur->iov_addr = s->arg1;
  } else if (kind == BUF_MSG) {
    struct user_msghdr msg = {};
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)s->arg1) == 0) {
      cur->iov_addr = (__u64)msg.msg_iov;
    }
  }
  for (__u32 i = 0; i < LOUPE_STREAM_SYSCALL_CHUNKS + LOUPE_STREAM_SEGMENTS; i++) {
    __u64 left = LOUPE_VOLATILE(cur->left);
    if (left == 0 || LOUPE_VOLATILE(cur->chunks) >= LOUPE_STREAM_SYSCALL_CHUNKS) break;
    __u64 seg_left = LOUPE_VOLATILE(cur->seg_left);
    if (seg_left == 0) {
      /* The next iovec: read/recv fill them in order, so `left` says where the data ends. */
      __u64 iov_addr = LOUPE_VOLATILE(cur->iov_addr);
      if (iov_addr == 0 || LOUPE_VOLATILE(cur->segments) >= LOUPE_STREAM_SEGMENTS) break;
      struct iovec iov = {};
      if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)iov_addr) != 0) break;
      LOUPE_VOLATILE(cur->iov_addr) = iov_addr + sizeof(iov);
      LOUPE_VOLATILE(cur->segments) += 1;
      LOUPE_VOLATILE(cur->ptr) = (__u64)iov.iov_base;
      LOUPE_VOLATILE(cur->seg_left) = iov.iov_len < left ? iov.iov_len : left;
      continue;
    }
    __u32 n = seg_left < LOUPE_CHUNK_CAP - 1 ? (__u32)seg_left : LOUPE_CHUNK_CAP - 1;
    __u64 ptr = LOUPE_VOLATILE(cur->ptr);
    __u64 offset = LOUPE_VOLATILE(cur->offset);
    a.offset = offset;
    a.user = ptr;
    a.len = n;
    a.skipped = 0;
    loupe_stream_emit(c, &a);
    LOUPE_VOLATILE(cur->offset) = offset + n;
    LOUPE_VOLATILE(cur->ptr) = ptr + n;
    LOUPE_VOLATILE(cur->seg_left) = seg_left - n;
    LOUPE_VOLATILE(cur->left) = left - n;
    LOUPE_VOLATILE(cur->chunks) += 1;
  }
  __u64 offset = LOUPE_VOLATILE(cur->offset);
  __u64 left = LOUPE_VOLATILE(cur->left);
  if (left > 0) {
    if (kind != BUF_NONE) count(LOUPE_CNT_STREAM_BYTES_TRUNCATED, left);
    a.offset = offset;
    a.user = 0;
    a.len = 0;
    a.skipped = left;
    loupe_stream_emit(c, &a);
    offset += left;
  }
  if (s->request_direction) {
    c->totals.req_bytes = offset;
    c->totals.req_end_ns = s->now;
  } else {
    c->totals.resp_bytes = offset;
    c->totals.resp_end_ns = s->now;
  }
  return 0;
}

static __always_inline void stream_syscall(struct loupe_conn *c, __u32 tgid, int fd, __u32 tid,
                                           bool request_direction, int kind, __u64 arg1,
                                           long ret, __u64 now) {
  struct stream_syscall_args s;
  __builtin_memset(&s, 0, sizeof(s));
  s.arg1 = arg1;
  s.ret = ret;
  s.now = now;
  s.tgid = tgid;
  s.tid = tid;
  s.fd = fd;
  s.kind = kind;
  s.request_direction = request_direction;
  loupe_stream_syscall(c, &s);
}

/* Switches the connection to stream mode. The request prefix then holds every request byte of
 * the exchange in progress (callers switch before any is lost), and becomes the stream's first
 * chunk; response offsets start at 0. Userspace holds state for the connection from here on
 * (red_userspace_knows: a CLOSE will follow). */
static __always_inline void stream_begin(struct loupe_conn *c, __u32 tgid, int fd, __u64 now) {
  c->phase = loupe_conn_step(c->phase, LOUPE_CONN_OUTGROWN, 0).next_phase; /* STREAM */
  c->last_full_seq = c->totals.seq;
  count(LOUPE_CNT_STREAM_SWITCHED, 1);
  __u32 len = c->req_len & (LOUPE_REQ_CAP - 1);
  __u64 skipped = c->totals.req_bytes > len ? c->totals.req_bytes - len : 0;
  c->totals.resp_bytes = 0;
  c->totals.resp_chunks = 0;
  if (len > 0 || skipped > 0) {
    struct stream_emit_args a;
    __builtin_memset(&a, 0, sizeof(a));
    a.tgid = tgid;
    a.fd = fd;
    a.tid = c->totals.req_tid;
    a.direction = LOUPE_CHUNK_REQUEST;
    a.len = len;
    a.skipped = skipped;
    a.ts = c->totals.req_start_ns;
    a.now = now;
    loupe_stream_emit(c, &a);
  }
  c->totals.req_bytes = len + skipped;
}

/* REQUEST phase, more request bytes: true (and the syscall is streamed) when an HTTP/1
 * request's bytes would no longer all be in the request prefix. */
static __always_inline bool stream_on_request_more(struct loupe_conn *c, __u32 tgid, int fd,
                                                   __u32 tid, int kind, __u64 arg1, long ret,
                                                   __u64 now) {
  if (!loupe_stream_on_more(c->req_len, c->totals.req_bytes, ret)) return false;
  if (!stream_http_request(c)) return false;
  stream_begin(c, tgid, fd, now);
  stream_syscall(c, tgid, fd, tid, true, kind, arg1, ret, now);
  return true;
}

/* A request just started (start_request ran): true (and the syscall is streamed) when its first
 * syscall moved more HTTP/1 bytes than the prefix holds. */
static __always_inline bool stream_on_request_start(struct loupe_conn *c, __u32 tgid, int fd,
                                                    __u32 tid, int kind, __u64 arg1, long ret,
                                                    __u64 now) {
  if (!loupe_stream_on_start(c->req_len, ret) || !stream_http_request(c)) return false;
  c->totals.req_bytes = 0;
  c->req_len = 0;
  stream_begin(c, tgid, fd, now);
  stream_syscall(c, tgid, fd, tid, true, kind, arg1, ret, now);
  return true;
}

/* The response begins: true (the connection now streams, this syscall included) when the
 * captured request holds bytes after its first head — a body or a pipelined request — which the
 * exchange record would pair with the first response chunk only. */
static __always_inline bool stream_on_response_start(struct loupe_conn *c, __u32 tgid, int fd,
                                                     __u32 tid, int kind, __u64 arg1, long ret,
                                                     __u64 now) {
  if (!loupe_request_whole(c->req_len, c->totals.req_bytes) || !stream_http_request(c))
    return false;
  if (!loupe_stream_head_end_inside(loupe_first_head_end(c), c->req_len)) return false;
  stream_begin(c, tgid, fd, now);
  c->totals.resp_start_ns = now;
  stream_syscall(c, tgid, fd, tid, false, kind, arg1, ret, now);
  return true;
}
