"""End-to-end: /status and `loupe ps` against real servers (issue 15).

A Python server with a keep-alive connection open before the agent starts, and nginx excluded by
`--exclude_processes`. The agent's /status must list the Python server under its service name
with exactly the requests sent, its protocol, and "partly" instrumented because of the connection
open before start; nginx's worker as excluded by rule with nothing counted; `loupe ps` a line per
process; and the Python server's row must go once it exits.
Root; label `root`."""
import http.client
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOUPE, Agent, Nginx, PythonServer, http_get, require,  # noqa: E402
                     wait_until)

REQUESTS = 20


def status(agent):
    code, body = http_get(agent.port, "/status")
    assert code == 200, code
    return json.loads(body)


def row_of(agent, pid):
    rows = [p for p in status(agent)["processes"] if p["pid"] == pid]
    return rows[0] if rows else None


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


class StatusE2E(unittest.TestCase):
    def setUp(self):
        self.app = PythonServer("status_server.py", "statusapp")
        self.addCleanup(self.app.stop)
        self.nginx = Nginx()
        self.addCleanup(self.nginx.stop)
        # Open before the agent starts: learned from /proc as a pre-existing connection.
        self.early = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=5)
        self.early.request("GET", "/ok/early")
        self.early.getresponse().read()
        self.addCleanup(self.early.close)
        self.agent = Agent(extra_args=["--exclude_processes=nginx"])
        self.addCleanup(self.agent.stop)

    def test_status_and_ps_show_each_process_and_why(self):
        for i in range(REQUESTS):
            code, _ = http_get(self.app.port, f"/ok/{i}")
            self.assertEqual(code, 200)
        for _ in range(3):
            code, _ = http_get(self.nginx.port, "/")
            self.assertEqual(code, 200)

        app_pid = self.app.proc.pid

        def app_counted():
            row = row_of(self.agent, app_pid)
            return row if row and row["exchanges"] >= REQUESTS else None
        row = wait_until(app_counted, timeout=15, interval=0.3, what="the app's row in /status")
        self.assertEqual(row["service_name"], "statusapp")
        self.assertEqual(row["exchanges"], REQUESTS, row)
        self.assertEqual(row["protocols"], ["http1"])
        self.assertEqual(row["instrumented"], "partly", row)
        reasons = {g["reason"]: g for g in row["not_instrumented"]}
        self.assertEqual(set(reasons), {"preexisting_connections_skipped"}, row)
        self.assertEqual(reasons["preexisting_connections_skipped"]["count"], 1, row)
        self.assertNotIn("kubernetes", row, "not in a pod")

        # nginx's worker (a child of the master we started): excluded by rule, nothing counted.
        worker_pid = children_of(self.nginx.proc.pid)[0]

        def worker_excluded():
            row = row_of(self.agent, worker_pid)
            return row if row and row["instrumented"] == "no" else None
        worker = wait_until(worker_excluded, timeout=15, interval=0.3,
                            what="nginx's worker excluded in /status")
        self.assertEqual(worker["exchanges"], 0)
        reasons = [g["reason"] for g in worker["not_instrumented"]]
        self.assertIn("excluded_by_rule", reasons, worker)

        # loupe ps: a header and a line per process, the app's with its figures.
        ps = subprocess.run([LOUPE, "ps", f"--address=127.0.0.1:{self.agent.port}"],
                            capture_output=True, text=True, timeout=10)
        self.assertEqual(ps.returncode, 0, ps.stderr)
        lines = ps.stdout.splitlines()
        self.assertTrue(lines[0].startswith("PID "), lines[0])
        app_line = [line for line in lines if line.split()[0] == str(app_pid)]
        self.assertEqual(len(app_line), 1, ps.stdout)
        fields = app_line[0].split()
        self.assertEqual(fields[1:7], ["statusapp", "-", "-", "http1", str(REQUESTS), "partly"],
                         app_line[0])
        self.assertIn("preexisting_connections_skipped", app_line[0])
        self.assertTrue(any(line.split()[0] == str(worker["pid"]) and " no " in line
                            for line in lines[1:]), ps.stdout)

        json_out = subprocess.run([LOUPE, "ps", "--json", f"--address=127.0.0.1:{self.agent.port}"],
                                  capture_output=True, text=True, timeout=10)
        self.assertEqual(json_out.returncode, 0, json_out.stderr)
        self.assertIn("processes", json.loads(json_out.stdout))

        # Bounded and counted: the table's own metrics.
        samples = self.agent.metrics()
        self.assertTrue(any(n == "loupe_status_processes" and v >= 2 for n, _, v in samples))
        self.assertTrue(any(n == "loupe_status_processes_refused_total" and v == 0
                            for n, _, v in samples))

        # The row goes when the process exits.
        self.early.close()
        self.app.stop()
        wait_until(lambda: row_of(self.agent, app_pid) is None, timeout=10, interval=0.3,
                   what="the exited app's row to leave /status")

    def test_ps_without_an_agent_says_so(self):
        require(LOUPE and os.path.exists(LOUPE), "LOUPE_BIN is not set to the built agent")
        ps = subprocess.run([LOUPE, "ps", "--address=127.0.0.1:1"], capture_output=True,
                            text=True, timeout=10)
        self.assertEqual(ps.returncode, 1)
        self.assertIn("no agent answers on 127.0.0.1:1", ps.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
