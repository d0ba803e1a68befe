"""End-to-end: the agent does not observe its own traffic from the other end (issue 20, finding 8).

The agent exports OTLP to a receiver on this host, and curl scrapes the agent's /metrics like
Prometheus. With the default (observe_self off) the receiver's process gets no SERVER span and no
RED series for the exports, and curl no CLIENT span or series for the scrapes, while a normal
server's traffic still is counted and traced. With --observe_self both are seen again.
Root; label `root`."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, OtlpReceiver, PythonServer, http_get, metric_sum,  # noqa: E402
                     require, wait_until)

SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"
ROUNDS = 8  # each round: app traffic, a scrape, then more than one OTLP batch timeout


def run_traffic(agent, app):
    """App requests and curl scrapes, spread over several OTLP export batches, so that the
    receiver serves exports while the agent is watching it."""
    for i in range(ROUNDS):
        for _ in range(5):
            status, _ = http_get(app.port, f"/ok/{i}")
            assert status == 200, status
        scrape = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             f"http://127.0.0.1:{agent.port}/metrics"],
            capture_output=True, text=True, timeout=10)
        assert scrape.stdout == "200", (scrape.stdout, scrape.stderr)
        time.sleep(1.3)


def receiver_server_spans(receiver):
    pid = receiver.proc.pid
    return [s for s in receiver.spans()
            if s["kind"] == SERVER and s["_resource"].get("process.pid") == pid]


def scrape_client_spans(receiver, agent):
    return [s for s in receiver.spans()
            if s["kind"] == CLIENT and s["_resource"].get("process.executable.name") == "curl"
            and s["_attributes"].get("server.port") == agent.port]


def app_server_spans(receiver, app):
    return [s for s in receiver.spans()
            if s["kind"] == SERVER and s["_resource"].get("service.name") == "selfapp"]


class SelfTrafficE2E(unittest.TestCase):
    def setUp(self):
        require(subprocess.run(["which", "curl"], capture_output=True).returncode == 0,
                "curl is not installed")
        self.receiver = OtlpReceiver()
        self.addCleanup(self.receiver.stop)
        self.app = PythonServer("status_server.py", "selfapp")
        self.addCleanup(self.app.stop)

    def start_agent(self, *args):
        agent = Agent(extra_args=args, env={"OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver.endpoint})
        self.addCleanup(agent.stop)
        return agent

    def test_own_exports_and_scrapes_are_not_observed_by_default(self):
        agent = self.start_agent()
        run_traffic(agent, self.app)
        # The app's spans arrive: the export path and the capture work.
        wait_until(lambda: len(app_server_spans(self.receiver, self.app)) >= 5 * ROUNDS,
                   timeout=30, interval=0.5, what="the app's SERVER spans")
        time.sleep(2.5)  # the exports carrying spans of the last exports and scrapes, if any
        self.assertGreaterEqual(len(self.receiver.trace_requests), 3,
                                "the receiver served several exports while being watched")
        self.assertEqual(receiver_server_spans(self.receiver), [],
                         "the receiver got a SERVER span for the agent's own exports")
        self.assertEqual(scrape_client_spans(self.receiver, agent), [],
                         "curl got a CLIENT span for scraping the agent")

        samples = agent.metrics()
        self.assertGreaterEqual(
            metric_sum(samples, "http_server_request_duration_seconds_count",
                       service_name="selfapp"), 5 * ROUNDS, "normal traffic is counted")
        self.assertEqual(
            metric_sum(samples, "http_server_request_duration_seconds_count",
                       service_name="loupe_otlp_receiver"), 0)
        self.assertEqual(
            metric_sum(samples, "http_client_request_duration_seconds_count",
                       service_name="curl", server_port=str(agent.port)), 0)
        # Every export connection and every scrape was excluded in the kernel, and counted.
        self.assertGreaterEqual(
            metric_sum(samples, "loupe_kernel_connections_total", event="self_excluded"),
            ROUNDS + 1, agent.logs()[-2000:])

    def test_observe_self_sees_them_again(self):
        agent = self.start_agent("--observe_self")
        run_traffic(agent, self.app)
        wait_until(lambda: receiver_server_spans(self.receiver), timeout=30, interval=0.5,
                   what="a SERVER span of the receiver for an export")
        wait_until(lambda: scrape_client_spans(self.receiver, agent), timeout=30, interval=0.5,
                   what="a CLIENT span of curl for a scrape")
        routes = {s["_attributes"].get("http.route") for s in receiver_server_spans(self.receiver)}
        self.assertTrue(routes & {"/v1/traces", "/v1/metrics"}, routes)
        samples = agent.metrics()
        self.assertEqual(
            metric_sum(samples, "loupe_kernel_connections_total", event="self_excluded"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
