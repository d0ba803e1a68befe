"""End-to-end: the agent as a production service — clean shutdown with every probe detached,
fast and clear failures for bad configuration, a taken port and missing privileges. Root."""
import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LOUPE, Agent, free_port, http_get, require  # noqa: E402


def loupe_programs_loaded():
    """IDs of loaded Loupe capture programs (another agent may be running beside ours: tests
    compare the IDs before and after starting their own)."""
    import json
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True,
                         text=True).stdout
    # The kernel keeps 15 characters of a program name: loupe_sys_exit_*, loupe_process_exit_*.
    return [p["id"] for p in json.loads(out or "[]")
            if p.get("name", "").startswith(("loupe_sys_exit", "loupe_process_e"))]


def still_loaded(ids):
    return [i for i in loupe_programs_loaded() if i in ids]


def run_agent(args, timeout=20, user=None):
    cmd = [LOUPE, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class AgentLifecycleE2E(unittest.TestCase):
    def setUp(self):
        require(LOUPE and os.path.exists(LOUPE), "LOUPE_BIN is not set to the built agent")

    def test_sigterm_detaches_every_probe_and_exits_zero(self):
        before = loupe_programs_loaded()
        agent = Agent()
        ours = [i for i in loupe_programs_loaded() if i not in before]
        self.assertEqual(len(ours), 2, "sys_exit and sched_process_exit programs while running")
        status, body = http_get(agent.port, "/health/live")
        self.assertEqual(status, 200, body)
        code = agent.stop()
        self.assertEqual(code, 0, agent.logs())
        self.assertIn("probes detached", agent.logs())
        self.assertIn("loupe stopped cleanly", agent.logs())
        self.assertEqual(still_loaded(ours), [])

    def test_sigint_also_stops_cleanly(self):
        before = loupe_programs_loaded()
        agent = Agent()
        ours = [i for i in loupe_programs_loaded() if i not in before]
        agent.proc.send_signal(signal.SIGINT)
        self.assertEqual(agent.proc.wait(timeout=10), 0, agent.logs())
        agent.stop()
        self.assertEqual(still_loaded(ours), [])

    def test_port_taken_fails_fast_with_one_clear_line(self):
        before = loupe_programs_loaded()
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            result = run_agent([f"--listen_address=127.0.0.1:{port}"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)
        leaked = [i for i in loupe_programs_loaded() if i not in before]
        self.assertEqual(leaked, [], "nothing may stay attached after a failure")

    def test_not_root_fails_fast(self):
        result = run_agent([f"--listen_address=127.0.0.1:{free_port()}"], user=65534)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("missing CAP_BPF and CAP_PERFMON", result.stderr)
        self.assertIn("run it as root", result.stderr)

    def test_stray_words_are_refused_not_ignored(self):
        for words in (["doctr"], ["run"], [f"--listen_address=127.0.0.1:{free_port()}", "extra"]):
            result = subprocess.run([LOUPE, *words], capture_output=True, text=True, timeout=10)
            self.assertEqual(result.returncode, 2, (words, result.stderr))
            lines = result.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, result.stderr)
            self.assertIn("unknown subcommand or argument", lines[0])
        result = subprocess.run([LOUPE, "doctor", "--verbose"], capture_output=True, text=True,
                                timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)

    def test_doctor_reports_every_feature_and_runs(self):
        result = subprocess.run([LOUPE, "doctor"], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        for feature in ("tp_btf", "raw_tracepoint", "process_exit_probe", "map_elem_iterator",
                        "triggered_map_walk", "uprobes", "fentry", "sock_ops", "sk_msg"):
            self.assertRegex(result.stdout, rf"\n  {feature}: (available|refused at \w+: .+ \(E\w+\))")
        self.assertIn("verdict: Loupe runs here", result.stdout)
        print("\nLOUPE DOCTOR:\n" + result.stdout, file=sys.stderr)

    def test_bad_flag_value_fails_fast(self):
        result = run_agent(["--ringbuf_mib=3", f"--listen_address=127.0.0.1:{free_port()}"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("ringbuf_mib must be a power of two", result.stderr)

    def test_unknown_config_key_fails_fast(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"loupe-bad-{os.getpid()}.yaml")
        with open(path, "w") as f:
            f.write("listen_adress: 127.0.0.1:1\n")  # typo on purpose
        self.addCleanup(os.remove, path)
        result = run_agent([f"--config={path}"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("unknown config key 'listen_adress'", result.stderr)

    def test_help_documents_every_setting(self):
        result = subprocess.run([LOUPE, "--help"], capture_output=True, text=True)
        text = result.stdout + result.stderr
        for flag in ("--config", "--listen_address", "--log_level", "--max_connections",
                     "--ringbuf_mib", "--series_budget_per_service", "--pending_timeout_ms",
                     "--poll_interval_ms", "--exclude_processes", "--print_spans",
                     "--otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            self.assertIn(flag, text)

    def test_connections_open_before_start_are_learned_from_a_clean_boundary(self):
        import http.client
        from harness import PythonServer, metric_sum, wait_until
        server = PythonServer("status_server.py", "preexisting")
        self.addCleanup(server.stop)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        self.addCleanup(conn.close)

        def get(path):
            conn.request("GET", path)
            conn.getresponse().read()
        get("/before-agent")  # the keep-alive connection exists before the agent starts
        agent = Agent()
        self.addCleanup(agent.stop)
        samples = agent.metrics()
        self.assertGreaterEqual(metric_sum(samples, "loupe_preexisting_connections_total"), 2)
        # The first exchange after start is skipped (it could have been mid-message): the kernel
        # waits for a response-to-request boundary. Everything after it is counted.
        for path in ("/skipped", "/counted-1", "/counted-2"):
            get(path)
        conn.close()

        def routes():
            s = agent.metrics()
            return {r: metric_sum(s, "http_server_request_duration_seconds_count",
                                  service_name="preexisting", http_route=r)
                    for r in ("/skipped", "/counted-1", "/counted-2")}
        wait_until(lambda: routes()["/counted-2"] == 1, timeout=10, what="learned connection")
        self.assertEqual(routes(), {"/skipped": 0, "/counted-1": 1, "/counted-2": 1})

    def test_raw_tracepoint_fallback_captures_and_sees_process_exits(self):
        """Kernels without BTF tracepoints: both programs run as raw tracepoints, requests are
        counted, and connections of processes that exit without close(2) are closed."""
        import textwrap
        from harness import PythonServer, metric_sum, wait_until
        server = PythonServer("status_server.py", "raw-tp")
        self.addCleanup(server.stop)
        agent = Agent(extra_args=["--force_raw_tracepoint"])
        self.addCleanup(agent.stop)
        self.assertEqual(metric_sum(agent.metrics(), "loupe_probes_attached",
                                    hook="raw_tracepoint"), 2)
        client = textwrap.dedent(f"""
            import os, socket
            s = socket.create_connection(("127.0.0.1", {server.port}))
            s.sendall(b"GET /raw HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
            got = b""
            while b"\\r\\n\\r\\n" not in got:
                got += s.recv(65536)
            os._exit(0)
        """)
        subprocess.run([sys.executable, "-c", client], check=True, timeout=30)

        def seen():
            samples = agent.metrics()
            return (metric_sum(samples, "http_server_request_duration_seconds_count",
                               service_name="raw-tp", http_route="/raw"),
                    metric_sum(samples, "loupe_kernel_connections_total",
                               event="closed_at_process_exit") >= 1)
        wait_until(lambda: seen() == (1, True), timeout=10, what="request and exit-close")

    def test_logs_are_json_lines(self):
        import json
        agent = Agent()
        agent.stop()
        lines = [line for line in agent.logs().splitlines() if line.strip()]
        self.assertGreater(len(lines), 3)
        for line in lines:
            record = json.loads(line)
            self.assertIn(record["level"], ("debug", "info", "warn", "error"))
            self.assertIn("msg", record)
            self.assertIn("ts", record)


if __name__ == "__main__":
    unittest.main(verbosity=2)
