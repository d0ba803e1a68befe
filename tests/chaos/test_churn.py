"""Chaos: connection churn (every request on a connection of its own) and process churn (every
request from a process of its own that exits at once). Every request must be counted or its loss
counted, and the connection and process tables must stay bounded. Root; ctest label `chaos`."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import (LONG, MIB, RSS_LIMIT_BYTES, Agent, ChaosNginx, RssSampler,  # noqa: E402
                   check_accounting, counters, delta, memory_breakdown, metric_sum,
                   process_churn, report, settle)
from load import http_load  # noqa: E402

CONNECTIONS = 100000 if LONG else 10000
PROCESSES = 3000 if LONG else 300


class ChurnChaos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()
        cls.rss = RssSampler(cls.agent.proc.pid)

    @classmethod
    def tearDownClass(cls):
        peak = cls.rss.stop()
        report("churn memory", rss_peak_mib=round(peak / MIB, 1),
               **memory_breakdown(cls.agent.proc.pid))
        code = cls.agent.stop()
        assert code == 0, f"agent exit code {code}"
        assert peak <= RSS_LIMIT_BYTES, f"RSS peaked at {peak / MIB:.1f} MiB"

    def setUp(self):
        self.nginx = ChaosNginx()
        self.addCleanup(self.nginx.stop)

    def test_connection_churn(self):
        before = counters(self.agent)
        started = time.monotonic()
        captured, errors, _ = http_load(self.nginx.port, CONNECTIONS, workers=4,
                                        close_each=True, max_seconds=300 if LONG else 60)
        seconds = time.monotonic() - started
        exported = settle(self.agent, self.nginx, captured)
        samples = self.agent.metrics()
        report("connection churn", connections=captured, errors=errors,
               seconds=round(seconds, 1),
               tracked=int(metric_sum(samples, "loupe_connections_tracked")),
               evicted=int(metric_sum(samples, "loupe_connections_evicted_total")))
        check_accounting(self, "connection churn", captured, exported,
                         delta(counters(self.agent), before), unknown=errors)
        self.assertLessEqual(metric_sum(samples, "loupe_connections_tracked"), 16384)

    def test_process_churn(self):
        before = counters(self.agent)
        started = time.monotonic()
        captured, failed = process_churn(self.nginx.port, PROCESSES,
                                         max_seconds=600 if LONG else 60)
        seconds = time.monotonic() - started
        exported = settle(self.agent, self.nginx, captured)
        samples = self.agent.metrics()
        report("process churn", processes=captured, failed=failed, seconds=round(seconds, 1),
               process_cache=int(metric_sum(samples, "loupe_process_cache_entries")),
               closed_at_exit=int(metric_sum(samples, "loupe_kernel_connections_total",
                                             event="closed_at_process_exit")))
        check_accounting(self, "process churn", captured, exported,
                         delta(counters(self.agent), before), unknown=failed)
        self.assertGreater(captured, 0)


if __name__ == "__main__":
    unittest.main()
