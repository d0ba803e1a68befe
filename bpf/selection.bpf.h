/* Process selection in the kernel (config `selection`, userspace/process/process_selector.h).
 *
 * Excluded processes cost one hash lookup per accept/connect and nothing else: their connections
 * never enter `conns`, so their reads and writes stop at the `conns` lookup every syscall already
 * does, and no record is built. The daemon decides per process in userspace (the decision needs
 * the executable and the pod, which the kernel does not know) and writes the tgids it excludes
 * into `excluded_tgids` when it first sees the process (its first classified connection, or the
 * /proc scan at start); the first connection of a process started after the agent therefore still
 * reaches userspace, where its records are dropped and counted. An entry goes when its process
 * exits (on_process_exit, or the daemon's sweep where that probe does not load).
 *
 * Ports are decided here alone, per connection, from its server port (the local port of an
 * accepted connection, the remote port of one made): no userspace round trip, so even a
 * process's first connection to an excluded port costs no record.
 * Included by capture.bpf.c before track_connection(). */
#ifndef LOUPE_BPF_SELECTION_BPF_H
#define LOUPE_BPF_SELECTION_BPF_H

/* Set by the daemon before load: which port rules exist (LOUPE_PORTS_*). Without any, no port
 * lookup is made at all. */
#define LOUPE_PORTS_NONE 0
#define LOUPE_PORTS_EXCLUDE 1   /* only ports listed LOUPE_PORT_EXCLUDED are dropped */
#define LOUPE_PORTS_INCLUDE 2   /* ports not listed LOUPE_PORT_INCLUDED are dropped as well */
#define LOUPE_PORT_INCLUDED 1
#define LOUPE_PORT_EXCLUDED 2
const volatile __u8 port_rules = LOUPE_PORTS_NONE;

/* Not preallocated: the daemon writes it rarely (once per excluded process), and most hosts
 * exclude few processes; a lookup costs the same. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 4096); /* resized by the daemon */
  __type(key, __u32);        /* tgid */
  __type(value, __u32);      /* 1 */
} excluded_tgids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 128); /* include_ports + exclude_ports, at most 64 each */
  __type(key, __u32);       /* port, host byte order */
  __type(value, __u32);     /* LOUPE_PORT_INCLUDED or LOUPE_PORT_EXCLUDED */
} selected_ports SEC(".maps");

static __always_inline bool process_excluded(__u32 tgid) {
  return bpf_map_lookup_elem(&excluded_tgids, &tgid) != NULL;
}

static __always_inline bool port_excluded(const struct loupe_tuple *t) {
  if (port_rules == LOUPE_PORTS_NONE) return false;
  __u32 port = t->role == LOUPE_ROLE_SERVER ? t->local_port : t->remote_port;
  __u32 *verdict = bpf_map_lookup_elem(&selected_ports, &port);
  if (verdict) return *verdict == LOUPE_PORT_EXCLUDED;
  return port_rules == LOUPE_PORTS_INCLUDE;
}

static __always_inline void selection_forget(__u32 tgid) {
  bpf_map_delete_elem(&excluded_tgids, &tgid);
}

#endif /* LOUPE_BPF_SELECTION_BPF_H */
