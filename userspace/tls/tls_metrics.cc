#include "userspace/tls/tls_metrics.h"

#include "userspace/metrics/counter_mirror.h"

namespace loupe {
namespace {

prometheus::Gauge& NewGauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter& NewCounter(prometheus::Registry& registry, const char* name,
                                const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

TlsMetrics::TlsMetrics(prometheus::Registry& registry)
    : libraries_attached_(NewGauge(registry, "loupe_tls_libraries_attached",
                                   "libssl files with uprobes attached")),
      processes_not_visible_(NewGauge(
          registry, "loupe_tls_processes_not_visible",
          "live processes that talk TLS the agent cannot decrypt (e.g. Go crypto/tls)")),
      connections_(prometheus::BuildCounter()
                       .Name("loupe_tls_connections_total")
                       .Help("TLS connections seen, by whether their plaintext is visible")
                       .Register(registry)),
      visible_(connections_.Add({{"visibility", "visible"}})),
      opaque_(connections_.Add({{"visibility", "opaque"}})),
      attach_failures_(NewCounter(registry, "loupe_tls_attach_failures_total",
                                  "libssl files whose uprobes could not be attached")),
      bytes_skipped_(NewCounter(registry, "loupe_tls_bytes_skipped_total",
                                "TLS ciphertext bytes recognised in the kernel and never parsed")),
      calls_(NewCounter(registry, "loupe_tls_calls_total",
                        "SSL_read/SSL_write/SSL_do_handshake calls seen by the uprobes")),
      plaintext_dropped_(NewCounter(
          registry, "loupe_tls_plaintext_dropped_total",
          "SSL_read/SSL_write results dropped because their socket was unknown")) {}

void TlsMetrics::UpdateKernelCounters(const std::array<uint64_t, LOUPE_CNT_MAX>& totals) {
  AdvanceCounterTo(bytes_skipped_, totals[LOUPE_CNT_TLS_BYTES_SKIPPED], &last_bytes_skipped_);
  AdvanceCounterTo(calls_, totals[LOUPE_CNT_TLS_CALLS], &last_calls_);
  AdvanceCounterTo(plaintext_dropped_, totals[LOUPE_CNT_TLS_NO_FD], &last_plaintext_dropped_);
}

}  // namespace loupe
