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
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "loupe_sys_exit" in line]


def run_agent(args, timeout=20, user=None):
    cmd = [LOUPE, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class AgentLifecycleE2E(unittest.TestCase):
    def setUp(self):
        require(LOUPE and os.path.exists(LOUPE), "LOUPE_BIN is not set to the built agent")

    def test_sigterm_detaches_every_probe_and_exits_zero(self):
        agent = Agent()
        self.assertTrue(loupe_programs_loaded(), "probes should be attached while running")
        status, body = http_get(agent.port, "/health/live")
        self.assertEqual(status, 200, body)
        code = agent.stop()
        self.assertEqual(code, 0, agent.logs())
        self.assertIn("probes detached", agent.logs())
        self.assertIn("loupe stopped cleanly", agent.logs())
        self.assertEqual(loupe_programs_loaded(), [])

    def test_sigint_also_stops_cleanly(self):
        agent = Agent()
        agent.proc.send_signal(signal.SIGINT)
        self.assertEqual(agent.proc.wait(timeout=10), 0, agent.logs())
        agent.stop()
        self.assertEqual(loupe_programs_loaded(), [])

    def test_port_taken_fails_fast_with_one_clear_line(self):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            result = run_agent([f"--listen_address=127.0.0.1:{port}"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)
        self.assertEqual(loupe_programs_loaded(), [], "nothing may stay attached after a failure")

    def test_not_root_fails_fast(self):
        result = run_agent([f"--listen_address=127.0.0.1:{free_port()}"], user=65534)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("must run as root", result.stderr)

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
