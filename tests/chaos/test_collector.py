"""Chaos: the OTLP collector refuses connections, then accepts and never answers, then answers
503, then recovers — while requests keep coming. The agent must stay up and within its memory
ceiling, keep counting every request, drop spans only through its counters, and export again
once the collector is back: spans assembled = exported + dropped by reason + still queued.
Root; ctest label `chaos`. LOUPE_CHAOS_LONG=1: ten minutes of refused connections."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import (LONG, MIB, RSS_LIMIT_BYTES, Agent, ChaosNginx, ModalCollector,  # noqa: E402
                   RssSampler, check_accounting, counters, delta, http_get, memory_breakdown,
                   report, settle, span_accounting, wait_until)
from harness import OtlpReceiver  # noqa: E402
from load import http_load  # noqa: E402

# Seconds per failure mode; the outage of the long run is the refusing collector's.
PHASES = [("refuse", 600 if LONG else 8), ("silent", 60 if LONG else 8),
          ("503", 60 if LONG else 8)]
REQUESTS_PER_SECOND = 500  # paced: spans keep arriving through the whole outage


def paced_load(port, seconds):
    """Keep-alive requests at about REQUESTS_PER_SECOND for `seconds`; returns (responses,
    requests whose response was lost)."""
    done = errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = time.monotonic()
        ok, failed, _ = http_load(port, REQUESTS_PER_SECOND, workers=2, max_seconds=5)
        done += ok
        errors += failed
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return done, errors


class CollectorChaos(unittest.TestCase):
    def test_refusing_silent_503_then_recovering(self):
        receiver = OtlpReceiver()
        self.addCleanup(receiver.stop)
        collector = ModalCollector(receiver)
        self.addCleanup(collector.stop)
        collector.set_mode("refuse")
        agent = Agent(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                           "OTEL_EXPORTER_OTLP_TIMEOUT": "2000"})
        self.addCleanup(agent.stop)
        nginx = ChaosNginx()
        self.addCleanup(nginx.stop)
        rss = RssSampler(agent.proc.pid)
        self.addCleanup(rss.stop)
        before = counters(agent)
        captured = unknown = 0

        def load(seconds):
            nonlocal captured, unknown
            done, errors = paced_load(nginx.port, seconds)
            captured += done
            unknown += errors

        for mode, seconds in PHASES:
            collector.set_mode(mode)
            dropped_before = sum(span_accounting(agent)["dropped"].values())
            load(seconds)
            status, _ = http_get(agent.port, "/health/live")
            self.assertEqual(status, 200, f"not live with the collector in mode {mode}")
            spans = span_accounting(agent)
            report(f"collector {mode}", seconds=seconds, captured=captured,
                   assembled=int(spans["assembled"]), exported=int(spans["exported"]),
                   dropped=int(sum(spans["dropped"].values())), queued=int(spans["queued"]),
                   rss_peak_mib=rss.peak_mib(), collector_requests=collector.requests[mode]
                   if mode in collector.requests else 0)
            if mode != "refuse":
                self.assertGreater(collector.requests[mode], 0, f"no export reached {mode}")
            # A queue that cannot drain either fills (queue_full) or fails (export_failed).
            self.assertTrue(sum(spans["dropped"].values()) > dropped_before
                            or spans["queued"] > 0, f"spans neither dropped nor queued: {mode}")

        collector.set_mode("ok")
        exported_before = span_accounting(agent)["exported"]
        load(5)
        wait_until(lambda: span_accounting(agent)["exported"] > exported_before, timeout=70,
                   what="spans exported after the collector recovered")
        # Other traffic on the host may still make spans: take a reading both sides agree on.
        def stable():
            first = span_accounting(agent)
            received = len(receiver.spans())
            second = span_accounting(agent)
            return (first, received) if first == second else None

        def balanced():
            """A moment with no batch in flight (other traffic on the host keeps making spans:
            the queue need not be empty) and the collector caught up."""
            reading = stable()
            if not reading:
                return None
            s, received = reading
            if received != s["exported"]:
                return None
            if s["assembled"] != s["exported"] + sum(s["dropped"].values()) + s["queued"]:
                return None
            return reading

        spans, received = wait_until(balanced, timeout=45, interval=0.2,
                                     what="span counters that balance: assembled = exported + "
                                          "dropped by reason + queued, the collector caught up")
        dropped = spans["dropped"]
        report("span accounting", assembled=int(spans["assembled"]),
               exported=int(spans["exported"]),
               **{f"dropped_{k}": int(v) for k, v in dropped.items()},
               queued=int(spans["queued"]), received=received)
        self.assertEqual(spans["assembled"],
                         spans["exported"] + sum(dropped.values()) + spans["queued"],
                         "spans assembled = exported + dropped by reason + queued")

        exported = settle(agent, nginx, captured)
        check_accounting(self, "collector chaos requests", captured, exported,
                         delta(counters(agent), before), unknown=unknown)
        peak = rss.stop()
        report("collector memory", rss_peak_mib=round(peak / MIB, 1),
               **memory_breakdown(agent.proc.pid))
        self.assertLessEqual(peak, RSS_LIMIT_BYTES, f"RSS peaked at {peak / MIB:.1f} MiB")
        started = time.monotonic()
        self.assertEqual(agent.stop(timeout=20), 0, agent.logs()[-3000:])
        report("collector shutdown", seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    unittest.main()
