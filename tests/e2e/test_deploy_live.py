"""End-to-end: every metric and label that the shipped alert rules, SLO rules and Grafana
dashboards reference is exposed by a live agent after real HTTP (server and client) and
database traffic. Root; label `root`."""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, OtlpReceiver, PythonServer, free_port, http_get,  # noqa: E402
                     metric_sum, require, wait_until)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def redis_roundtrip(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        s.recv(64)
        s.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        s.recv(64)


class DeployLiveE2E(unittest.TestCase):
    def test_rules_and_dashboards_only_use_exposed_metrics(self):
        require(shutil.which("redis-server") is not None, "redis-server is not installed")
        # The full configuration: with an OTLP endpoint the exporters' own metrics exist too.
        receiver = OtlpReceiver()
        self.addCleanup(receiver.stop)
        agent = Agent(env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
        self.addCleanup(agent.stop)
        server = PythonServer("status_server.py", "deploy-live")
        self.addCleanup(server.stop)
        redis_port = free_port()
        redis_dir = tempfile.mkdtemp(prefix="loupe-redis-")
        self.addCleanup(shutil.rmtree, redis_dir, True)
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", redis_dir],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(redis.kill)
        wait_until(lambda: _listening(redis_port), what="redis")

        for path in ("/ok", "/err", "/missing/1"):
            http_get(server.port, path)
        redis_roundtrip(redis_port)

        def all_families_present():
            samples = agent.metrics()
            return all(metric_sum(samples, name) > 0 for name in (
                "http_server_request_duration_seconds_count",
                "http_client_request_duration_seconds_count",
                "db_client_operation_duration_seconds_count"))
        wait_until(all_families_present, timeout=15, what="HTTP and DB series on the agent")

        files = sorted(glob.glob(os.path.join(ROOT, "deploy", "prometheus", "*.yaml")) +
                       glob.glob(os.path.join(ROOT, "deploy", "grafana", "*.json")))
        self.assertTrue(files)
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tests", "deploy", "check_metric_names.py"),
             "--url", f"http://127.0.0.1:{agent.port}/metrics", *files],
            capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
