"""End-to-end: least privilege, measured. The agent runs with exactly a given capability set
(capsh drops every other capability from the bounding set before exec, so root keeps only those)
and the test checks what works and what degrades, with the clear word the agent gives for each:

- the DaemonSet's set (read from deploy/kubernetes/daemonset.yaml, so the test follows the
  manifest): ready, not degraded, plain HTTP and HTTPS (libssl uprobes) counted exactly;
- that set without CAP_SYS_ADMIN: ready (200) but "degraded" with uprobes named, the
  loupe_feature_degraded{feature="uprobes"} gauge at 1, HTTP counted, HTTPS not parsed;
- CAP_BPF and CAP_PERFMON alone: plain HTTP still counted exactly;
- without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: exit 1 at once, one line naming what is missing;
- `loupe doctor` without CAP_NET_ADMIN: sock_ops/sk_msg refused with the capability to grant.

It prints the measured table (docs/deploy.md, "Capabilities") on stderr.
Needs root and capsh (libcap2-bin); ctest label `root`."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tls"))
from harness import LOUPE, Agent, PythonServer, http_get, metric_sum, require, wait_until  # noqa: E402
from tls_servers import HttpsNginx  # noqa: E402

SERVER = "http_server_request_duration_seconds_count"
REQUESTS = 6
RESULTS = []  # (capability set, what was seen) for the summary table


def daemonset_capabilities():
    """The `capabilities.add` list of the agent container, without a YAML library."""
    with open(os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml")) as f:
        text = f.read()
    block = text[text.index("capabilities:"):]
    block = block[block.index("add:"):]
    caps = []
    for line in block.splitlines()[1:]:
        m = re.match(r"\s*-\s*([A-Z_]+)", line)
        if not m:
            if line.strip() and not line.strip().startswith("#"):
                break
            continue
        caps.append(m.group(1))
    assert "BPF" in caps, caps
    return caps


def bounding_set():
    out = subprocess.run(["capsh", "--print"], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("Bounding set"))
    return [c.strip() for c in line.split("=", 1)[1].split(",") if c.strip()]


def only(caps):
    """A command prefix that runs the rest of the command as root with exactly `caps`."""
    keep = {"cap_" + c.lower() for c in caps}
    drop = [c for c in bounding_set() if c not in keep]
    return ["capsh", f"--drop={','.join(drop)}", "--", "-c", 'exec "$@"', "loupe"]


class CappedAgent(Agent):
    def __init__(self, caps, extra_args=()):
        self.caps = caps
        super().__init__(extra_args=extra_args, wrapper=only(caps))


def curl(url, cacert=None):
    args = ["curl", "-s", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"]
    if cacert:
        args += ["--cacert", cacert]
    return subprocess.run(args + [url], capture_output=True, text=True, timeout=10).stdout


def ready_body(agent):
    status, body = http_get(agent.port, "/health/ready")
    return status, body.decode()


class CapabilitiesE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("capsh") is not None, "capsh (libcap2-bin) is not installed")
        cls.daemonset = daemonset_capabilities()

    @classmethod
    def tearDownClass(cls):
        print("\nCAPABILITIES (measured):", file=sys.stderr)
        for caps, seen in RESULTS:
            print(f"  {caps:<70} {seen}", file=sys.stderr)

    def count_http(self, agent, server, service):
        for _ in range(REQUESTS):
            self.assertEqual(curl(f"http://127.0.0.1:{server.port}/missing/7"), "404")
        wait_until(lambda: metric_sum(agent.metrics(), SERVER, service_name=service,
                                      server_port=str(server.port)) == REQUESTS,
                   timeout=10, what="the plain HTTP requests to be counted")

    def https_count(self, agent, nginx):
        return metric_sum(agent.metrics(), SERVER, server_port=str(nginx.port))

    def drive_https(self, nginx):
        for _ in range(REQUESTS):
            self.assertEqual(curl(f"https://127.0.0.1:{nginx.port}/", nginx.cert), "200")

    def test_daemonset_set_sees_http_and_https(self):
        agent = CappedAgent(self.daemonset)
        self.addCleanup(agent.stop)
        status, body = ready_body(agent)
        self.assertEqual(status, 200)
        self.assertIn('"status":"ok"', body)
        self.assertIn('"degraded":[]', body)
        server = PythonServer("status_server.py", "e2e-caps")
        self.addCleanup(server.stop)
        nginx = HttpsNginx()
        self.addCleanup(nginx.stop)
        time.sleep(2.5)  # the TLS attacher rescans /proc every 2 s for the new libssl user
        self.count_http(agent, server, "e2e-caps")
        self.drive_https(nginx)
        wait_until(lambda: self.https_count(agent, nginx) == REQUESTS, timeout=10,
                   what="the HTTPS requests to be counted")
        RESULTS.append((" ".join(self.daemonset),
                        f"ready ok; HTTP {REQUESTS}/{REQUESTS}; HTTPS {REQUESTS}/{REQUESTS}"))

    def test_without_sys_admin_https_is_degraded_and_said(self):
        caps = [c for c in self.daemonset if c != "SYS_ADMIN"]
        agent = CappedAgent(caps)
        self.addCleanup(agent.stop)
        status, body = ready_body(agent)
        self.assertEqual(status, 200, "degraded stays ready")
        self.assertIn('"status":"degraded"', body)
        self.assertIn('"feature":"uprobes"', body)
        self.assertIn("CAP_SYS_ADMIN", body)
        samples = agent.metrics()
        self.assertEqual(metric_sum(samples, "loupe_feature_degraded", feature="uprobes"), 1)
        self.assertEqual(metric_sum(samples, "loupe_kernel_feature_available", feature="uprobes"),
                         0)
        self.assertRegex(agent.logs(), r'"level":"warn","msg":"running degraded","feature":'
                                       r'"uprobes".*CAP_SYS_ADMIN')
        server = PythonServer("status_server.py", "e2e-caps")
        self.addCleanup(server.stop)
        nginx = HttpsNginx()
        self.addCleanup(nginx.stop)
        self.count_http(agent, server, "e2e-caps")
        self.drive_https(nginx)
        time.sleep(1.5)
        self.assertEqual(self.https_count(agent, nginx), 0, "HTTPS cannot be parsed without uprobes")
        RESULTS.append((" ".join(caps), f"ready, degraded (uprobes); HTTP {REQUESTS}/{REQUESTS}; "
                                        "HTTPS 0 (counted as TLS, not parsed)"))

    def test_bpf_and_perfmon_alone_count_plain_http(self):
        caps = ["BPF", "PERFMON"]
        agent = CappedAgent(caps)
        self.addCleanup(agent.stop)
        status, body = ready_body(agent)
        self.assertEqual(status, 200)
        self.assertIn('"feature":"uprobes"', body)
        server = PythonServer("status_server.py", "e2e-caps")
        self.addCleanup(server.stop)
        self.count_http(agent, server, "e2e-caps")
        RESULTS.append((" ".join(caps), f"ready, degraded (uprobes); HTTP {REQUESTS}/{REQUESTS}"))

    def test_disabled_features_take_their_fallbacks_and_say_so(self):
        # The fallbacks of features this kernel has, forced by the setting: the capture without
        # the process-exit probe and without uprobes still counts plain HTTP exactly.
        agent = Agent(extra_args=["--disable_features=process_exit_probe,uprobes"])
        self.addCleanup(agent.stop)
        status, body = ready_body(agent)
        self.assertEqual(status, 200)
        self.assertIn('"status":"degraded"', body)
        self.assertIn('"feature":"uprobes"', body)
        self.assertIn('"feature":"process_exit_probe"', body)
        self.assertIn("remove process_exit_probe from --disable_features", body)
        text = agent.metrics_text()
        samples = agent.metrics()
        for feature in ("uprobes", "process_exit_probe"):
            self.assertIn(f'loupe_kernel_feature_available{{feature="{feature}",reason="disabled"}} 0',
                          text)
            self.assertEqual(metric_sum(samples, "loupe_feature_degraded", feature=feature), 1)
        self.assertIn('"process_exit_probe":false', agent.logs().replace(" ", ""))
        server = PythonServer("status_server.py", "e2e-caps")
        self.addCleanup(server.stop)
        self.count_http(agent, server, "e2e-caps")

    def test_without_bpf_capabilities_it_refuses_with_one_clear_line(self):
        caps = [c for c in self.daemonset if c not in ("BPF", "PERFMON", "SYS_ADMIN")]
        started = time.monotonic()
        out = subprocess.run(only(caps) + [LOUPE, "--listen_address=127.0.0.1:0"],
                             capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - started
        self.assertEqual(out.returncode, 1, out.stderr + out.stdout)
        lines = out.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, out.stderr)
        self.assertIn("CAP_BPF", lines[0])
        self.assertIn("CAP_PERFMON", lines[0])
        self.assertLess(elapsed, 10)
        RESULTS.append((" ".join(caps), f"exit 1: {lines[0][:90]}..."))

    def test_doctor_names_the_capability_to_grant(self):
        # CAP_SYS_ADMIN stands in for CAP_NET_ADMIN here, so both go.
        caps = [c for c in self.daemonset if c not in ("NET_ADMIN", "SYS_ADMIN")]
        out = subprocess.run(only(caps) + [LOUPE, "doctor"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"sock_ops: refused at \w+: Operation not permitted")
        self.assertRegex(out.stdout, r"sk_msg: refused at \w+: Operation not permitted")
        self.assertIn("grant CAP_NET_ADMIN", out.stdout)
        self.assertIn("CAP_NET_ADMIN       no", out.stdout)
        self.assertIn("grant CAP_SYS_ADMIN", out.stdout)  # uprobes too
        RESULTS.append((" ".join(caps), "doctor exit 0; sock_ops/sk_msg refused, "
                                        "'grant CAP_NET_ADMIN'"))
        # Nothing works without the BPF capabilities: doctor says so and exits 1.
        out = subprocess.run(only(["NET_ADMIN"]) + [LOUPE, "doctor"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("verdict: Loupe cannot run here", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
