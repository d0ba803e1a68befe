"""Shared plumbing for Loupe's end-to-end tests: start the real agent and real servers on
loopback, scrape the agent's /metrics, and parse the exposition.

Every process started here is stopped by the test's cleanup, including on failure.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

LOUPE = os.environ.get("LOUPE_BIN", "")
STRICT = os.environ.get("LOUPE_E2E_STRICT") == "1"


def require(condition, why):
    """Skips the test when a prerequisite is missing, or fails it under LOUPE_E2E_STRICT=1 (CI),
    so that a broken install can never pass as a skip."""
    if condition:
        return
    if STRICT:
        raise AssertionError(f"prerequisite missing: {why}")
    raise unittest.SkipTest(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(port, path, host="127.0.0.1", timeout=5.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def pump(src, dst):
    """Copies bytes from src to dst until src ends or fails, then shuts both down (a TCP relay's
    one direction)."""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def parse_metrics(text):
    """Returns a list of (name, labels dict, value)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparseable exposition line: {line!r}")
        labels = dict(_LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric_sum(samples, name, **match):
    total = 0.0
    for n, labels, value in samples:
        if n == name and all(labels.get(k) == v for k, v in match.items()):
            total += value
    return total


class Agent:
    """The real loupe binary, started as root with its embedded defaults."""

    def __init__(self, extra_args=(), env=None, wrapper=()):
        """wrapper: a command prefix the agent runs under (e.g. capsh dropping capabilities); it
        must exec the agent, so that signals reach it."""
        require(LOUPE and os.path.exists(LOUPE), "LOUPE_BIN is not set to the built agent")
        self.port = free_port()
        self.log_path = tempfile.mktemp(prefix="loupe-e2e-", suffix=".log")
        self.log = open(self.log_path, "w")
        args = [*wrapper, LOUPE, f"--listen_address=127.0.0.1:{self.port}", *extra_args]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        try:
            wait_until(self._ready, timeout=20, what="agent /health/ready")
        except AssertionError:
            self.stop()
            raise AssertionError("agent did not become ready:\n" + self.logs())

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("agent exited during start-up:\n" + self.logs())
        try:
            status, _ = http_get(self.port, "/health/ready", timeout=1)
            return status == 200
        except OSError:
            return False

    def metrics_text(self):
        status, body = http_get(self.port, "/metrics")
        assert status == 200, status
        return body.decode()

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Nginx:
    """nginx from Debian on a loopback port, with a static file, a 404 and a 500 location."""

    def __init__(self, keepalive_requests=100000, http_extra="", server_extra=""):
        """http_extra / server_extra: more directives for the http and server blocks, with
        @DIR@ standing for this instance's directory."""
        require(shutil.which("nginx") is not None, "nginx is not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="loupe-nginx-")
        os.chmod(self.dir, 0o755)  # nginx workers run as nobody and must read html/
        os.makedirs(os.path.join(self.dir, "html"))
        os.makedirs(os.path.join(self.dir, "logs"))
        with open(os.path.join(self.dir, "html", "index.html"), "w") as f:
            f.write("hello from nginx\n")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log {self.dir}/logs/access.log;
  sendfile on;
  keepalive_requests {keepalive_requests};
{http_extra.replace("@DIR@", self.dir)}
  server {{
    listen 127.0.0.1:{self.port};
    root {self.dir}/html;
    location = /status500 {{ return 500; }}
{server_extra.replace("@DIR@", self.dir)}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, what="nginx to listen")

    def _up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def served_requests(self):
        with open(os.path.join(self.dir, "logs", "access.log")) as f:
            return sum(1 for _ in f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PythonServer:
    """A Python ThreadingHTTPServer (HTTP/1.1, keep-alive) from tests/e2e/servers/."""

    def __init__(self, script, service_name, *args):
        self.port = free_port()
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen(
            ["python3", os.path.join(here, "servers", script), str(self.port), *args],
            env={**os.environ, "OTEL_SERVICE_NAME": service_name},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, what=f"{script} to listen")

    def _up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class OtlpReceiver:
    """tests/e2e/otlp_receiver_main.cc: decodes OTLP with the exporter's protos and prints each
    request as a JSON line; can be stopped and started like a collector going down."""

    def __init__(self):
        import json
        import threading
        path = os.environ.get("LOUPE_OTLP_RECEIVER", "")
        require(path and os.path.exists(path), "LOUPE_OTLP_RECEIVER is not set")
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.port = json.loads(self.proc.stdout.readline())["port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.trace_requests, self.metric_requests, self.errors = [], [], []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        import json
        for line in self.proc.stdout:
            item = json.loads(line)
            with self.lock:
                if "error" in item:
                    self.errors.append(item["error"])
                elif item["signal"] == "traces":
                    self.trace_requests.append(item["request"])
                else:
                    self.metric_requests.append(item["request"])

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def spans(self):
        """Flattened spans, each with its resource attributes under "_resource"."""
        out = []
        with self.lock:
            requests = list(self.trace_requests)
        for request in requests:
            for rs in request.get("resource_spans", []):
                resource = {a["key"]: _any_value(a["value"])
                            for a in rs.get("resource", {}).get("attributes", [])}
                for ss in rs.get("scope_spans", []):
                    for span in ss.get("spans", []):
                        span = dict(span)
                        span["_resource"] = resource
                        span["_attributes"] = {a["key"]: _any_value(a["value"])
                                               for a in span.get("attributes", [])}
                        out.append(span)
        return out

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def _any_value(value):
    for key in ("string_value", "bool_value", "double_value"):
        if key in value:
            return value[key]
    if "int_value" in value:
        return int(value["int_value"])
    return value


def b64_to_hex(text):
    import base64
    return base64.b64decode(text).hex() if text else ""
