/* What the kernel side recognizes of HTTP/1, as plain C over bytes it already holds: included by
 * the BPF program (bpf/red_aggregate.bpf.h, bpf/stream.bpf.h) and by userspace
 * (userspace/kernel_red/), and tested against the parser over tests/fixtures/http1/
 * (http1_sniff_test.cc). No BPF helper: callers copy the bytes in first. */
#ifndef LOUPE_PROTOCOLS_HTTP1_KERNEL_HTTP1_SNIFF_H
#define LOUPE_PROTOCOLS_HTTP1_KERNEL_HTTP1_SNIFF_H

#ifdef __BPF__
/* vmlinux.h provides __u8 ... __u64 */
#else
#include <linux/types.h>
#endif

/* Bytes of a response loupe_http1_status() reads: "HTTP/1.1 200 " */
#define LOUPE_HTTP1_STATUS_LINE_BYTES 13

/* The status of a final response whose first 13 bytes (`line`) are "HTTP/1.0 " or "HTTP/1.1 ",
 * a code 200..599, then ' ' or CR: a status line the userspace parser reads the same way.
 * 0 otherwise (1xx, other versions, anything else). */
static inline __u16 loupe_http1_status(const char *line) {
  if (line[0] != 'H' || line[1] != 'T' || line[2] != 'T' || line[3] != 'P' || line[4] != '/' ||
      line[5] != '1' || line[6] != '.' || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
    return 0;
  if (line[9] < '2' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
      line[11] > '9')
    return 0;
  if (line[12] != ' ' && line[12] != '\r') return 0;
  return (__u16)((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
}

/* Whether `len` bytes at `b` start like an HTTP/1 request line: a method the parser knows and a
 * space (the longer methods by their first four letters). CONNECT and TRACE never pipeline
 * usefully and are left out. */
static inline int loupe_http1_request_start(const __u8 *b, __u32 len) {
  if (len < 5) return 0;
  if (b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') return 1;
  if (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') return 1;
  if (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ') return 1;
  if (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ') return 1;
  if (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C') return 1; /* PATCH */
  if (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E') return 1; /* DELETE */
  if (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I') return 1; /* OPTIONS */
  return 0;
}

#endif /* LOUPE_PROTOCOLS_HTTP1_KERNEL_HTTP1_SNIFF_H */
