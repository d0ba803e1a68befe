// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel capture: one program on the sys_exit tracepoint sees accept/connect/close and every
 * read/write-family syscall. It tracks TCP connections keyed by (tgid, fd), pairs each request
 * with its response by direction change, and emits one event per exchange plus a close event
 * for connections that carried data. A second, rarely-run program on sched_process_exit closes
 * the connections of processes that exit without close(2).
 *
 * Why sys_exit only: on x86-64 the argument registers are still in pt_regs at exit, so no
 * enter/exit map round-trip is needed; the return value says how many bytes really moved.
 * Why raw/BTF tracepoints: they need no tracefs and are cheaper than per-syscall tracepoints. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "shared/conn_phase.h"
#include "shared/loupe_abi.h"
#include "syscall_numbers.h"
#include "userspace/protocols/http1/kernel/http1_sniff.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115

/* Set by the daemon before load. */
const volatile __u32 self_tgid = 0;
const volatile __u64 wakeup_bytes = 512 * 1024;       /* force a wakeup past this much unread */
const volatile __u64 wakeup_min_interval_ns = 1000000; /* ... but at most once a millisecond */
const volatile __u32 ring_count = 1;                   /* slots filled in `rings` */

/* Preallocated (the default): a deleted or replaced entry's memory can be reused at once by
 * another insert, so code racing with an accept on a reused fd (on_close) re-looks the entry up
 * and checks its conn_id right before writing, rather than writing through an older pointer. A
 * non-preallocated map would rule that out, but allocating per connection cost up to 2 us of BPF
 * time per exchange with a connection per request. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384); /* resized by the daemon (--max_connections) */
  __type(key, struct loupe_conn_key);
  __type(value, struct loupe_conn);
} conns SEC(".maps");

/* One ring buffer per online CPU, created and inserted by the daemon before the programs attach.
 * A connection writes all its events to the ring of the CPU that accepted or connected it
 * (loupe_conn.ring): its events stay in order without any merge in the reader, and a process
 * that stays on its CPU never shares a ring's lock and producer position with another CPU. */
struct ring {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  /* Template only: the kernel does not compare a ring's size with it, so the daemon creates rings
   * of the size it planned (and libbpf 1.1 cannot resize an inner map). */
  __uint(max_entries, 4096);
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1); /* resized by the daemon: one slot per online CPU */
  __type(key, __u32);
  __array(values, struct ring);
} rings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, LOUPE_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* An exchange event is assembled here, then copied into the ring with only its used bytes. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct loupe_exchange_event);
} event_scratch SEC(".maps");

/* A new connection's value is built here: it is too large for the 512-byte BPF stack. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct loupe_conn);
} conn_scratch SEC(".maps");

__u64 next_conn_id = 1;
__u64 last_wakeup_ns = 0;

static __always_inline void count(__u32 index, __u64 n) {
  __u64 *value = bpf_map_lookup_elem(&counters, &index);
  if (value) *value += n;
}

/* Bytes this CPU submitted since it last looked at the ring's fill level. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} unchecked_bytes SEC(".maps");

#define LOUPE_FILL_CHECK_BYTES (64 * 1024)

/* Submit without waking the reader (it polls on a short timer) unless a lot is pending. The fill
 * level is read only every 64 KiB a CPU submits: the query reads the ring's producer position,
 * a cache line every producing CPU writes, so reading it on every submit cost a cross-CPU miss.
 * A forced wakeup thus comes at most 64 KiB per CPU late, far below the ring's size. */
static __always_inline __u64 submit_flags(void *ring, __u64 now, __u64 size) {
  __u32 zero = 0;
  __u64 *unchecked = bpf_map_lookup_elem(&unchecked_bytes, &zero);
  if (unchecked) {
    *unchecked += size;
    if (*unchecked < LOUPE_FILL_CHECK_BYTES) return BPF_RB_NO_WAKEUP;
    *unchecked = 0;
  }
  if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) < wakeup_bytes) return BPF_RB_NO_WAKEUP;
  if (now - last_wakeup_ns < wakeup_min_interval_ns) return BPF_RB_NO_WAKEUP;
  last_wakeup_ns = now;
  count(LOUPE_CNT_WAKEUPS, 1);
  return BPF_RB_FORCE_WAKEUP;
}

/* The ring a connection's events go to. NULL only if the daemon left a slot empty, which it
 * checks before attaching; callers count it as a lost event all the same. */
static __always_inline void *conn_ring(const struct loupe_conn *c) {
  __u32 index = c->ring;
  return bpf_map_lookup_elem(&rings, &index);
}

/* Kernel RED aggregation (--metrics_only): counts learned HTTP exchanges without records. */
#include "red_aggregate.bpf.h"

/* The LOUPE_FACT_* bits the phase machine (shared/conn_phase.h) decides a close on. */
static __always_inline __u32 close_facts(const struct loupe_conn *c) {
  __u32 facts = 0;
  if (c->totals.seq != 0) facts |= LOUPE_FACT_HAD_EXCHANGE;
  if (red_userspace_knows(c)) facts |= LOUPE_FACT_USERSPACE_KNOWS;
  return facts;
}

/* ---- connection lifecycle ------------------------------------------------------------- */

static __always_inline struct sock *sock_from_fd(int fd) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
  if (fd < 0 || (unsigned int)fd >= max_fds) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  if (!file) return NULL;
  struct socket *socket = BPF_CORE_READ(file, private_data);
  if (!socket) return NULL;
  return BPF_CORE_READ(socket, sk);
}

static __always_inline bool read_tuple(struct sock *sk, struct loupe_tuple *t) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  __u16 protocol = BPF_CORE_READ(sk, sk_protocol);
  if ((family != AF_INET && family != AF_INET6) || protocol != IPPROTO_TCP) return false;
  t->family = family;
  t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
    __u32 local = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __u32 remote = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(t->local_addr, &local, 4);
    __builtin_memcpy(t->remote_addr, &remote, 4);
  } else {
    BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  }
  return true;
}

static __always_inline void fill_header(struct loupe_event_header *h, __u32 kind, __u32 tgid,
                                        int fd, struct loupe_conn *c) {
  h->kind = kind;
  h->tgid = tgid;
  h->conn_id = c->conn_id;
  h->totals = c->totals;
  h->tuple = c->tuple;
  h->fd = fd;
  h->req_len = 0;
  h->resp_len = 0;
  h->phase = c->phase;
  h->flags = (c->flags & LOUPE_CONN_F_TLS) ? LOUPE_EVF_TLS : 0; /* TLS: plaintext from libssl */
  __builtin_memcpy(h->comm, c->comm, sizeof(h->comm));
  h->prev = c->prev;
}

/* Puts the connection's request prefix after the header of the per-CPU scratch event `e` and
 * returns its length: 0 when there is none or it could not be read. */
static __always_inline __u32 scratch_add_request(struct loupe_exchange_event *e,
                                                 struct loupe_conn *c) {
  __u32 req_len = c->req_len & (LOUPE_REQ_CAP - 1);
  if (req_len == 0 || bpf_probe_read_kernel(e->data, req_len, c->req_buf) != 0) return 0;
  e->hdr.req_len = req_len;
  return req_len;
}

/* Copies the first `size` bytes of the scratch event into the ring: records are variable-size. */
static __always_inline void scratch_output(struct loupe_conn *c, struct loupe_exchange_event *e,
                                           __u64 size, __u64 now) {
  if (size > sizeof(*e)) size = sizeof(*e);
  void *ring = conn_ring(c);
  if (!ring || bpf_ringbuf_output(ring, e, size, submit_flags(ring, now, size)) != 0) {
    count(LOUPE_CNT_RINGBUF_FULL, 1);
  }
}

/* A record that is only a header (no payload): CLOSE without an unanswered request, PREV_END. */
static __always_inline void emit_header_only(__u32 kind, __u32 tgid, int fd, struct loupe_conn *c,
                                             __u64 now, __u32 flags) {
  void *ring = conn_ring(c);
  struct loupe_event_header *h = ring ? bpf_ringbuf_reserve(ring, sizeof(*h), 0) : NULL;
  if (!h) {
    count(LOUPE_CNT_RINGBUF_FULL, 1);
    return;
  }
  fill_header(h, kind, tgid, fd, c);
  h->flags |= flags;
  bpf_ringbuf_submit(h, submit_flags(ring, now, sizeof(*h)));
}

static __always_inline void emit_close_flagged(__u32 tgid, int fd, struct loupe_conn *c,
                                               __u64 now, __u32 flags) {
  /* A request still unanswered at close carries its prefix: userspace reports it as a call that
   * got no response, instead of it vanishing. */
  if (c->phase == LOUPE_PHASE_REQUEST && (c->req_len & (LOUPE_REQ_CAP - 1)) > 0) {
    __u32 zero = 0;
    struct loupe_exchange_event *e = bpf_map_lookup_elem(&event_scratch, &zero);
    if (e) {
      fill_header(&e->hdr, LOUPE_EV_CLOSE, tgid, fd, c);
      e->hdr.flags |= flags;
      scratch_output(c, e, sizeof(e->hdr) + scratch_add_request(e, c), now);
      return;
    }
  }
  emit_header_only(LOUPE_EV_CLOSE, tgid, fd, c, now, flags);
}

static __always_inline void emit_close(__u32 tgid, int fd, struct loupe_conn *c, __u64 now) {
  emit_close_flagged(tgid, fd, c, now, 0);
}

/* --metrics_only: the exchange before a kernel-counted one went out as a record; this carries
 * its final totals (`prev`) to userspace. */
static __always_inline void emit_prev_end(__u32 tgid, int fd, struct loupe_conn *c, __u64 now) {
  emit_header_only(LOUPE_EV_PREV_END, tgid, fd, c, now, 0);
}

/* The agent's own traffic seen from the other end: not tracked unless observe_self. */
#include "self_traffic.bpf.h"
/* Processes and ports the configuration excludes: not tracked. */
#include "selection.bpf.h"

static __always_inline void track_connection(__u32 tgid, int fd, __u8 role, __u64 now) {
  /* First, before any other work: an excluded process costs this one lookup. A stale entry at
   * this fd (a close we did not see) keeps receiving this socket's data then; it can only exist
   * from before the exclusion, and the daemon deletes those entries when it excludes. */
  if (process_excluded(tgid)) {
    count(LOUPE_CNT_PROCESS_EXCLUDED, 1);
    return;
  }
  struct sock *sk = sock_from_fd(fd);
  if (!sk) return;
  __u32 zero = 0;
  struct loupe_conn *fresh = bpf_map_lookup_elem(&conn_scratch, &zero);
  if (!fresh) return;
  if (!read_tuple(sk, &fresh->tuple)) {
    count(LOUPE_CNT_NOT_TCP, 1);
    return;
  }
  fresh->tuple.role = role;
  const bool excluded = self_traffic(&fresh->tuple, sk);
  fresh->sock = (__u64)sk;
  fresh->conn_id = __sync_fetch_and_add(&next_conn_id, 1);
  __builtin_memset(&fresh->totals, 0, sizeof(fresh->totals));
  fresh->phase = LOUPE_PHASE_IDLE;
  __builtin_memset(&fresh->prev, 0, sizeof(fresh->prev));
  fresh->req_len = 0;
  fresh->flags = 0; /* conn_scratch is reused: clear the TLS mark (tls.bpf.h) */
  fresh->last_full_seq = 0;
  fresh->red_pending = 0;
  fresh->ring = bpf_get_smp_processor_id();
  if (fresh->ring >= ring_count) fresh->ring = ring_count > 0 ? fresh->ring % ring_count : 0;
  bpf_get_current_comm(fresh->comm, sizeof(fresh->comm));
  struct loupe_conn_key key = {.tgid = tgid, .fd = fd};
  /* An entry still at this fd belongs to a socket whose close we have not seen (yet): a close
   * racing with this accept on another thread, or a close we cannot see (dup2, close_range).
   * Report it closed so userspace finalizes its last exchange. */
  struct loupe_conn *stale = bpf_map_lookup_elem(&conns, &key);
  if (stale && stale->totals.seq != 0 && stale->phase != LOUPE_PHASE_CLOSED) {
    red_finalize(stale);
    struct loupe_step step = loupe_conn_step(stale->phase, LOUPE_CONN_CLOSE, close_facts(stale));
    if (step.action == LOUPE_ACT_CLOSE_RECORD) emit_close(tgid, fd, stale, now);
  }
  if (excluded) {
    if (stale) bpf_map_delete_elem(&conns, &key); /* its data must not reach the old entry */
    count(LOUPE_CNT_SELF_EXCLUDED, 1);
    return;
  }
  if (port_excluded(&fresh->tuple)) {
    if (stale) bpf_map_delete_elem(&conns, &key);
    count(LOUPE_CNT_PORT_EXCLUDED, 1);
    return;
  }
  if (bpf_map_update_elem(&conns, &key, fresh, BPF_ANY) != 0) {
    count(LOUPE_CNT_CONN_TABLE_FULL, 1);
    return;
  }
  count(LOUPE_CNT_CONNS_OPENED, 1);
}

static __always_inline void on_close(__u32 tgid, int fd, __u64 now) {
  struct loupe_conn_key key = {.tgid = tgid, .fd = fd};
  struct loupe_conn *c = bpf_map_lookup_elem(&conns, &key);
  if (!c || c->phase == LOUPE_PHASE_CLOSED) return;
  /* In a multi-threaded process another thread may already have accepted a new connection on
   * the freed fd number, replacing our entry: then the entry is not the closed socket's. */
  struct sock *current = sock_from_fd(fd);
  if (current && (__u64)current == c->sock) return;
  __u64 conn_id = c->conn_id;
  red_finalize(c);
  /* Userspace holds state only for connections that carried an exchange. */
  struct loupe_step step = loupe_conn_step(
      c->phase, current ? LOUPE_CONN_CLOSE_FD_REUSED : LOUPE_CONN_CLOSE, close_facts(c));
  if (step.action == LOUPE_ACT_CLOSE_RECORD) emit_close(tgid, fd, c, now);
  /* From here on the entry may have been replaced by another thread's accept on this fd:
   * look it up again and act only if it is still the closed connection. The check and the
   * write are not one step, but a racing accept would have to install the fd and reach its
   * own sys_exit in between, a window of a few instructions rather than the whole close. */
  struct loupe_conn *again = bpf_map_lookup_elem(&conns, &key);
  if (!again || again->conn_id != conn_id) return;
  if (step.next_phase != LOUPE_PHASE_GONE) {
    /* The fd already holds another file. If it is a socket being accepted or connected on
     * another thread, that thread's track_connection() may be replacing this entry right now,
     * and a delete by key could remove the new connection's entry instead. Leave a tombstone
     * (CLOSED): data never touches it, track_connection() replaces it, process exit removes it. */
    again->phase = step.next_phase;
    return;
  }
  bpf_map_delete_elem(&conns, &key);
}

/* ---- data ----------------------------------------------------------------------------- */

/* BUF_TLS: plaintext handed over by a libssl return probe (tls.bpf.h); a plain user buffer. */
enum buf_kind { BUF_NONE = 0, BUF_PLAIN = 1, BUF_IOV = 2, BUF_MSG = 3, BUF_TLS = 4 };

/* The first user buffer segment a syscall moved, and how many of `ret` bytes are in it. */
struct segment {
  const void *ptr;
  __u64 len;
};

static __always_inline struct segment first_segment(int kind, __u64 arg1, long ret) {
  struct segment seg = {.ptr = NULL, .len = 0};
  struct iovec iov = {};
  if (kind == BUF_PLAIN || kind == BUF_TLS) {
    seg.ptr = (const void *)arg1;
    seg.len = ret;
    return seg;
  }
  if (kind == BUF_MSG) {
    struct user_msghdr msg = {};
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)arg1) != 0) return seg;
    arg1 = (__u64)msg.msg_iov;
  } else if (kind != BUF_IOV) {
    return seg;
  }
  if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)arg1) != 0) return seg;
  seg.ptr = iov.iov_base;
  seg.len = iov.iov_len < (__u64)ret ? iov.iov_len : (__u64)ret;
  return seg;
}

/* The connection is entering REQUEST (its phase is already set): a new exchange begins. */
static __always_inline void start_request(struct loupe_conn *c, __u32 tid, int kind, __u64 arg1,
                                          long ret, __u64 now) {
  c->totals.seq += 1;
  c->totals.req_start_ns = now;
  c->totals.req_end_ns = now;
  c->totals.resp_start_ns = 0;
  c->totals.resp_end_ns = 0;
  c->totals.req_bytes = ret;
  c->totals.resp_bytes = 0;
  c->totals.first_resp_chunk_bytes = 0;
  c->totals.resp_chunks = 0;
  c->totals.req_tid = tid;

  struct segment seg = first_segment(kind, arg1, ret);
  __u32 n = seg.len < LOUPE_REQ_CAP - 1 ? seg.len : LOUPE_REQ_CAP - 1;
  n &= LOUPE_REQ_CAP - 1;
  if (seg.ptr && n > 0 && bpf_probe_read_user(c->req_buf, n, seg.ptr) == 0) {
    c->req_len = n;
  } else {
    c->req_len = 0;
  }
  /* Bytes past the prefix: the caller streams them (stream.bpf.h) or counts them truncated. */
}

/* A tiny first chunk is extended with the next one (LOUPE_SMALL_HEAD, shared/conn_phase.h). */
static __always_inline void append_request(struct loupe_conn *c, int kind, __u64 arg1, long ret) {
  struct segment seg = first_segment(kind, arg1, ret);
  __u32 offset = c->req_len & (LOUPE_SMALL_HEAD - 1);
  __u32 n = seg.len < LOUPE_APPEND_MAX - 1 ? seg.len : LOUPE_APPEND_MAX - 1;
  n &= LOUPE_APPEND_MAX - 1;
  if (seg.ptr && n > 0 && bpf_probe_read_user(c->req_buf + offset, n, seg.ptr) == 0) {
    c->req_len = offset + n;
  }
  if ((__u64)ret > n) count(LOUPE_CNT_REQ_TRUNCATED, 1);
}

/* The connection is entering RESPONSE (its phase is already set): an EXCHANGE record, or with
 * kernel RED aggregation a count when the exchange ends. */
static __always_inline void begin_response(__u32 tgid, int fd, struct loupe_conn *c, int kind,
                                           __u64 arg1, long ret, __u64 now) {
  c->totals.resp_start_ns = now;
  c->totals.resp_end_ns = now;
  c->totals.resp_bytes = ret;
  c->totals.first_resp_chunk_bytes = ret;
  c->totals.resp_chunks = 1;

  struct segment seg = first_segment(kind, arg1, ret);
  __u32 red_flags = 0;
  if (red_begin_response(c, tgid, fd, now, seg.ptr, seg.len, &red_flags)) return;
  c->last_full_seq = c->totals.seq;
  __u32 zero = 0;
  struct loupe_exchange_event *e = bpf_map_lookup_elem(&event_scratch, &zero);
  if (!e) return;
  fill_header(&e->hdr, LOUPE_EV_EXCHANGE, tgid, fd, c);
  e->hdr.flags |= red_flags;
  __u32 req_len = scratch_add_request(e, c);
  __u32 n = seg.len < LOUPE_RESP_CAP - 1 ? seg.len : LOUPE_RESP_CAP - 1;
  n &= LOUPE_RESP_CAP - 1;
  if (seg.ptr && n > 0 && bpf_probe_read_user(e->data + req_len, n, seg.ptr) == 0) {
    e->hdr.resp_len = n;
  } else {
    n = 0;
  }
  if ((__u64)ret > n) count(LOUPE_CNT_RESP_TRUNCATED, 1);
  scratch_output(c, e, sizeof(e->hdr) + req_len + n, now);
}

/* Stream mode for HTTP/1 requests that do not fit the exchange record. */
#include "stream.bpf.h"

/* Defined in tls.bpf.h: true when raw socket bytes are TLS ciphertext, never to be parsed. */
static __always_inline bool tls_on_socket_data(__u64 pid_tgid, int fd, struct loupe_conn *c,
                                               long ret);

static __always_inline void on_data(__u64 pid_tgid, int fd, bool ingress, int kind, __u64 arg1,
                                    long ret) {
  __u32 tgid = pid_tgid >> 32;
  struct loupe_conn_key key = {.tgid = tgid, .fd = fd};
  struct loupe_conn *c = bpf_map_lookup_elem(&conns, &key);
  if (!c || c->phase == LOUPE_PHASE_CLOSED) return;
  if (kind != BUF_TLS && tls_on_socket_data(pid_tgid, fd, c, ret)) return;
  __u64 now = bpf_ktime_get_ns();
  bool request_direction = (c->tuple.role == LOUPE_ROLE_SERVER) == ingress;
  __u32 tid = (__u32)pid_tgid;
  struct loupe_step step;
  if (request_direction) {
    step = loupe_conn_step(c->phase, LOUPE_CONN_REQUEST_DATA, 0);
  } else {
    __u32 facts = 0;
    if (c->totals.seq == 0 && c->tuple.role == LOUPE_ROLE_CLIENT) facts = LOUPE_FACT_CLIENT_FIRST;
    step = loupe_conn_step(c->phase, LOUPE_CONN_RESPONSE_DATA, facts);
  }
  c->phase = step.next_phase; /* a stream switch below moves it on to STREAM */

  switch (step.action) {
    case LOUPE_ACT_STREAM_CHUNKS:
      stream_syscall(c, tgid, fd, tid, request_direction, kind, arg1, ret, now);
      return;
    case LOUPE_ACT_REQUEST_MORE:
      if (stream_on_request_more(c, tgid, fd, tid, kind, arg1, ret, now)) return;
      c->totals.req_bytes += ret;
      c->totals.req_end_ns = now;
      if (c->req_len < LOUPE_SMALL_HEAD) append_request(c, kind, arg1, ret);
      return;
    case LOUPE_ACT_REQUEST_NEXT:
      red_finalize(c); /* the response ended: count it before its totals are reset */
      c->prev.seq = c->totals.seq;
      c->prev.resp_end_ns = c->totals.resp_end_ns;
      c->prev.resp_bytes = c->totals.resp_bytes;
      c->prev.resp_chunks = c->totals.resp_chunks;
      /* fall through */
    case LOUPE_ACT_REQUEST_START:
      if (c->totals.seq == 0 && self_traffic_late(c)) {
        /* The agent's own export, accepted before its connect(2) reached sys_exit: no record
         * of it was sent yet, so forgetting it here is as if it had never been tracked. */
        bpf_map_delete_elem(&conns, &key);
        count(LOUPE_CNT_SELF_EXCLUDED, 1);
        return;
      }
      start_request(c, tid, kind, arg1, ret, now);
      if (stream_on_request_start(c, tgid, fd, tid, kind, arg1, ret, now)) return;
      if ((__u64)ret > c->req_len) count(LOUPE_CNT_REQ_TRUNCATED, 1);
      return;
    case LOUPE_ACT_RESPONSE_MORE:
      c->totals.resp_bytes += ret;
      c->totals.resp_end_ns = now;
      c->totals.resp_chunks += 1;
      return;
    case LOUPE_ACT_RESPONSE_BEGIN:
      if (stream_on_response_start(c, tgid, fd, tid, kind, arg1, ret, now)) return;
      begin_response(tgid, fd, c, kind, arg1, ret, now);
      return;
    case LOUPE_ACT_SERVER_FIRST:
      /* The server speaks first (MySQL/MariaDB greeting, SMTP banner): report it as an exchange
       * with an empty request, so the client-side parser sees the greeting. */
      start_request(c, tid, BUF_NONE, 0, 0, now);
      begin_response(tgid, fd, c, kind, arg1, ret, now);
      return;
    case LOUPE_ACT_SYNC_SKIP:
      count(LOUPE_CNT_SYNC_SKIPPED, 1);
      return;
    case LOUPE_ACT_UNSOLICITED:
      count(LOUPE_CNT_UNSOLICITED, 1);
      return;
  }
}

/* TLS plaintext from libssl uprobes, fed into on_data() above. */
#include "tls.bpf.h"

/* ---- dispatch ------------------------------------------------------------------------- */

static __always_inline bool interesting(__u64 id) {
  switch (id) {
    case LOUPE_NR_read: case LOUPE_NR_write: case LOUPE_NR_close: case LOUPE_NR_readv:
    case LOUPE_NR_writev: case LOUPE_NR_sendfile: case LOUPE_NR_connect: case LOUPE_NR_accept:
    case LOUPE_NR_sendto: case LOUPE_NR_recvfrom: case LOUPE_NR_sendmsg: case LOUPE_NR_recvmsg:
    case LOUPE_NR_accept4:
      return true;
  }
  return false;
}

static __always_inline int on_sys_exit(__u64 id, __u64 arg0, __u64 arg1, long ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (tgid == self_tgid) return self_syscall(id, (int)arg0, ret);
  int fd = (int)arg0;

  switch (id) {
    case LOUPE_NR_accept:
    case LOUPE_NR_accept4:
      if (ret >= 0) track_connection(tgid, (int)ret, LOUPE_ROLE_SERVER, bpf_ktime_get_ns());
      return 0;
    case LOUPE_NR_connect:
      if (ret == 0 || ret == -EINPROGRESS) track_connection(tgid, fd, LOUPE_ROLE_CLIENT, bpf_ktime_get_ns());
      return 0;
    case LOUPE_NR_close:
      on_close(tgid, fd, bpf_ktime_get_ns());
      return 0;
  }
  if (ret <= 0) return 0;
  switch (id) {
    case LOUPE_NR_read: case LOUPE_NR_recvfrom:
      on_data(pid_tgid, fd, true, BUF_PLAIN, arg1, ret);
      break;
    case LOUPE_NR_readv:
      on_data(pid_tgid, fd, true, BUF_IOV, arg1, ret);
      break;
    case LOUPE_NR_recvmsg:
      on_data(pid_tgid, fd, true, BUF_MSG, arg1, ret);
      break;
    case LOUPE_NR_write: case LOUPE_NR_sendto:
      on_data(pid_tgid, fd, false, BUF_PLAIN, arg1, ret);
      break;
    case LOUPE_NR_writev:
      on_data(pid_tgid, fd, false, BUF_IOV, arg1, ret);
      break;
    case LOUPE_NR_sendmsg:
      on_data(pid_tgid, fd, false, BUF_MSG, arg1, ret);
      break;
    case LOUPE_NR_sendfile: /* out_fd is arg0; the payload comes from a file: count bytes only */
      on_data(pid_tgid, fd, false, BUF_NONE, 0, ret);
      break;
  }
  return 0;
}

/* ---- process exit ---------------------------------------------------------------------- */

/* A process that exits has its sockets closed by the kernel, not by close(2): without this its
 * entries would stay in the conn map for good, and the last exchange of each connection would
 * only ever be finalized by userspace's timeout, without its true totals. sched_process_exit
 * runs before exit_files(), so the exiting thread's fd table still bounds the walk. */
#define LOUPE_EXIT_MAX_FDS (1u << 20)

struct exit_walk {
  __u32 tgid;
  __u64 now;
};

static long close_at_exit(__u64 index, void *ctx) {
  struct exit_walk *walk = ctx;
  struct loupe_conn_key key = {.tgid = walk->tgid, .fd = (int)index};
  struct loupe_conn *c = bpf_map_lookup_elem(&conns, &key);
  if (!c) return 0;
  if (c->totals.seq != 0 && c->phase != LOUPE_PHASE_CLOSED) {
    red_finalize(c);
    struct loupe_step step = loupe_conn_step(c->phase, LOUPE_CONN_CLOSE, close_facts(c));
    if (step.action == LOUPE_ACT_CLOSE_RECORD) {
      emit_close_flagged(walk->tgid, (int)index, c, walk->now, LOUPE_EVF_EXIT);
    }
  }
  bpf_map_delete_elem(&conns, &key);
  count(LOUPE_CNT_CLOSED_AT_EXIT, 1);
  return 0;
}

static __always_inline int on_process_exit(struct task_struct *task) {
  /* Threads exit one by one; only the last one (signal->live already at zero) ends the
   * process. Two threads racing here both walk: lookup-then-delete keeps that harmless. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  __u32 tgid = BPF_CORE_READ(task, tgid);
  if (tgid == self_tgid) return 0;
  selection_forget(tgid); /* a later process with this pid is decided anew */
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return 0;
  __u32 max_fds = BPF_CORE_READ(fdt, max_fds);
  if (max_fds > LOUPE_EXIT_MAX_FDS) max_fds = LOUPE_EXIT_MAX_FDS;
  struct exit_walk walk = {.tgid = tgid, .now = bpf_ktime_get_ns()};
  bpf_loop(max_fds, close_at_exit, &walk, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(loupe_process_exit_btf, struct task_struct *task) {
  return on_process_exit(task);
}

SEC("raw_tp/sched_process_exit")
int loupe_process_exit_raw(struct bpf_raw_tracepoint_args *ctx) {
  return on_process_exit((struct task_struct *)ctx->args[0]);
}

/* BTF-typed tracepoint: pt_regs is read directly. Preferred where the kernel supports it. */
SEC("tp_btf/sys_exit")
int BPF_PROG(loupe_sys_exit_btf, struct pt_regs *regs, long ret) {
  __u64 id = LOUPE_SYSCALL_ID(regs);
  if (!interesting(id)) return 0;
  return on_sys_exit(id, LOUPE_SYSCALL_ARG0(regs), LOUPE_SYSCALL_ARG1(regs), ret);
}

/* Raw tracepoint fallback: the same logic with pt_regs read through probe reads. */
SEC("raw_tp/sys_exit")
int loupe_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx) {
  struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
  long ret = (long)ctx->args[1];
  __u64 id = LOUPE_SYSCALL_ID_CORE(regs);
  if (!interesting(id)) return 0;
  return on_sys_exit(id, LOUPE_SYSCALL_ARG0_CORE(regs), LOUPE_SYSCALL_ARG1_CORE(regs), ret);
}
