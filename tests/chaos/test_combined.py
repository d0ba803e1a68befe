"""Chaos: the combined worst case of docs/memory.md — a label-cardinality attack, the OTLP
collector down, connection churn and process churn, all at once, with /metrics scraped every
second — and the agent's RSS, sampled throughout, must stay at or under 64 MiB with the default
configuration. Every request is counted or its loss counted. Root; ctest label `chaos`.
LOUPE_CHAOS_LONG=1 repeats the attack for about five minutes."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import (LONG, MIB, RSS_LIMIT_BYTES, Agent, ChaosNginx, RssSampler,  # noqa: E402
                   check_accounting, counters, delta, free_port, memory_breakdown, metric_sum,
                   process_churn, report, scrape_loop, server_count, settle, span_accounting)
from load import http_load  # noqa: E402
from test_cardinality import overflow_count  # noqa: E402

SECONDS = 300 if LONG else 30


class CombinedChaos(unittest.TestCase):
    def test_worst_case_memory(self):
        dead_collector = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
        agent = Agent(env={"OTEL_EXPORTER_OTLP_ENDPOINT": dead_collector})
        self.addCleanup(agent.stop)
        nginx = ChaosNginx()
        self.addCleanup(nginx.stop)
        # A second service, so that the attack fills the global series cap (max_series), not
        # only one service's budget.
        # The load's client processes are a service too: connections to 64 ports of a second
        # nginx give them more label sets than their budget.
        second = ChaosNginx(extra_ports=63)
        self.addCleanup(second.stop)
        rss = RssSampler(agent.proc.pid, interval=0.05)
        self.addCleanup(rss.stop)
        stop = threading.Event()
        sizes = []
        scraper = threading.Thread(target=scrape_loop, args=(agent, stop, 1.0, sizes),
                                   daemon=True)
        scraper.start()
        before = counters(agent)
        overflow_before = overflow_count(agent)
        results = {"cardinality": 0, "connections": 0, "processes": 0, "second": 0}
        unknown = {"errors": 0}
        deadline = time.monotonic() + SECONDS

        def cardinality():
            seed = 100
            while time.monotonic() < deadline:
                done, errors, _ = http_load(nginx.port, 20000, workers=3, seed=seed,
                                            unique=True,
                                            max_seconds=max(1, deadline - time.monotonic()))
                results["cardinality"] += done
                unknown["errors"] += errors
                seed += 1

        def second_service():
            seed = 200
            while time.monotonic() < deadline and results["second"] < 5000:
                done, errors, _ = http_load(second.ports, 1000, workers=1, seed=seed,
                                            unique=True,
                                            max_seconds=max(1, deadline - time.monotonic()))
                results["second"] += done
                unknown["errors"] += errors
                seed += 1

        def connections():
            while time.monotonic() < deadline:
                done, errors, _ = http_load(nginx.port, 2000, workers=2, close_each=True,
                                            max_seconds=max(1, deadline - time.monotonic()))
                results["connections"] += done
                unknown["errors"] += errors

        def processes():
            results["processes"], failed = process_churn(nginx.port, 100000, parallel=6,
                                                         max_seconds=SECONDS)
            unknown["errors"] += failed

        threads = [threading.Thread(target=f) for f in (cardinality, second_service, connections,
                                                          processes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SECONDS + 120)
        stop.set()
        scraper.join(timeout=10)
        samples = agent.metrics()
        spans = span_accounting(agent)
        gauges = {
            "series": int(metric_sum(samples, "loupe_metric_series")),
            "spans_buffered": int(spans["buffered"]),
            "span_queue": int(spans["queued"]),
            "connections_tracked": int(metric_sum(samples, "loupe_connections_tracked")),
            "process_cache": int(metric_sum(samples, "loupe_process_cache_entries")),
            "heap_in_use_mib": round(metric_sum(samples, "loupe_heap_bytes", state="in_use")
                                     / MIB, 1),
        }
        breakdown = memory_breakdown(agent.proc.pid)
        peak = rss.stop()
        captured = sum(results.values())
        report("combined worst case", seconds=SECONDS, rss_peak_mib=round(peak / MIB, 1),
               scrapes=len(sizes), metrics_max_bytes=max(sizes) if sizes else 0,
               **results, **unknown, **gauges, **breakdown)
        time.sleep(3)
        second_count = sum(server_count(agent, second, port) for port in second.ports)
        own, shared = (a - b for a, b in zip(overflow_count(agent), overflow_before))
        exported = settle(agent, nginx, captured - results["second"]) + second_count + own
        check_accounting(self, "combined accounting", captured, exported,
                         delta(counters(agent), before), unknown=unknown["errors"], shared=shared)
        self.assertLessEqual(peak, RSS_LIMIT_BYTES, f"RSS peaked at {peak / MIB:.1f} MiB")
        started = time.monotonic()
        self.assertEqual(agent.stop(timeout=30), 0, agent.logs()[-3000:])
        report("combined shutdown with the collector down",
               seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    unittest.main()
