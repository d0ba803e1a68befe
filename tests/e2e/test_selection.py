"""End-to-end: process selection (issue 15, docs/configuration.md "Process selection").

Real Python servers on loopback, one of them run from a copy of the interpreter under another
executable name so that an `executables` rule can tell it apart. The agent's own counters prove
that an excluded process is not counted and costs no record:
  - started before the agent, it is excluded by the scan at start: every connection it accepts
    is counted in loupe_kernel_connections_total{event="process_excluded"}, and no record of it
    reaches userspace (loupe_selection_records_dropped_total stays 0);
  - started after the agent, only its first connection's records reach userspace (dropped and
    counted); every later connection is skipped in the kernel;
  - an excluded server port is skipped in the kernel on both ends, from the first connection;
    with include_ports, every port but the listed ones is.
Meanwhile an included server's requests are counted exactly. Root; label `root;e2e`."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, PythonServer, free_port, http_get, metric_sum,  # noqa: E402
                     wait_until)

DURATION = "http_server_request_duration_seconds"
EXCLUDED_EXE = "loupe-e2e-excluded"
REQUESTS = 20  # each on its own connection (http_get closes it)


class RenamedPythonServer(PythonServer):
    """status_server.py run by a copy of the interpreter named EXCLUDED_EXE."""

    def __init__(self, directory, service_name):
        self.port = free_port()
        exe = os.path.join(directory, EXCLUDED_EXE)
        if not os.path.exists(exe):
            shutil.copy(os.path.realpath(shutil.which("python3")), exe)
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen(
            [exe, os.path.join(here, "servers", "status_server.py"), str(self.port)],
            env={**os.environ, "OTEL_SERVICE_NAME": service_name},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, what=f"{EXCLUDED_EXE} to listen")


def requests(server, n, path="/ok"):
    for i in range(n):
        status, _ = http_get(server.port, f"{path}/{i}")
        assert status == 200, status


def served(samples, service):
    return metric_sum(samples, DURATION + "_count", service_name=service)


def kernel_skipped(samples, event):
    return metric_sum(samples, "loupe_kernel_connections_total", event=event)


class SelectionE2E(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="loupe-selection-")
        self.addCleanup(self.dir.cleanup)

    def config(self, text):
        path = os.path.join(self.dir.name, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, server):
        self.addCleanup(server.stop)
        return server

    def start_agent(self, config_text):
        agent = Agent(extra_args=[f"--config={self.config(config_text)}"])
        self.addCleanup(agent.stop)
        return agent

    def wait_counted(self, agent, service, n):
        """Waits until `service` has `n` requests counted (exactly: more fails the test)."""
        samples = wait_until(
            lambda: (lambda s: s if served(s, service) >= n else None)(agent.metrics()),
            timeout=15, interval=0.2, what=f"{n} requests of {service}")
        self.assertEqual(served(samples, service), n)
        return samples

    def test_a_process_running_before_the_agent_costs_no_record(self):
        excluded = self.start(RenamedPythonServer(self.dir.name, "sel-excluded"))
        included = self.start(PythonServer("status_server.py", "sel-included"))
        agent = self.start_agent(f"selection:\n  exclude:\n    - executables: [{EXCLUDED_EXE}]\n")
        self.assertIn("running processes checked against the selection", agent.logs())
        requests(excluded, REQUESTS)
        requests(included, REQUESTS)
        samples = self.wait_counted(agent, "sel-included", REQUESTS)
        samples = wait_until(
            lambda: (lambda s: s if kernel_skipped(s, "process_excluded") >= REQUESTS
                     else None)(agent.metrics()),
            timeout=10, interval=0.2, what="the excluded connections counted")
        self.assertEqual(kernel_skipped(samples, "process_excluded"), REQUESTS,
                         "each connection the excluded server accepted, skipped in the kernel")
        self.assertEqual(served(samples, "sel-excluded"), 0)
        self.assertEqual(metric_sum(samples, "loupe_selection_records_dropped_total"), 0,
                         "no record of the excluded process reached userspace")
        self.assertEqual(metric_sum(samples, "loupe_selection_excluded_processes"), 1)

    def test_a_process_started_later_costs_one_connection_then_nothing(self):
        agent = self.start_agent(f"selection:\n  exclude:\n    - executables: [{EXCLUDED_EXE}]\n")
        excluded = self.start(RenamedPythonServer(self.dir.name, "sel-late"))
        included = self.start(PythonServer("status_server.py", "sel-included"))
        requests(excluded, 1)
        # Its first connection's record reaches userspace, which drops it and tells the kernel.
        wait_until(lambda: metric_sum(agent.metrics(), "loupe_selection_records_dropped_total")
                   >= 1, timeout=10, interval=0.2, what="the first record dropped")
        requests(excluded, REQUESTS - 1)
        requests(included, REQUESTS)
        samples = self.wait_counted(agent, "sel-included", REQUESTS)
        samples = wait_until(
            lambda: (lambda s: s if kernel_skipped(s, "process_excluded") >= REQUESTS - 1
                     else None)(agent.metrics()),
            timeout=10, interval=0.2, what="the later excluded connections counted")
        self.assertEqual(kernel_skipped(samples, "process_excluded"), REQUESTS - 1)
        self.assertEqual(metric_sum(samples, "loupe_selection_records_dropped_total"), 1)
        self.assertEqual(served(samples, "sel-late"), 0)

    def test_an_excluded_port_is_skipped_in_the_kernel_on_both_ends(self):
        excluded = self.start(PythonServer("status_server.py", "sel-port"))
        included = self.start(PythonServer("status_server.py", "sel-included"))
        agent = self.start_agent(f"selection:\n  exclude_ports: [{excluded.port}]\n")
        requests(excluded, REQUESTS)
        requests(included, REQUESTS)
        samples = self.wait_counted(agent, "sel-included", REQUESTS)
        samples = wait_until(
            lambda: (lambda s: s if kernel_skipped(s, "port_excluded") >= 2 * REQUESTS
                     else None)(agent.metrics()),
            timeout=10, interval=0.2, what="the excluded port's connections counted")
        self.assertEqual(kernel_skipped(samples, "port_excluded"), 2 * REQUESTS,
                         "the server's accept and this test's connect, per request")
        self.assertEqual(served(samples, "sel-port"), 0)
        self.assertEqual(metric_sum(samples, "loupe_selection_records_dropped_total"), 0)

    def test_include_ports_track_only_the_listed_server_ports(self):
        listed = self.start(PythonServer("status_server.py", "sel-listed"))
        other = self.start(PythonServer("status_server.py", "sel-unlisted"))
        agent = self.start_agent(f"selection:\n  include_ports: [{listed.port}]\n")
        requests(other, REQUESTS)
        requests(listed, REQUESTS)
        samples = self.wait_counted(agent, "sel-listed", REQUESTS)
        self.assertEqual(served(samples, "sel-unlisted"), 0)
        # Every other connection on the host is skipped too (the scrapes, other processes'
        # traffic): at least both ends of each request to the unlisted server.
        self.assertGreaterEqual(kernel_skipped(samples, "port_excluded"), 2 * REQUESTS)


if __name__ == "__main__":
    unittest.main()
