// The overhead floor: attaches bpf/floor.bpf.c's do-nothing programs on the hook Loupe uses
// (tp_btf/sys_exit, raw_tp/sys_exit fallback) and waits for SIGTERM/SIGINT. Prints one JSON line
// when attached so bench/run.py knows the program id to read run_time_ns/run_cnt from.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "bpf/floor.skel.h"

namespace {

volatile sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

int QuietPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level != LIBBPF_WARN) return 0;
  return vfprintf(stderr, format, args);
}

// `struct` everywhere: the skeleton type is named like the C library function floor().
// Loads exactly one of the two programs, as capture_probes.cc does for the real capture.
struct floor* OpenAndLoad(bool btf) {
  struct floor* skel = floor__open();
  if (skel == nullptr) return nullptr;
  bpf_program__set_autoload(skel->progs.floor_sys_exit_btf, btf);
  bpf_program__set_autoload(skel->progs.floor_sys_exit_raw, !btf);
  if (floor__load(skel) != 0) {
    floor__destroy(skel);
    return nullptr;
  }
  return skel;
}

}  // namespace

int main() {
  libbpf_set_print(QuietPrint);
  bool btf = true;
  struct floor* skel = OpenAndLoad(btf);
  if (skel == nullptr) {
    btf = false;
    skel = OpenAndLoad(btf);
  }
  if (skel == nullptr) {
    fprintf(stderr, "floor_loader: loading the BPF object failed: %s\n", strerror(errno));
    return 1;
  }
  bpf_program* program = btf ? skel->progs.floor_sys_exit_btf : skel->progs.floor_sys_exit_raw;
  bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) {
    fprintf(stderr, "floor_loader: attaching failed: %s\n", strerror(errno));
    floor__destroy(skel);
    return 1;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &len) != 0) info.id = 0;

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  printf("{\"ready\":true,\"hook\":\"%s\",\"prog_id\":%u}\n", btf ? "tp_btf" : "raw_tracepoint",
         info.id);
  fflush(stdout);
  while (!g_stop) pause();

  bpf_link__destroy(link);
  floor__destroy(skel);
  return 0;
}
