// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel feature probe: one tiny program per optional feature, each loaded and attached on its
 * own by userspace/loader/feature_probe.cc. Kernels of one version differ in what they refuse
 * (one build of 6.18 refused the map-element iterator and fentry with EPERM while iter/task
 * loaded; uprobes need CAP_SYS_ADMIN again since "perf: Revert to requiring CAP_SYS_ADMIN for
 * uprobes"), so the agent asks the kernel, feature by feature, instead of inferring from a
 * version number or from the capture object failing as a whole.
 *
 * Every program does the least that exercises the feature: the verifier and the attach path
 * are what is being asked, not the program's work. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The map the iterator and the triggered walk go over (empty: the walk itself is the probe). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} probe_map SEC(".maps");

/* sk_msg programs attach to a socket map. */
struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} probe_sockhash SEC(".maps");

SEC("tp_btf/sys_exit")
int BPF_PROG(probe_tp_btf, struct pt_regs *regs, long ret) { return 0; }

SEC("raw_tp/sys_exit")
int probe_raw_tp(struct bpf_raw_tracepoint_args *ctx) { return 0; }

/* The capture's process-exit program walks an fd table with bpf_loop (Linux 5.17). */
static long probe_loop_step(__u64 index, void *ctx) { return 1; }

SEC("raw_tp/sched_process_exit")
int probe_process_exit(struct bpf_raw_tracepoint_args *ctx) {
  bpf_loop(1, probe_loop_step, NULL, 0);
  return 0;
}

SEC("iter/bpf_map_elem")
int probe_map_elem_iter(struct bpf_iter__bpf_map_elem *ctx) { return 0; }

/* The fallback of the map-element iterator: a program run on demand (BPF_PROG_TEST_RUN) that
 * walks a map with bpf_for_each_map_elem (Linux 5.13; raw_tp test runs since 5.10). */
static long probe_each_step(struct bpf_map *map, __u32 *key, __u64 *value, void *ctx) {
  return 0;
}

SEC("raw_tp")
int probe_triggered_walk(void *ctx) {
  bpf_for_each_map_elem(&probe_map, probe_each_step, NULL, 0);
  return 0;
}

/* Attached by userspace to a function of the agent's own executable. */
SEC("uprobe")
int probe_uprobe(struct pt_regs *ctx) { return 0; }

/* bpf_fentry_test1 exists for exactly this purpose (net/bpf/test_run.c) and is never called
 * outside BPF_PROG_TEST_RUN, so attaching to it costs nothing anywhere else. */
SEC("fentry/bpf_fentry_test1")
int BPF_PROG(probe_fentry, int a) { return 0; }

SEC("sockops")
int probe_sock_ops(struct bpf_sock_ops *skops) { return 1; }

SEC("sk_msg")
int probe_sk_msg(struct sk_msg_md *msg) { return SK_PASS; }
