/* The agent's own traffic seen from the other end (observe_self off, the default).
 *
 * The agent's process is never captured (self_tgid), but the processes it talks to are: the
 * collector receiving its OTLP exports would get a SERVER span per export (a feedback loop when
 * the collector runs on the same node and is itself instrumented), and whatever scrapes the
 * agent's /metrics a CLIENT span per scrape. Such connections are not tracked at all, at the cost
 * of at most one map lookup when they are opened:
 *   - the agent's connect(2) records its socket's local (address, port) in self_endpoints; a
 *     connection another process accepts from such a peer is the agent's own;
 *   - a connection another process in the agent's network namespace makes to the agent's listen
 *     port on a local address is a scrape.
 * A collector whose accept(2) returns before the agent's connect(2) reaches its sys_exit is
 * caught at its first request instead (self_traffic_late). Not caught: traffic relayed by a
 * proxy.
 * Included by capture.bpf.c after sock_from_fd() and read_tuple(). */
#ifndef LOUPE_BPF_SELF_TRAFFIC_BPF_H
#define LOUPE_BPF_SELF_TRAFFIC_BPF_H

/* Set by the daemon before load. */
const volatile __u8 observe_self = 0;       /* 1: capture the agent's own traffic as any other */
const volatile __u8 self_exports = 0;       /* 1: the agent connects out (OTLP export) */
const volatile __u16 self_listen_port = 0;  /* the agent's admin port; 0: none */
const volatile __u32 self_netns = 0;        /* inode of the agent's network namespace */

/* An IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d), as a dual-stack listener sees it. */
struct self_endpoint {
  __u8 addr[16];
  __u16 port; /* host byte order */
  __u16 pad0;
};

/* The agent's connected sockets by local endpoint, and the same by fd to forget them at close
 * (close's sys_exit no longer finds the socket). The agent holds a handful. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct self_endpoint);
  __type(value, __u8);
} self_endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __s32);
  __type(value, struct self_endpoint);
} self_fds SEC(".maps");

static __always_inline void self_endpoint_of(const struct loupe_tuple *t, bool local,
                                             struct self_endpoint *e) {
  const __u8 *addr = local ? t->local_addr : t->remote_addr;
  __builtin_memset(e, 0, sizeof(*e));
  if (t->family == AF_INET) {
    e->addr[10] = 0xff;
    e->addr[11] = 0xff;
    __builtin_memcpy(&e->addr[12], addr, 4);
  } else {
    __builtin_memcpy(e->addr, addr, 16);
  }
  e->port = local ? t->local_port : t->remote_port;
}

static __always_inline bool self_is_loopback(const struct self_endpoint *e) {
  __u64 high, low;
  __builtin_memcpy(&high, e->addr, 8);
  __builtin_memcpy(&low, &e->addr[8], 8);
  if (high != 0) return false;
  if (low == bpf_cpu_to_be64(1)) return true; /* ::1 */
  /* ::ffff:127.0.0.0/104 */
  return e->addr[8] == 0 && e->addr[9] == 0 && e->addr[10] == 0xff && e->addr[11] == 0xff &&
         e->addr[12] == 127;
}

static __always_inline bool self_same_netns(struct sock *sk) {
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == self_netns;
}

/* True when a connection another process accepted (server) or connected (client) is the
 * agent's own traffic and must not be tracked. */
static __always_inline bool self_traffic(const struct loupe_tuple *t, struct sock *sk) {
  if (observe_self) return false;
  struct self_endpoint peer;
  if (t->role == LOUPE_ROLE_SERVER) {
    if (!self_exports) return false;
    self_endpoint_of(t, false, &peer);
    if (!bpf_map_lookup_elem(&self_endpoints, &peer)) return false;
    /* A loopback peer in another network namespace is another socket with the same numbers. */
    return !self_is_loopback(&peer) || self_same_netns(sk);
  }
  if (self_listen_port == 0 || t->remote_port != self_listen_port) return false;
  /* To the agent's port on this host: a loopback address, or the host's own address (then the
   * kernel gives the socket that same address as its source). */
  self_endpoint_of(t, false, &peer);
  if (!self_is_loopback(&peer)) {
    struct self_endpoint local;
    self_endpoint_of(t, true, &local);
    __u64 a[2], b[2];
    __builtin_memcpy(a, peer.addr, 16);
    __builtin_memcpy(b, local.addr, 16);
    if (a[0] != b[0] || a[1] != b[1]) return false;
  }
  return self_same_netns(sk);
}

/* The same check for a server connection at its first request. The accept-time check misses
 * when the peer's accept(2) returns before the agent's connect(2) reaches its sys_exit (seen
 * under load: a keep-alive export connection then counted a dozen exports); by the time the
 * receiver reads a request, the agent has written it, so its connect has long returned and its
 * endpoint is known. One map lookup per server connection's first request, only while the agent
 * exports. */
static __always_inline bool self_traffic_late(const struct loupe_conn *c) {
  if (observe_self || !self_exports || c->tuple.role != LOUPE_ROLE_SERVER) return false;
  return self_traffic(&c->tuple, (struct sock *)c->sock);
}

static __always_inline void self_forget(int fd) {
  struct self_endpoint *known = bpf_map_lookup_elem(&self_fds, &fd);
  if (!known) return;
  struct self_endpoint e = *known;
  bpf_map_delete_elem(&self_endpoints, &e);
  bpf_map_delete_elem(&self_fds, &fd);
}

/* The agent's own accept/connect/close (self_tgid): only its connected sockets are recorded. */
static __always_inline int self_syscall(__u64 id, int fd, long ret) {
  if (observe_self || !self_exports) return 0;
  if (id == LOUPE_NR_close) {
    self_forget(fd);
    return 0;
  }
  if (id != LOUPE_NR_connect || (ret != 0 && ret != -EINPROGRESS)) return 0;
  struct sock *sk = sock_from_fd(fd);
  struct loupe_tuple t = {};
  if (!sk || !read_tuple(sk, &t)) return 0;
  self_forget(fd); /* a socket at this fd whose close was not seen */
  struct self_endpoint e;
  self_endpoint_of(&t, true, &e);
  __u8 one = 1;
  if (bpf_map_update_elem(&self_endpoints, &e, &one, BPF_ANY) != 0) return 0;
  if (bpf_map_update_elem(&self_fds, &fd, &e, BPF_ANY) != 0) {
    bpf_map_delete_elem(&self_endpoints, &e);
  }
  return 0;
}

#endif /* LOUPE_BPF_SELF_TRAFFIC_BPF_H */
