"""End-to-end: --metrics_only, where the kernel counts HTTP/1 exchanges whose key the agent has
learned (bpf/red_aggregate.bpf.h, userspace/kernel_red/). The counts, status codes, routes and
duration buckets must be exactly what the record path reports, while most exchanges never reach
the agent as records. Needs root (loads BPF); ctest label `root`."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Agent, Nginx, PythonServer, metric_sum, require, wait_until  # noqa: E402

DURATION = "http_server_request_duration_seconds"
PENDING_TIMEOUT_MS = 500


def keep_alive(port, paths, idle_after=0.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
    if idle_after:
        return conn  # left open: the caller closes it
    conn.close()
    return None


def new_connections(port, path, n):
    for _ in range(n):
        keep_alive(port, [path])


def timeout_pass(agent):
    """The timeout pass the agent chose, from its "metrics-only mode" log line."""
    for line in agent.logs().splitlines():
        if '"metrics-only mode' in line:
            return json.loads(line)["timeout_pass"]
    raise AssertionError("no metrics-only log line:\n" + agent.logs())


class MetricsOnlyE2E(unittest.TestCase):
    """With the timeout pass the feature probe chooses: the map-element iterator where the kernel
    allows it, else the triggered map walk."""
    EXTRA_ARGS = []

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(["--metrics_only", f"--pending_timeout_ms={PENDING_TIMEOUT_MS}",
                           *cls.EXTRA_ARGS])

    def test_timeout_pass_follows_the_feature_probe(self):
        samples = self.agent.metrics()
        iterator = metric_sum(samples, "loupe_kernel_feature_available",
                              feature="map_elem_iterator")
        expected = "map_elem_iterator" if iterator == 1 else "triggered_map_walk"
        print(f"\nMETRICS-ONLY TIMEOUT PASS: {timeout_pass(self.agent)}", file=sys.stderr)
        self.assertEqual(timeout_pass(self.agent), expected)

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        assert code == 0, f"agent exit code {code}\n{cls.agent.logs()}"

    def counts(self, service, expected, port=None):
        # The port keeps other nginx instances on the host (other tests) out of the count.
        where = {"server_port": str(port)} if port else {}
        samples = self.agent.metrics()
        return {key: metric_sum(samples, DURATION + "_count", service_name=service,
                                http_response_status_code=key[0], http_route=key[1], **where)
                for key in expected}

    def assert_exact(self, service, expected, timeout=15, port=None):
        try:
            wait_until(lambda: self.counts(service, expected, port) == expected, timeout=timeout,
                       what="exact counts")
        except AssertionError:
            raise AssertionError(f"expected {expected}, got {self.counts(service, expected, port)}\n"
                                 + "\n".join(l for l in self.agent.metrics_text().splitlines()
                                             if "_count" in l or "loupe_" in l))
        time.sleep(PENDING_TIMEOUT_MS / 1000 * 3)  # late duplicates would show now
        self.assertEqual(self.counts(service, expected, port), expected,
                         "counts moved after settling")

    def kernel_counted(self):
        return metric_sum(self.agent.metrics(), "loupe_kernel_red_exchanges_total")

    def assert_nothing_lost(self):
        samples = self.agent.metrics()
        self.assertEqual(metric_sum(samples, "loupe_events_dropped_total"), 0)
        self.assertEqual(metric_sum(samples, "loupe_kernel_red_read_errors_total"), 0)

    def test_nginx_counts_are_exact_and_mostly_kernel_counted(self):
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        paths = ["/", "/missing/42", "/status500"]
        # Teach the three keys first (each end of each: six keys): their first exchanges go out
        # as records, and the agent learns a key at the next ring drain.
        keys_before = metric_sum(self.agent.metrics(), "loupe_kernel_red_keys")
        keep_alive(nginx.port, paths)
        wait_until(lambda: metric_sum(self.agent.metrics(), "loupe_kernel_red_keys")
                   >= keys_before + 6, what="the agent to learn the six keys")
        before = self.kernel_counted()
        keep_alive(nginx.port, paths * 150)
        new_connections(nginx.port, "/", 20)  # a key already learned: counted in the kernel too
        self.assert_exact("nginx", {("200", "/"): 171, ("404", "/missing/{id}"): 151,
                                    ("500", "/status500"): 151}, port=nginx.port)
        self.assertEqual(nginx.served_requests(), 473)
        # Both ends are captured (nginx and this Python client): 940 exchanges after learning,
        # all of them under learned keys.
        self.assertGreaterEqual(self.kernel_counted() - before, 940,
                                "learned keys must be counted in the kernel")
        samples = self.agent.metrics()
        error_count = metric_sum(samples, DURATION + "_count", service_name="nginx",
                                 error_type="500")
        self.assertEqual(error_count, 151, "error_type comes with the learned labels")
        self.assert_nothing_lost()

    def test_kernel_buckets_match_the_handler_latency(self):
        server = PythonServer("status_server.py", "e2e-python-mo")
        self.addCleanup(server.stop)
        keep_alive(server.port, ["/ok"] * 40 + ["/slow"] * 8)
        self.assert_exact("e2e-python-mo", {("200", "/ok"): 40, ("200", "/slow"): 8})
        samples = self.agent.metrics()

        def bucket(route, le):
            return metric_sum(samples, DURATION + "_bucket", service_name="e2e-python-mo",
                              http_route=route, le=le)
        # The handler sleeps 50 ms: no observation is faster, all are well under 250 ms.
        self.assertEqual(bucket("/slow", "0.05"), 0)
        self.assertEqual(bucket("/slow", "0.25"), 8)
        self.assertEqual(bucket("/ok", "0.05"), 40)
        slow_sum = metric_sum(samples, DURATION + "_sum", service_name="e2e-python-mo",
                              http_route="/slow")
        self.assertGreaterEqual(slow_sum / 8, 0.050)
        self.assertLess(slow_sum / 8, 0.150)

    def test_quiet_keep_alive_connection_is_counted_by_the_timeout(self):
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        keep_alive(nginx.port, ["/quiet"] * 5)  # teaches the key (404 on a fresh server)
        time.sleep(0.3)
        conn = keep_alive(nginx.port, ["/quiet"] * 30, idle_after=True)
        self.addCleanup(conn.close)
        # The connection stays open: its last exchange ends only by the timeout pass.
        self.assert_exact("nginx", {("404", "/quiet"): 35}, port=nginx.port)

    def test_wrk_load_matches_nginx_access_log(self):
        require(shutil.which("wrk") is not None, "wrk is not installed")
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        before = self.kernel_counted()
        subprocess.run(["wrk", "-t1", "-c20", "-d4s", f"http://127.0.0.1:{nginx.port}/"],
                       capture_output=True, text=True, check=True)
        port = str(nginx.port)

        def server_count():
            return metric_sum(self.agent.metrics(), DURATION + "_count", service_name="nginx",
                              server_port=port)
        wait_until(lambda: server_count() == nginx.served_requests(), timeout=15,
                   what="the agent's count to reach nginx's access log")
        time.sleep(PENDING_TIMEOUT_MS / 1000 * 3)
        self.assertEqual(server_count(), nginx.served_requests())
        served = nginx.served_requests()
        print(f"\nMETRICS-ONLY WRK: nginx served {served}, kernel counted "
              f"{self.kernel_counted() - before:.0f} exchanges (both ends)", file=sys.stderr)
        self.assertGreater(self.kernel_counted() - before, served,
                           "both ends of most requests should be counted in the kernel")
        self.assert_nothing_lost()


class MetricsOnlyForcedWalkE2E(MetricsOnlyE2E):
    """The same exact counts with the fallback forced, so both paths are proven on any kernel."""
    EXTRA_ARGS = ["--disable_features=map_elem_iterator"]

    def test_timeout_pass_follows_the_feature_probe(self):
        self.assertEqual(timeout_pass(self.agent), "triggered_map_walk")
        samples = self.agent.metrics()
        self.assertEqual(metric_sum(samples, "loupe_kernel_feature_available",
                                    feature="map_elem_iterator", reason="disabled"), 0)
        self.assertIn('reason="disabled"', self.agent.metrics_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
