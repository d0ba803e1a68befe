/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel RED aggregation (--metrics_only), included by capture.bpf.c.
 *
 * The cost this removes: every HTTP exchange copied into a ring buffer (~300 ns of BPF time)
 * and parsed by the agent (~1 us of its CPU), although a metrics-only agent keeps nothing of it
 * but a method, a route, a status and a duration. Here an exchange whose key userspace has
 * already learned is counted into a per-CPU histogram slot when it ends, and never sent.
 *
 * Exactness. The key is (process, role, server address and port, a hash of the whole request's
 * bytes, the status code). Userspace learns a key only from an exchange it parsed into exactly
 * one record (userspace/kernel_red/), so every exchange counted under it has byte-identical
 * request bytes and the same status: the same labels, one request each. Requests not captured
 * whole, pipelined requests, 1xx responses and anything that does not begin "HTTP/1.x NNN " go
 * out as records as before. What the kernel does not check is the response's header fields: a
 * response with a valid status line and a malformed header is counted here where the parser
 * would have rejected it (docs/architecture.md).
 *
 * An exchange ends at the next request, at close, at process exit, or after red_timeout_ns
 * without either (the timeout pass below, run by the agent like its own pending timeout). */

const volatile __u32 red_enabled = 0;                  /* --metrics_only */
const volatile __u64 red_timeout_ns = 2000000000ULL;   /* --pending_timeout_ms */
__u32 red_flush_all = 0; /* set by the agent for its last pass at shutdown */

/* Learned keys, written by the agent: key -> slot in red_stats. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024); /* resized by the daemon (--metrics_only_keys) */
  __type(key, struct loupe_red_key);
  __type(value, __u32);
} red_keys SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1024); /* resized with red_keys */
  __type(key, __u32);
  __type(value, struct loupe_red_slot);
} red_stats SEC(".maps");

static const __u64 red_bounds_ns[LOUPE_RED_BUCKETS - 1] = LOUPE_RED_BOUNDS_NS;

/* A global function: the verifier checks its loop once instead of at every call site. */
__noinline __u64 loupe_request_hash(const struct loupe_conn *c) {
  if (!c) return 0;
  __u32 len = c->req_len;
  if (len > LOUPE_REQ_CAP - 1) len = LOUPE_REQ_CAP - 1;
  __u64 h = loupe_hash_init(len);
  for (__u32 i = 0; i < LOUPE_REQ_CAP / 8; i++) {
    __u32 offset = i * 8;
    if (offset >= len) break;
    __u64 word = 0;
    __builtin_memcpy(&word, c->req_buf + offset, 8);
    __u32 rest = len - offset;
    if (rest < 8) word &= (1ULL << (rest * 8)) - 1; /* bytes past the request are stale */
    h = loupe_hash_step(h, word);
  }
  return loupe_hash_finish(h);
}

/* The response's status (loupe_http1_status), read from its first bytes in user memory. */
static __always_inline __u16 red_response_status(const void *response, __u64 len) {
  char line[LOUPE_HTTP1_STATUS_LINE_BYTES];
  if (!response || len < sizeof(line) || bpf_probe_read_user(line, sizeof(line), response) != 0)
    return 0;
  return loupe_http1_status(line);
}

static __always_inline void emit_prev_end(__u32 tgid, int fd, struct loupe_conn *c, __u64 now);

/* At the first response chunk. Returns true when the exchange is counted in the kernel (no
 * record); otherwise sets *flags to LOUPE_EVF_RED_CANDIDATE when userspace may learn its key. */
static __always_inline bool red_begin_response(struct loupe_conn *c, __u32 tgid, int fd,
                                               __u64 now, const void *response, __u64 len,
                                               __u32 *flags) {
  if (!red_enabled) return false;
  /* The whole request must be in req_buf for its hash to stand for it. */
  if (c->req_len == 0 || c->totals.req_bytes != c->req_len) return false;
  const __u16 status = red_response_status(response, len);
  if (status == 0) return false;
  struct loupe_red_key key = {};
  loupe_red_key_fill(&key, &c->tuple, tgid, loupe_request_hash(c), status);
  *flags = LOUPE_EVF_RED_CANDIDATE;
  __u32 *slot = bpf_map_lookup_elem(&red_keys, &key);
  if (!slot) return false;
  /* The previous exchange went out as a record: userspace may be holding it until a record
   * carrying its final totals (`prev`) ends it. */
  if (loupe_needs_prev_end(c->last_full_seq, c->totals.seq)) emit_prev_end(tgid, fd, c, now);
  c->red_pending = (__u64)*slot + 1;
  return true;
}

static __always_inline __u32 red_bucket(__u64 duration_ns) {
#pragma unroll
  for (__u32 i = 0; i < LOUPE_RED_BUCKETS - 1; i++) {
    if (duration_ns <= red_bounds_ns[i]) return i;
  }
  return LOUPE_RED_BUCKETS - 1;
}

/* Counts the exchange in progress if it is kernel-aggregated and not counted yet. The
 * compare-and-swap makes the count happen once when the timeout iterator and the connection's
 * own next request race for it. */
static __always_inline void red_finalize(struct loupe_conn *c) {
  __u64 pending = c->red_pending;
  if (pending == 0) return;
  if (__sync_val_compare_and_swap(&c->red_pending, pending, 0) != pending) return;
  __u32 slot = (__u32)(pending - 1);
  struct loupe_red_slot *stats = bpf_map_lookup_elem(&red_stats, &slot);
  if (!stats) {
    count(LOUPE_CNT_RED_SLOT_MISSING, 1);
    return;
  }
  /* The same end as the userspace record: the response's last byte, else the request's. */
  __u64 start = c->totals.req_start_ns;
  __u64 end = c->totals.resp_end_ns;
  if (end <= start) end = c->totals.req_end_ns > start ? c->totals.req_end_ns : start;
  __u64 duration = end - start;
  __u32 bucket = red_bucket(duration);
  /* Atomic although per-CPU: the timeout iterator may be preempted by a syscall's program. */
  __sync_fetch_and_add(&stats->count, 1);
  __sync_fetch_and_add(&stats->duration_sum_ns, duration);
  if (bucket < LOUPE_RED_BUCKETS) __sync_fetch_and_add(&stats->buckets[bucket], 1);
  count(LOUPE_CNT_RED_AGGREGATED, 1);
}

/* Whether userspace holds state for this connection: it does once a record was sent. */
static __always_inline bool red_userspace_knows(const struct loupe_conn *c) {
  return loupe_userspace_knows(red_enabled, c->last_full_seq, c->phase);
}

/* The timeout rule of both passes: a kernel-aggregated exchange still pending red_timeout_ns
 * after its response began is counted, as userspace's pending timeout does for the exchanges it
 * holds (every one at the agent's last pass, red_flush_all). */
static __always_inline void red_timeout_one(struct loupe_conn *c) {
  if (c->red_pending == 0) return;
  if (!red_flush_all && bpf_ktime_get_ns() < c->totals.resp_start_ns + red_timeout_ns) return;
  red_finalize(c);
}

/* The timeout pass where the kernel allows the map-element iterator (Linux 5.9): the agent
 * read(2)s an iterator over `conns` every housekeeping tick. */
SEC("iter/bpf_map_elem")
int loupe_red_timeouts(struct bpf_iter__bpf_map_elem *ctx) {
  struct loupe_conn_key *iter_key = ctx->key;
  if (!iter_key || !red_enabled) return 0;
  struct loupe_conn_key key = *iter_key;
  struct loupe_conn *c = bpf_map_lookup_elem(&conns, &key);
  if (c) red_timeout_one(c);
  return 0;
}

/* The same pass where the iterator is refused (one 6.18 build refuses it with EPERM as root):
 * the agent runs this program on demand with BPF_PROG_TEST_RUN, and it walks `conns` with
 * bpf_for_each_map_elem (Linux 5.13). Both passes claim an exchange with red_finalize's
 * compare-and-swap, so the counts are as exact on either path. */
static long red_timeout_step(struct bpf_map *map, struct loupe_conn_key *key,
                             struct loupe_conn *c, void *ctx) {
  red_timeout_one(c);
  return 0; /* go on */
}

SEC("raw_tp")
int loupe_red_timeouts_walk(void *ctx) {
  if (red_enabled) bpf_for_each_map_elem(&conns, red_timeout_step, NULL, 0);
  return 0;
}
