#include "userspace/tls/tls_metrics.h"

namespace loupe {

TlsMetrics::TlsMetrics(prometheus::Registry& registry)
    : libraries_attached_(AddGauge(registry, "loupe_tls_libraries_attached",
                                   "libssl files with uprobes attached")),
      processes_not_visible_(AddGauge(
          registry, "loupe_tls_processes_not_visible",
          "live processes that talk TLS the agent cannot decrypt (e.g. Go crypto/tls)")),
      connections_(CounterFamily(registry, "loupe_tls_connections_total",
                                 "TLS connections seen, by whether their plaintext is visible")),
      visible_(connections_.Add({{"visibility", "visible"}})),
      opaque_(connections_.Add({{"visibility", "opaque"}})),
      attach_failures_(AddCounter(registry, "loupe_tls_attach_failures_total",
                                  "libssl files whose uprobes could not be attached")),
      bytes_skipped_(AddCounter(registry, "loupe_tls_bytes_skipped_total",
                                "TLS ciphertext bytes recognised in the kernel and never parsed")),
      calls_(AddCounter(registry, "loupe_tls_calls_total",
                        "SSL_read/SSL_write/SSL_do_handshake calls seen by the uprobes")),
      plaintext_dropped_(AddCounter(
          registry, "loupe_tls_plaintext_dropped_total",
          "SSL_read/SSL_write results dropped because their socket was unknown")) {}

void TlsMetrics::UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals) {
  bytes_skipped_.AdvanceTo(totals[LOUPE_CNT_TLS_BYTES_SKIPPED]);
  calls_.AdvanceTo(totals[LOUPE_CNT_TLS_CALLS]);
  plaintext_dropped_.AdvanceTo(totals[LOUPE_CNT_TLS_NO_FD]);
}

}  // namespace loupe
