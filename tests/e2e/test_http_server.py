"""End-to-end: the real agent sees HTTP/1.x served by unmodified nginx, Python and Go servers
and exports exact RED metrics for them. Needs root (loads BPF); ctest label `root`."""
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, Nginx, PythonServer, free_port, metric_sum, require, wait_until)  # noqa: E402

NEW_CONN = 7      # requests per status, each on its own connection
KEEP_ALIVE = 5    # requests per status on one shared keep-alive connection
SLOW = 6          # requests to the 50 ms handler
DURATION = "http_server_request_duration_seconds"


def send_new_connections(port, path, n):
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()


def send_keep_alive(port, paths):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
    conn.close()


def wait_for_counts(agent, expected, timeout=15):
    """expected: {(service, status, route): count}. Waits until all match, then checks they stay
    exactly there (nothing counted twice late)."""
    def current():
        samples = agent.metrics()
        return {key: metric_sum(samples, DURATION + "_count", service_name=key[0],
                                http_response_status_code=key[1], http_route=key[2])
                for key in expected}
    try:
        wait_until(lambda: current() == expected, timeout=timeout, what="exact counts")
    except AssertionError:
        raise AssertionError(f"counts differ: expected {expected}, got {current()}\n"
                             + "\n".join(l for l in agent.metrics_text().splitlines() if "_count" in l or "loupe_" in l))
    time.sleep(2.5)  # longer than the pending timeout: late duplicates would show now
    assert current() == expected, f"counts changed after settling: {current()}"


class HttpServerE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        assert code == 0, f"agent exit code {code}\n{cls.agent.logs()}"

    def exercise(self, port, ok_path, missing_path, error_path):
        for path in (ok_path, missing_path, error_path):
            send_new_connections(port, path, NEW_CONN)
        send_keep_alive(port, [ok_path, missing_path, error_path] * KEEP_ALIVE)

    def test_nginx_exact_counts(self):
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        self.exercise(nginx.port, "/", "/missing/42", "/status500")
        total = NEW_CONN + KEEP_ALIVE
        wait_for_counts(self.agent, {
            ("nginx", "200", "/"): total,
            ("nginx", "404", "/missing/{id}"): total,
            ("nginx", "500", "/status500"): total,
        })
        self.assertEqual(nginx.served_requests(), 3 * total)

    def test_python_exact_counts_and_latency(self):
        server = PythonServer("status_server.py", "e2e-python")
        self.addCleanup(server.stop)
        self.exercise(server.port, "/ok", "/missing/7", "/err")
        send_keep_alive(server.port, ["/slow"] * (SLOW // 2))
        send_new_connections(server.port, "/slow", SLOW - SLOW // 2)
        total = NEW_CONN + KEEP_ALIVE
        wait_for_counts(self.agent, {
            ("e2e-python", "200", "/ok"): total,
            ("e2e-python", "404", "/missing/{id}"): total,
            ("e2e-python", "500", "/err"): total,
            ("e2e-python", "200", "/slow"): SLOW,
        })
        samples = self.agent.metrics()

        def bucket(route, le):
            return metric_sum(samples, DURATION + "_bucket", service_name="e2e-python",
                              http_route=route, le=le)
        # The handler sleeps 50 ms: no observation may be faster, all must be well under 250 ms.
        self.assertEqual(bucket("/slow", "0.05"), 0)
        self.assertEqual(bucket("/slow", "0.25"), SLOW)
        # The fast handler answers in well under 50 ms.
        self.assertEqual(bucket("/ok", "0.05"), total)
        slow_sum = metric_sum(samples, DURATION + "_sum", service_name="e2e-python",
                              http_route="/slow")
        self.assertGreaterEqual(slow_sum / SLOW, 0.050)
        self.assertLess(slow_sum / SLOW, 0.150)

    def test_go_exact_counts(self):
        go = shutil.which("go")
        require(go is not None, "go is not installed")
        build_dir = tempfile.mkdtemp(prefix="loupe-go-")
        self.addCleanup(shutil.rmtree, build_dir, True)
        binary = os.path.join(build_dir, "e2e-go")
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([go, "build", "-o", binary, "main.go"], check=True,
                       cwd=os.path.join(here, "servers", "goserver"),
                       env={**os.environ, "GOCACHE": os.path.join(build_dir, "cache"),
                            "GO111MODULE": "off", "HOME": build_dir})
        port = free_port()
        proc = subprocess.Popen([binary, str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(proc.kill)
        wait_until(lambda: _listening(port), what="go server")
        self.exercise(port, "/ok", "/missing/9", "/err")
        total = NEW_CONN + KEEP_ALIVE
        wait_for_counts(self.agent, {
            ("e2e-go", "200", "/ok"): total,
            ("e2e-go", "404", "/missing/{id}"): total,
            ("e2e-go", "500", "/err"): total,
        })

    def test_wrk_load_counted_exactly(self):
        """nginx under wrk for 10 s (keep-alive, 20 connections): the agent's count of wrk's
        whole responses equals wrk's own count, and its server-side count equals nginx's access
        log. wrk exits without close(2) with requests in flight: nginx served them, wrk does not
        count them. The agent reports each as a failed client call: error_type="no_response" when
        wrk read nothing of its response, "response_cut" when it read the head but not the body
        (nginx sends the head and the sendfile body separately)."""
        require(shutil.which("wrk") is not None, "wrk is not installed")
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        seconds = int(os.environ.get("LOUPE_WRK_SECONDS", "10"))
        out = subprocess.run(["wrk", "-t1", "-c20", f"-d{seconds}s",
                              f"http://127.0.0.1:{nginx.port}/"],
                             capture_output=True, text=True, check=True).stdout
        wrk_count = int(out.split(" requests in ")[0].split()[-1])
        port = str(nginx.port)

        def client_count(samples, error_type):
            return metric_sum(samples, "http_client_request_duration_seconds_count",
                              service_name="wrk", server_port=port, error_type=error_type)

        def counts():
            samples = self.agent.metrics()
            return (client_count(samples, ""),
                    metric_sum(samples, DURATION + "_count", service_name="nginx",
                               server_port=port))
        try:
            wait_until(lambda: counts() == (wrk_count, nginx.served_requests()), timeout=15,
                       what="wrk's and nginx's counts")
        finally:
            samples = self.agent.metrics()
            print(f"\nWRK RESULT: wrk {wrk_count}, agent client-side {counts()[0]:.0f} whole + "
                  f"{client_count(samples, 'response_cut'):.0f} cut + "
                  f"{client_count(samples, 'no_response'):.0f} unanswered at exit; "
                  f"nginx served {nginx.served_requests()}, agent server-side {counts()[1]:.0f}; "
                  f"ring-buffer drops {metric_sum(samples, 'loupe_events_dropped_total'):.0f}",
                  file=sys.stderr)
        time.sleep(2.5)
        self.assertEqual(counts(), (wrk_count, nginx.served_requests()))
        samples = self.agent.metrics()
        in_flight = client_count(samples, "response_cut") + client_count(samples, "no_response")
        self.assertLessEqual(in_flight, 20, "at most one request in flight per wrk connection")
        all_client = metric_sum(samples, "http_client_request_duration_seconds_count",
                                service_name="wrk", server_port=port)
        self.assertEqual(all_client, wrk_count + in_flight, "no other error_type on wrk's calls")

    def test_client_exiting_mid_response(self):
        """Processes that exit without close(2): the kernel closes their sockets, the agent's
        sched_process_exit probe reports the connections closed with their final totals. A
        client that never read its response is reported with error_type="no_response"; one that
        read part of the head, or the head and no body, with "response_cut"; one that read it all
        is a plain 200."""
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        with open(os.path.join(nginx.dir, "html", "big.bin"), "wb") as f:
            f.write(b"x" * (256 * 1024))
        port = str(nginx.port)
        client = textwrap.dedent(f"""
            import os, socket, sys, time
            s = socket.create_connection(("127.0.0.1", {nginx.port}))
            s.sendall(b"GET /big.bin HTTP/1.1\\r\\nHost: e2e\\r\\n\\r\\n")
            time.sleep(0.3)  # let the response fill the socket buffer: each recv is then full
            if sys.argv[1] == "none":
                pass  # never reads: the response waits unread in the socket buffer
            elif sys.argv[1] == "head":
                s.recv(100)  # part of the ~250-byte head
            elif sys.argv[1] == "body":
                s.recv(400)  # the head and the first bytes of the body
            else:
                got = 0
                while got < 256 * 1024:
                    got += len(s.recv(65536))
            os._exit(0)  # no close(2): the kernel closes the socket at exit
        """)
        before = self.agent.metrics()
        for mode in ("none", "head", "body", "all"):
            subprocess.run([sys.executable, "-c", client, mode], check=True, timeout=30)

        def calls(error_type):
            return metric_sum(self.agent.metrics(), "http_client_request_duration_seconds_count",
                              server_port=port, error_type=error_type)
        wait_until(lambda: (calls("no_response"), calls("response_cut"), calls("")) == (1, 2, 1),
                   timeout=10, what="one unanswered, two cut and one whole client call")

        def delta(name, **labels):
            return metric_sum(self.agent.metrics(), name, **labels) - \
                metric_sum(before, name, **labels)
        # The kernel's counters reach /metrics on the agent's next housekeeping tick.
        wait_until(lambda: delta("loupe_kernel_connections_total",
                                 event="closed_at_process_exit") >= 4, timeout=5,
                   what="four connections closed at process exit")
        self.assertGreaterEqual(delta("loupe_exchanges_finalized_total", reason="process_exit"), 4)
        self.assertEqual(metric_sum(self.agent.metrics(),
                                    "http_client_request_duration_seconds_count",
                                    server_port=port, http_response_status_code="200"), 3)

    def test_exposition_passes_promtool(self):
        promtool = shutil.which("promtool")
        require(promtool is not None, "promtool is not installed")
        result = subprocess.run([promtool, "check", "metrics"], input=self.agent.metrics_text(),
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_health_endpoints(self):
        from harness import http_get
        for path in ("/health/live", "/health/ready", "/health/startup"):
            status, body = http_get(self.agent.port, path)
            self.assertEqual(status, 200, (path, body))


def _listening(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
