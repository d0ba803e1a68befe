// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The overhead floor for bench/: programs on the same hook as capture.bpf.c (sys_exit) that do
 * nothing. The cost of running them on every syscall of every process is what any sys_exit-based
 * capture pays before its first instruction; bench/run.sh compares Loupe's cost against it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit_btf, struct pt_regs *regs, long ret) {
  return 0;
}

SEC("raw_tp/sys_exit")
int floor_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx) {
  return 0;
}
