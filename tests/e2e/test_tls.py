"""End-to-end: HTTPS through OpenSSL is seen in plaintext through libssl uprobes.

nginx serves HTTPS with a certificate made for this run; curl and a Python `ssl` client (both on
the system libssl, both started after the agent) drive it. The agent must report exact counts
per status and route on both sides, url.scheme=https on every span, survive a server restart,
and never count the TLS port's traffic as unclassified or as a parse failure. A Go crypto/tls
server (TLS invisible to libssl uprobes) must be reported as "TLS not visible". Under wrk, the
client-side count must equal wrk's own count, and the server side nginx's access log; the
throughput cost is measured with and without the agent, alternately.
Needs root (loads BPF); ctest label `root`."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tls"))
from harness import STRICT, Agent, metric_sum, require, wait_until  # noqa: E402
from tls_servers import GoHttpsServer, HttpsNginx  # noqa: E402

NEW_CONN = 4     # requests per status per client, each on a new connection
KEEP_ALIVE = 5   # requests per status on one keep-alive connection (Python client)
PATHS = [("/", "200", "/"), ("/missing/42", "404", "/missing/{id}"),
         ("/status500", "500", "/status500")]
SERVER = "http_server_request_duration_seconds_count"
CLIENT = "http_client_request_duration_seconds_count"
PY_CLIENT = "e2e-tls-py"
WRK_SECONDS = int(os.environ.get("LOUPE_TLS_WRK_SECONDS", "10"))
OVERHEAD_SECONDS = int(os.environ.get("LOUPE_TLS_OVERHEAD_SECONDS", "5"))
OVERHEAD_REPS = 3


def curl(port, cert, path):
    # HTTP/1.1: over TLS, ALPN would pick HTTP/2 with servers that offer it (Go), which the agent
    # has no parser for yet.
    out = subprocess.run(["curl", "-s", "--http1.1", "--cacert", cert, "-o", "/dev/null", "-w",
                          "%{http_code}",
                          f"https://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout


def python_client(port, cert, mode, paths):
    out = subprocess.run(["python3", os.path.join(HERE, "tls", "https_client.py"), str(port), cert,
                          mode, *paths], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "OTEL_SERVICE_NAME": PY_CLIENT}, check=True)
    return out.stdout.split()


def counts(agent, metric, keys, port):
    """keys: {(service, status, route-or-None): _}; route None matches any (client side)."""
    samples = agent.metrics()
    result = {}
    for service, status, route in keys:
        match = dict(service_name=service, http_response_status_code=status,
                     server_port=str(port))
        if route is not None:
            match["http_route"] = route
        result[(service, status, route)] = metric_sum(samples, metric, **match)
    return result


def wait_exact(agent, metric, expected, port, timeout=15):
    try:
        wait_until(lambda: counts(agent, metric, expected, port) == expected, timeout=timeout,
                   what=f"exact {metric}")
    except AssertionError:
        raise AssertionError(f"{metric}: expected {expected}, got "
                             f"{counts(agent, metric, expected, port)}\n"
                             + "\n".join(line for line in agent.metrics_text().splitlines()
                                         if "_count" in line or line.startswith("loupe_")))
    time.sleep(2.5)  # longer than the pending timeout: a late duplicate would show now
    got = counts(agent, metric, expected, port)
    assert got == expected, f"{metric} changed after settling: {got}"


def spans_on_port(agent, port):
    spans = []
    for line in agent.logs().splitlines():
        if not line.startswith('{"trace_id"'):
            continue
        span = json.loads(line)
        if span["attributes"].get("server.port") == port:
            spans.append(span)
    return spans


def noise(agent):
    samples = agent.metrics()
    return (metric_sum(samples, "loupe_exchanges_unclassified_total"),
            metric_sum(samples, "loupe_parse_failures_total"))


def assert_no_new_noise(test, agent, before):
    """Unclassified exchanges and parse failures have no port label: the agent sees the whole
    host, so traffic of other tests running at the same time can move them. Under
    LOUPE_E2E_STRICT=1 (CI runs e2e tests serially) any change fails; otherwise it is reported.
    The per-port exact counts and span counts are the always-on evidence."""
    after = noise(agent)
    if after == before:
        return
    if STRICT:
        test.fail(f"TLS traffic counted as unclassified/parse failure: {before} -> {after}")
    print(f"warning: unclassified/parse-failure counters moved {before} -> {after} "
          "(other traffic on this host?)", file=sys.stderr)


class TlsE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("curl") is not None, "curl is not installed")
        cls.agent = Agent(extra_args=["--print_spans"])

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        assert code == 0, f"agent exit code {code}\n{cls.agent.logs()}"

    def test_libssl_attached(self):
        samples = self.agent.metrics()
        self.assertGreaterEqual(metric_sum(samples, "loupe_tls_libraries_attached"), 1)
        self.assertIn("libssl uprobes attached", self.agent.logs())

    def test_nginx_https_curl_and_python_exact_counts(self):
        before_noise = noise(self.agent)
        before = self.agent.metrics()
        nginx = HttpsNginx()  # started after the agent, like every client below
        self.addCleanup(nginx.stop)
        for path, status, _ in PATHS:
            for _ in range(NEW_CONN):
                self.assertEqual(curl(nginx.port, nginx.cert, path), status)
        paths = [p for p, _, _ in PATHS]
        got = python_client(nginx.port, nginx.cert, "new", paths * NEW_CONN)
        got += python_client(nginx.port, nginx.cert, "keepalive", paths * KEEP_ALIVE)
        self.assertEqual(len(got), 3 * (NEW_CONN + KEEP_ALIVE))

        per_status = 2 * NEW_CONN + KEEP_ALIVE
        wait_exact(self.agent, SERVER,
                   {("nginx", status, route): per_status for _, status, route in PATHS},
                   nginx.port)
        expected_client = {}
        for _, status, _ in PATHS:
            expected_client[("curl", status, None)] = NEW_CONN
            expected_client[(PY_CLIENT, status, None)] = NEW_CONN + KEEP_ALIVE
        wait_exact(self.agent, CLIENT, expected_client, nginx.port)
        self.assertEqual(nginx.served_requests(), 3 * per_status)

        spans = spans_on_port(self.agent, nginx.port)
        server_spans = [s for s in spans if s["kind"] == "SERVER"]
        client_spans = [s for s in spans if s["kind"] == "CLIENT"]
        self.assertEqual(len(server_spans), 3 * per_status)
        self.assertEqual(len(client_spans), 3 * (2 * NEW_CONN + KEEP_ALIVE))
        self.assertEqual({s["attributes"].get("url.scheme") for s in spans}, {"https"})

        after = self.agent.metrics()
        assert_no_new_noise(self, self.agent, before_noise)
        delta = lambda name, **m: metric_sum(after, name, **m) - metric_sum(before, name, **m)
        # Every connection is seen from both ends (curl: 12, Python: 12 + 1), all visible. Other
        # TLS traffic on the host can only add to the global counter.
        connections = NEW_CONN * 3 * 2 + 1
        self.assertGreaterEqual(delta("loupe_tls_connections_total", visibility="visible"),
                                2 * connections)
        self.assertGreater(delta("loupe_tls_bytes_skipped_total"), 0)

    def test_server_restarted_while_agent_runs(self):
        nginx = HttpsNginx()
        directory, port = nginx.dir, nginx.port
        self.addCleanup(shutil.rmtree, directory, True)
        python_client(nginx.port, nginx.cert, "keepalive", ["/"] * 3)
        nginx.stop(keep_dir=True)
        restarted = HttpsNginx(port=port, directory=directory)
        self.addCleanup(restarted.stop)
        python_client(port, restarted.cert, "keepalive", ["/", "/status500"] * 2)
        self.assertEqual(curl(port, restarted.cert, "/missing/1"), "404")
        wait_exact(self.agent, SERVER, {("nginx", "200", "/"): 5,
                                        ("nginx", "500", "/status500"): 2,
                                        ("nginx", "404", "/missing/{id}"): 1}, port)

    def test_go_crypto_tls_reported_not_visible(self):
        before_noise = noise(self.agent)
        before = self.agent.metrics()
        nginx_dir = HttpsNginx()  # only for its certificate
        self.addCleanup(nginx_dir.stop)
        go = GoHttpsServer(nginx_dir.cert, os.path.join(nginx_dir.dir, "key.pem"))
        self.addCleanup(go.stop)
        for _ in range(3):
            self.assertEqual(curl(go.port, nginx_dir.cert, "/ok"), "200")
        # curl's side is visible even though the server's is not.
        wait_exact(self.agent, CLIENT, {("curl", "200", None): 3}, go.port)
        after = self.agent.metrics()
        self.assertEqual(counts(self.agent, SERVER, {("e2e-go-tls", "200", "/ok"): 0}, go.port),
                         {("e2e-go-tls", "200", "/ok"): 0})
        self.assertGreaterEqual(
            metric_sum(after, "loupe_tls_connections_total", visibility="opaque")
            - metric_sum(before, "loupe_tls_connections_total", visibility="opaque"), 3)
        self.assertGreaterEqual(metric_sum(after, "loupe_tls_processes_not_visible"), 1)
        lines = [json.loads(l) for l in self.agent.logs().splitlines()
                 if '"TLS not visible"' in l]
        mine = [l for l in lines if l.get("pid") == go.proc.pid]
        self.assertEqual(len(mine), 1, lines)
        self.assertEqual(mine[0]["reason"], "go_crypto_tls")
        assert_no_new_noise(self, self.agent, before_noise)


def run_wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", f"https://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=seconds + 30, check=True)
    m = re.search(r"(\d+) requests in", out.stdout)
    assert m, out.stdout
    return int(m.group(1))


class TlsUnderLoad(unittest.TestCase):
    """wrk over HTTPS: exact client-side count, server side against nginx's access log, and the
    throughput cost of the agent measured alternately with and without it."""

    def test_wrk_counts_and_overhead(self):
        require(shutil.which("wrk") is not None, "wrk is not installed")
        nginx = HttpsNginx()
        self.addCleanup(nginx.stop)
        report = {}

        agent = Agent()
        try:
            before = agent.metrics()
            noise_before = noise(agent)
            served_before = nginx.served_requests()
            wrk_count = run_wrk(nginx.port, WRK_SECONDS)
            expected = {("wrk", "200", None): wrk_count}
            try:
                wait_exact(agent, CLIENT, expected, nginx.port, timeout=30)
                client_count = wrk_count
            except AssertionError:
                client_count = counts(agent, CLIENT, expected, nginx.port)[("wrk", "200", None)]
            served = nginx.served_requests() - served_before
            wait_until(lambda: metric_sum(agent.metrics(), SERVER, service_name="nginx",
                                          server_port=str(nginx.port)) >= served,
                       timeout=15, what="server-side count")
            after = agent.metrics()
            server_count = metric_sum(after, SERVER, service_name="nginx",
                                      server_port=str(nginx.port))
            calls = (metric_sum(after, "loupe_tls_calls_total")
                     - metric_sum(before, "loupe_tls_calls_total"))
            report.update(wrk=wrk_count, agent_client=client_count, nginx_log=served,
                          agent_server=server_count, ssl_calls_per_request=calls / wrk_count,
                          noise_delta=[a - b for a, b in zip(noise(agent), noise_before)])
        finally:
            self.assertEqual(agent.stop(), 0)

        rates = {"without": [], "with": []}
        for _ in range(OVERHEAD_REPS):
            rates["without"].append(run_wrk(nginx.port, OVERHEAD_SECONDS) / OVERHEAD_SECONDS)
            agent = Agent()
            try:
                rates["with"].append(run_wrk(nginx.port, OVERHEAD_SECONDS) / OVERHEAD_SECONDS)
            finally:
                agent.stop()
        mean = {k: sum(v) / len(v) for k, v in rates.items()}
        report["rps"] = {k: [round(x) for x in v] for k, v in rates.items()}
        report["overhead_pct"] = round(100 * (1 - mean["with"] / mean["without"]), 1)
        print("TLS under wrk:", json.dumps(report), file=sys.stderr)

        self.assertEqual(report["agent_client"], report["wrk"])
        self.assertEqual(report["agent_server"], report["nginx_log"])
        if STRICT:
            self.assertEqual(report["noise_delta"], [0.0, 0.0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
