"""Chaos: SIGTERM while the agent is under plain keep-alive load (wrk against nginx). The agent
must exit 0 in bounded time with every probe detached, and the application must not notice.
Root; ctest label `chaos`."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import Agent, ChaosNginx, report, require  # noqa: E402


def loupe_programs():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True,
                         text=True).stdout
    return {p["id"] for p in json.loads(out or "[]")
            if p.get("name", "").startswith(("loupe_", "loupe_sys_exit", "loupe_process_e"))}


class SigtermChaos(unittest.TestCase):
    def test_sigterm_under_load(self):
        require(shutil.which("wrk") is not None, "wrk is not installed")
        require(shutil.which("bpftool") is not None, "bpftool is not installed")
        for attempt in range(2):
            before = loupe_programs()
            agent = Agent()
            self.addCleanup(agent.stop)
            ours = loupe_programs() - before
            self.assertGreaterEqual(len(ours), 2, "capture programs loaded")
            nginx = ChaosNginx()
            self.addCleanup(nginx.stop)
            wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d8s", f"http://127.0.0.1:{nginx.port}/"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(3 + attempt)  # mid-load, at a different moment each time
            started = time.monotonic()
            agent.proc.send_signal(signal.SIGTERM)
            try:
                code = agent.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.fail("agent did not exit within 15 s of SIGTERM under load")
            seconds = time.monotonic() - started
            out, _ = wrk.communicate(timeout=30)
            logs = agent.logs()
            self.assertEqual(code, 0, logs[-3000:])
            self.assertIn("loupe stopped cleanly", logs)
            self.assertEqual(loupe_programs() & ours, set(), "programs left attached")
            requests = re.search(r"(\d+) requests in", out)
            self.assertIsNotNone(requests, out)
            self.assertNotIn("Socket errors", out, "the application noticed the agent leaving")
            report("sigterm under load", attempt=attempt, exit_seconds=round(seconds, 2),
                   wrk_requests=requests.group(1))
            nginx.stop()
            agent.stop()


if __name__ == "__main__":
    unittest.main()
