"""End-to-end: the agent stops cleanly (exit code 0) on SIGTERM and SIGINT while TLS connections
are open and busy.

Regression test for issue 20: shutdown destroyed the TLS attacher while the connection tracker
could still call it as its TLS observer during the final ring drain (heap-use-after-free, exit
139). Clients here keep several HTTPS keep-alive sessions to an OpenSSL server (nginx) sending
requests, and open new TLS connections, right up to the signal, so the final drain has TLS
connections to classify. scripts/test.sh runs this test again against an AddressSanitizer build
of the agent (LOUPE_BIN pointing at build-asan), which reports the bug every time.
Needs root (loads BPF); ctest label `root`."""
import http.client
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tls"))
from harness import Agent, metric_sum, require, wait_until  # noqa: E402
from tls_servers import HttpsNginx  # noqa: E402

SESSIONS = 6             # concurrent keep-alive TLS sessions
RECONNECT_EVERY = 5      # a session opens a new TLS connection after this many requests
ROUNDS = int(os.environ.get("LOUPE_SHUTDOWN_TLS_ROUNDS", "2"))  # per signal
SERVER = "http_server_request_duration_seconds_count"


class TlsTraffic:
    """HTTPS sessions (Python's ssl over the system libssl, so the agent sees plaintext) that
    send requests until stopped; each keeps its connection open between requests."""

    def __init__(self, port, cert):
        self.port = port
        self.context = ssl.create_default_context(cafile=cert)
        self.stopping = threading.Event()
        self.requests = 0
        self.open_connections = []  # closed by stop(), after the agent is gone
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._session, daemon=True)
                        for _ in range(SESSIONS)]
        for thread in self.threads:
            thread.start()

    def _session(self):
        conn, sent = None, 0
        while not self.stopping.is_set():
            try:
                if conn is None or sent % RECONNECT_EVERY == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                       context=self.context, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                sent += 1
                with self.lock:
                    self.requests += 1
            except (OSError, http.client.HTTPException):
                conn = None
            time.sleep(0.005)
        with self.lock:
            self.open_connections.append(conn)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        with self.lock:
            for conn in self.open_connections:
                if conn is not None:
                    conn.close()
            self.open_connections.clear()


class ShutdownWithOpenTlsE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("nginx") is not None, "nginx is not installed")
        cls.nginx = HttpsNginx()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()

    def stop_with_open_tls(self, sig):
        agent = Agent()  # under ASan (scripts/test.sh), leak detection stays on too
        self.addCleanup(agent.stop)
        traffic = TlsTraffic(self.nginx.port, self.nginx.cert)
        self.addCleanup(traffic.stop)
        # The agent reads the TLS traffic in plaintext before it is stopped.
        wait_until(lambda: metric_sum(agent.metrics(), SERVER, server_port=str(self.nginx.port))
                   >= 20, timeout=30, what="HTTPS requests counted by the agent")
        with traffic.lock:
            before = traffic.requests
        wait_until(lambda: traffic.requests > before + 10, what="traffic still flowing")
        agent.proc.send_signal(sig)
        try:
            code = agent.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = "timeout"
        traffic.stop()
        logs = agent.logs()
        self.assertEqual(code, 0, f"{signal.Signals(sig).name}: exit code {code}\n{logs[-20000:]}")
        self.assertIn("loupe stopped cleanly", logs)
        self.assertNotIn("AddressSanitizer", logs)

    def test_sigterm_with_open_tls_connections_exits_zero(self):
        for _ in range(ROUNDS):
            self.stop_with_open_tls(signal.SIGTERM)

    def test_sigint_with_open_tls_connections_exits_zero(self):
        for _ in range(ROUNDS):
            self.stop_with_open_tls(signal.SIGINT)


if __name__ == "__main__":
    unittest.main(verbosity=2)
