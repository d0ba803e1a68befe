"""Chaos: a label-cardinality attack — every request with a path, a method and a Host header
never seen before, round after round — must leave the agent's series, /metrics and memory
bounded (docs/memory.md), and every request accounted for. Root; ctest label `chaos`."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import (LONG, MIB, RSS_LIMIT_BYTES, Agent, ChaosNginx, RssSampler,  # noqa: E402
                   check_accounting, counters, delta, memory_breakdown, metric_sum, report,
                   settle)
from load import http_load  # noqa: E402

ROUNDS = 9 if LONG else 3
PER_ROUND = 20000
MAX_SERIES = 1000  # the default (docs/configuration.md)
OVERFLOW = "_overflow_"


def overflow_count(agent):
    """Observations in the HTTP server overflow series: (nginx's own, its budget spent; the
    global one, the series cap reached, shared with any other service on the host)."""
    samples = agent.metrics()
    name = "http_server_request_duration_seconds_count"
    return (metric_sum(samples, name, service_name="nginx", server_port=OVERFLOW),
            metric_sum(samples, name, service_name=OVERFLOW))


class CardinalityChaos(unittest.TestCase):
    def test_unique_paths_methods_and_hosts(self):
        agent = Agent()
        self.addCleanup(agent.stop)
        nginx = ChaosNginx()
        self.addCleanup(nginx.stop)
        rss = RssSampler(agent.proc.pid)
        self.addCleanup(rss.stop)
        before = counters(agent)
        overflow_before = overflow_count(agent)
        captured = unknown = 0
        started = time.monotonic()
        for round_ in range(ROUNDS):
            done, errors, statuses = http_load(nginx.port, PER_ROUND, workers=4, seed=round_,
                                               unique=True, max_seconds=60)
            captured += done
            unknown += errors
            text = agent.metrics_text()
            samples = agent.metrics()
            series = metric_sum(samples, "loupe_metric_series")
            report(f"cardinality round {round_}", requests=done, errors=errors,
                   series=int(series), metrics_lines=text.count("\n"),
                   metrics_bytes=len(text), rss_mib=rss.peak_mib())
            self.assertLessEqual(series, MAX_SERIES + 3, "series beyond the global cap")
            # ~3.6 KB of text per series, plus the agent's own metrics.
            self.assertLess(len(text), 4.5 * MIB, "the exposition is not bounded")
        time.sleep(3)  # the pending timeout: late exchanges land
        exported = settle(agent, nginx, captured)
        own, shared = (a - b for a, b in zip(overflow_count(agent), overflow_before))
        drops = delta(counters(agent), before)
        check_accounting(self, "cardinality accounting", captured, exported + own, drops,
                         unknown=unknown, shared=shared)
        peak = rss.stop()
        report("cardinality memory", rounds=ROUNDS, seconds=round(time.monotonic() - started, 1),
               rss_peak_mib=round(peak / MIB, 1), **memory_breakdown(agent.proc.pid))
        self.assertLessEqual(peak, RSS_LIMIT_BYTES, f"RSS peaked at {peak / MIB:.1f} MiB")
        self.assertEqual(agent.stop(), 0, agent.logs()[-3000:])


if __name__ == "__main__":
    unittest.main()
