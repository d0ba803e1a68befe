/* TLS plaintext from OpenSSL (libssl.so.3 / libssl.so.1.1) through uprobes.
 *
 * #included by capture.bpf.c after its data path: the uprobes feed the plaintext they see into
 * the same exchange logic (on_data) and the same conn map as the syscall capture, so an HTTPS
 * exchange becomes one ordinary exchange event with LOUPE_EVF_TLS set.
 *
 * How an SSL object is tied to its socket:
 *   - SSL_read/SSL_write(_ex)/SSL_do_handshake entry remembers (ssl, buf, count pointer) for the
 *     calling thread in tls_calls;
 *   - while that thread is inside the call, the sys_exit program sees the socket syscalls it
 *     makes (tls_on_socket_data): it records ssl -> fd in tls_ssl_fds and marks the connection
 *     TLS, after which raw (cipher) bytes on it are counted and skipped;
 *   - SSL_set_fd, when the application uses it, records ssl -> fd directly;
 *   - the return probe reads the byte count and feeds the user buffer as plaintext.
 * SSL_read may return bytes OpenSSL buffered earlier without making any syscall, so ssl -> fd
 * lives across calls (a bounded LRU, keyed by ssl pointer and tgid).
 *
 * Nesting: in OpenSSL 3.0 and 1.1.1 neither SSL_read nor SSL_read_ex calls the other, but other
 * builds may; a call made while the thread is already inside an SSL call on the same SSL object
 * only bumps a depth counter, so plaintext is fed exactly once, by the outermost call. */
#ifndef LOUPE_BPF_TLS_BPF_H
#define LOUPE_BPF_TLS_BPF_H

#define LOUPE_TLS_OP_READ 1
#define LOUPE_TLS_OP_WRITE 2
#define LOUPE_TLS_OP_HANDSHAKE 3

struct tls_call {
  __u64 ssl;
  __u64 buf;
  __u64 count_ptr; /* SSL_*_ex: where the byte count is written; 0: the return value is it */
  __u32 op;        /* LOUPE_TLS_OP_* */
  __u32 depth;     /* nested SSL calls on the same object, skipped */
};

/* Threads currently inside an SSL call, keyed by pid_tgid. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct tls_call);
} tls_calls SEC(".maps");

struct tls_ssl_key {
  __u64 ssl;
  __u32 tgid;
  __u32 pad0;
};

/* 0 until the first SSL call on the host: socket data then needs no tls_calls lookup. */
__u32 tls_calls_seen = 0;

/* SSL object -> socket fd. LRU: entries of freed SSL objects age out on their own. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct tls_ssl_key);
  __type(value, __s32);
} tls_ssl_fds SEC(".maps");

/* The connection is driven by libssl from now on. A raw request in progress is ciphertext:
 * forget it so the first plaintext starts a fresh exchange. */
static __always_inline void tls_mark_conn(struct loupe_conn *c) {
  if (c->flags & LOUPE_CONN_F_TLS) return;
  c->flags |= LOUPE_CONN_F_TLS;
  struct loupe_step step = loupe_conn_step(c->phase, LOUPE_CONN_TLS, 0);
  if (step.action == LOUPE_ACT_FORGET_REQUEST) {
    c->phase = step.next_phase;
    c->req_len = 0;
  }
}

static __always_inline void tls_link_fd(__u64 ssl, __u32 tgid, int fd) {
  struct tls_ssl_key key = {.ssl = ssl, .tgid = tgid, .pad0 = 0};
  __s32 *known = bpf_map_lookup_elem(&tls_ssl_fds, &key);
  if (known && *known == fd) return; /* the common case: no map write */
  __s32 value = fd;
  bpf_map_update_elem(&tls_ssl_fds, &key, &value, BPF_ANY);
}

/* Called by on_data() for every raw socket read/write on a tracked connection. Returns true when
 * the bytes are TLS ciphertext (counted, then skipped by the caller). */
static __always_inline bool tls_on_socket_data(__u64 pid_tgid, int fd, struct loupe_conn *c,
                                               long ret) {
  /* Until a libssl probe has fired, no thread can be inside an SSL call: skip the hash lookup
   * that every socket read and write would otherwise pay. */
  if (tls_calls_seen) {
    struct tls_call *call = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
    if (call) {
      tls_link_fd(call->ssl, pid_tgid >> 32, fd);
      tls_mark_conn(c);
    }
  }
  if (!(c->flags & LOUPE_CONN_F_TLS)) return false;
  count(LOUPE_CNT_TLS_BYTES_SKIPPED, ret);
  return true;
}

static __always_inline int tls_enter(__u64 ssl, __u64 buf, __u64 count_ptr, __u32 op) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if ((__u32)(pid_tgid >> 32) == self_tgid) return 0;
  count(LOUPE_CNT_TLS_CALLS, 1);
  /* Set before the call's own syscalls run (same thread), never cleared. */
  if (!tls_calls_seen) tls_calls_seen = 1;
  struct tls_call *outer = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
  if (outer && outer->ssl == ssl) {
    outer->depth += 1;
    return 0;
  }
  /* No outer call, or a stale entry whose return probe never ran: replace it. */
  struct tls_call call = {.ssl = ssl, .buf = buf, .count_ptr = count_ptr, .op = op, .depth = 0};
  bpf_map_update_elem(&tls_calls, &pid_tgid, &call, BPF_ANY);
  return 0;
}

static __always_inline int tls_exit(long rc) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct tls_call *entry = bpf_map_lookup_elem(&tls_calls, &pid_tgid);
  if (!entry) return 0;
  if (entry->depth > 0) {
    entry->depth -= 1;
    return 0;
  }
  struct tls_call call = *entry;
  bpf_map_delete_elem(&tls_calls, &pid_tgid);
  if (call.op == LOUPE_TLS_OP_HANDSHAKE || rc <= 0) return 0;

  __u64 n = (__u64)rc;
  if (call.count_ptr != 0) {
    __u64 moved = 0; /* size_t */
    if (bpf_probe_read_user(&moved, sizeof(moved), (const void *)call.count_ptr) != 0) return 0;
    n = moved;
  }
  if (n == 0 || n > 0x7fffffff) return 0;

  __u32 tgid = pid_tgid >> 32;
  struct tls_ssl_key key = {.ssl = call.ssl, .tgid = tgid, .pad0 = 0};
  __s32 *fd = bpf_map_lookup_elem(&tls_ssl_fds, &key);
  if (!fd) {
    count(LOUPE_CNT_TLS_NO_FD, 1);
    return 0;
  }
  /* A connection learned only through SSL_set_fd has not been marked by a syscall yet. */
  struct loupe_conn_key conn_key = {.tgid = tgid, .fd = *fd};
  struct loupe_conn *c = bpf_map_lookup_elem(&conns, &conn_key);
  if (!c) return 0;
  tls_mark_conn(c);
  on_data(pid_tgid, conn_key.fd, call.op == LOUPE_TLS_OP_READ, BUF_TLS, call.buf, (long)n);
  return 0;
}

/* int SSL_read(SSL *ssl, void *buf, int num); int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(loupe_ssl_read_enter, void *ssl, void *buf, int num) {
  return tls_enter((__u64)ssl, (__u64)buf, 0, LOUPE_TLS_OP_READ);
}

SEC("uprobe")
int BPF_KPROBE(loupe_ssl_write_enter, void *ssl, const void *buf, int num) {
  return tls_enter((__u64)ssl, (__u64)buf, 0, LOUPE_TLS_OP_WRITE);
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes); SSL_write_ex alike */
SEC("uprobe")
int BPF_KPROBE(loupe_ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes) {
  return tls_enter((__u64)ssl, (__u64)buf, (__u64)readbytes, LOUPE_TLS_OP_READ);
}

SEC("uprobe")
int BPF_KPROBE(loupe_ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written) {
  return tls_enter((__u64)ssl, (__u64)buf, (__u64)written, LOUPE_TLS_OP_WRITE);
}

/* int SSL_do_handshake(SSL *ssl): the handshake's socket syscalls mark the connection TLS before
 * its ClientHello could be taken for a request. SSL_accept/SSL_connect call it too. */
SEC("uprobe")
int BPF_KPROBE(loupe_ssl_handshake_enter, void *ssl) {
  return tls_enter((__u64)ssl, 0, 0, LOUPE_TLS_OP_HANDSHAKE);
}

/* One return program serves every function above: the entry recorded what the return means. */
SEC("uretprobe")
int BPF_KRETPROBE(loupe_ssl_exit, long rc) {
  return tls_exit((long)(int)rc);
}

/* int SSL_set_fd(SSL *ssl, int fd) */
SEC("uprobe")
int BPF_KPROBE(loupe_ssl_set_fd, void *ssl, int fd) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if ((__u32)(pid_tgid >> 32) == self_tgid || fd < 0) return 0;
  tls_link_fd((__u64)ssl, pid_tgid >> 32, fd);
  return 0;
}

#endif /* LOUPE_BPF_TLS_BPF_H */
