"""Shared plumbing of the chaos suite (tests/chaos/): the real agent (tests/e2e/harness.py) under
hostile conditions — a collector that refuses, stalls or fails, connection and process churn,
label-cardinality attacks, malformed traffic — with its RSS sampled throughout.

Every load loop here is bounded in count and in time, and all traffic goes to 127.0.0.0/8.
LOUPE_CHAOS_LONG=1 (or `tests/chaos/run.sh --long`) stretches the durations for a by-hand run.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import (Agent, free_port, http_get, metric_sum, parse_metrics, pump,  # noqa: E402,F401
                     require, wait_until)

LONG = os.environ.get("LOUPE_CHAOS_LONG") == "1"
# The memory ceiling of the default configuration (docs/memory.md).
RSS_LIMIT_BYTES = 64 << 20
MIB = 1 << 20

# What the agent loses on purpose, by counter: the "dropped" side of the accounting equation.
DROP_COUNTERS = ("loupe_events_dropped_total", "loupe_requests_unreported_total",
                 "loupe_parse_failures_total")


def report(title, **numbers):
    """One line per measurement on stderr, so that ctest's output records the figures."""
    fields = " ".join(f"{k}={v}" for k, v in numbers.items())
    print(f"[chaos] {title}: {fields}", file=sys.stderr, flush=True)


def unique_service(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds on a thread until stopped."""

    def __init__(self, pid, interval=0.1):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def _run(self):
        while not self._stop.is_set():
            value = self._rss()
            if value is not None:
                self.samples.append(value)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak()

    def peak(self):
        return max(self.samples) if self.samples else 0

    def peak_mib(self):
        return round(self.peak() / MIB, 1)


def memory_breakdown(pid):
    """RSS by kind of mapping, in MiB: the BPF rings, the heap, other anonymous memory (thread
    arenas, stacks) and files (the binary and its libraries)."""
    out = {"bpf": 0, "heap": 0, "anon": 0, "files": 0}
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=6)
            if "-" in first[0] and len(first) >= 5 and not first[0].endswith(":"):
                name = first[5].strip() if len(first) > 5 else ""
                if "bpf" in name:
                    current = "bpf"
                elif name == "[heap]":
                    current = "heap"
                elif name == "" or name.startswith("["):
                    current = "anon"
                else:
                    current = "files"
            elif line.startswith("Rss:") and current:
                out[current] += int(line.split()[1])
    return {k: round(v / 1024, 1) for k, v in out.items()}


def counters(agent, names=DROP_COUNTERS):
    samples = agent.metrics()
    return {name: metric_sum(samples, name) for name in names}


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after}


class ChaosNginx:
    """nginx on a loopback port of its own: its series (service "nginx", server_port = that
    port) are this test's alone even when other tests run on the host. Many connections,
    keep-alive without limit."""

    def __init__(self, extra_ports=0):
        """`extra_ports`: more ports it also listens on (`ports` lists them all)."""
        require(shutil.which("nginx") is not None, "nginx is not installed")
        self.service = "nginx"
        for attempt in range(3):  # a free port may be taken by another test before nginx binds
            try:
                self._start(extra_ports)
                return
            except AssertionError:
                self.stop()
                if attempt == 2:
                    raise

    def _start(self, extra_ports):
        self.port = free_port()
        self.ports = [self.port] + [free_port() for _ in range(extra_ports)]
        self.dir = tempfile.mkdtemp(prefix="loupe-chaos-nginx-")
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "html"))
        os.makedirs(os.path.join(self.dir, "logs"))
        with open(os.path.join(self.dir, "html", "index.html"), "w") as f:
            f.write("hello from nginx\n")
        conf = os.path.join(self.dir, "nginx.conf")
        listens = "\n    ".join(f"listen 127.0.0.1:{p} backlog=4096;" for p in self.ports)
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log crit;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    {listens}
    root {self.dir}/html;
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, what="nginx to listen")

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited at start")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def server_count(agent, nginx, port=None):
    """Requests the agent counted for this test's nginx (on its first port) as an HTTP server."""
    return metric_sum(agent.metrics(), "http_server_request_duration_seconds_count",
                      service_name=nginx.service, server_port=str(port or nginx.port))


def settle(agent, nginx, expected, timeout=20):
    """Waits until the agent's count for `nginx` reaches `expected` or stops moving; returns
    the count (it may stay short: the caller accounts for the difference)."""
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = server_count(agent, nginx)
        if count >= expected:
            time.sleep(0.5)
            return server_count(agent, nginx)
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since > 4:  # longer than the pending timeout (2 s)
            return count
        time.sleep(0.2)
    return server_count(agent, nginx)


def check_accounting(test, title, captured, exported, drops, unknown=0, shared=0):
    """exported + dropped = captured, from the agent's own counters against the load tool's.

    `captured`: requests the load tools got an answer for. `unknown`: requests whose answer the
    tool lost (a timeout on a starved machine, a client killed): the server may have answered and
    the agent counted them, or not. `drops` are the deltas of the agent's loss counters over the
    scenario; they are host-wide (another test's traffic may lose events at the same time), so
    an exact check is made when nothing was dropped and nothing is unknown, and otherwise the
    loss must cover the difference. `shared`: observations in series other traffic may also
    reach (the global overflow series), so they may or may not be this test's."""
    dropped = sum(drops.values())
    report(title, captured=captured, exported=exported, dropped=int(dropped), unknown=unknown,
           shared=int(shared),
           **{k.replace("loupe_", "").replace("_total", ""): int(v) for k, v in drops.items()
              if v})
    test.assertLessEqual(exported, captured + unknown,
                         f"{title}: counted more than the load tool made")
    if dropped == 0 and unknown == 0 and shared == 0:
        test.assertEqual(exported, captured, f"{title}: requests lost without a counter")
    else:
        test.assertGreaterEqual(exported + shared + dropped, captured,
                                f"{title}: the loss counters do not cover what is missing")


def span_accounting(agent):
    """The span side of the equation: assembled = exported + dropped by reason + queued."""
    samples = agent.metrics()
    dropped = {}
    for name, labels, value in samples:
        if name == "loupe_spans_dropped_total":
            dropped[labels.get("reason", "")] = value
    return {
        "assembled": metric_sum(samples, "loupe_spans_assembled_total"),
        "exported": metric_sum(samples, "loupe_spans_exported_total"),
        "dropped": dropped,
        "queued": metric_sum(samples, "loupe_otlp_queue_spans"),
        "buffered": metric_sum(samples, "loupe_spans_buffered"),
    }


def scrape_loop(agent, stop_event, interval=1.0, sizes=None):
    """Scrapes /metrics every `interval` seconds like a Prometheus server would (a scrape is
    part of the worst case: it builds the whole exposition text)."""
    while not stop_event.is_set():
        try:
            text = agent.metrics_text()
            if sizes is not None:
                sizes.append(len(text))
        except (OSError, AssertionError):
            pass
        stop_event.wait(interval)


def process_churn(port, processes, parallel=8, max_seconds=60):
    """Starts `processes` short-lived processes (curl: a small C program, cheap to start), each
    making one HTTP request on a connection of its own and exiting. Returns (how many got a 200,
    how many failed).
    No new process starts after `max_seconds`; those running get 10 s more (curl's own limit is
    5 s), then are killed and counted as failed."""
    require(shutil.which("curl") is not None, "curl is not installed")
    args = ["curl", "-s", "-o", "/dev/null", "-m", "5", "-f", f"http://127.0.0.1:{port}/"]
    deadline = time.monotonic() + max_seconds
    ok = failed = started = 0
    running = []
    while ((started < processes and time.monotonic() < deadline) or running) \
            and time.monotonic() < deadline + 10:
        while started < processes and len(running) < parallel and time.monotonic() < deadline:
            running.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
            started += 1
        still = []
        for proc in running:
            if proc.poll() is None:
                still.append(proc)
            elif proc.returncode == 0:
                ok += 1
            else:
                failed += 1
        running = still
        time.sleep(0.002)
    for proc in running:
        proc.kill()
        proc.wait()
        failed += 1
    return ok, failed


class ModalCollector:
    """An OTLP endpoint on one loopback port whose behaviour a test switches at run time:
      refuse  — nothing listens (connection refused, a collector that is down);
      silent  — accepts and reads, never answers (a hung collector or a black-holing proxy);
      503     — answers every request 503 Service Unavailable;
      ok      — relays to the real OTLP receiver (tests/e2e/otlp_receiver_main.cc), which
                decodes and records what it got (a recovered collector).
    """

    def __init__(self, receiver):
        self.receiver = receiver
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.mode = "refuse"
        self.requests = {"silent": 0, "503": 0, "ok": 0}
        self._lock = threading.Lock()
        self._listener = None
        self._conns = []  # every accepted connection, closed when the mode changes
        self._closing = False
        self._thread = None

    def set_mode(self, mode):
        assert mode in ("refuse", "silent", "503", "ok"), mode
        with self._lock:
            self.mode = mode
            conns, self._conns = self._conns, []
        for conn in conns:  # a keep-alive connection must not keep the old behaviour
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if mode == "refuse":
            self._close_listener()
        elif self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
            self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
            self._thread.start()

    def _close_listener(self):
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
            if self._thread is not None:
                self._thread.join(timeout=5)

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self._lock:
            mode = self.mode
            self._conns.append(conn)
        if mode == "silent":
            with self._lock:
                self.requests["silent"] += 1
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            return
        if mode == "503":
            self._answer_503(conn)
            return
        self._relay(conn)

    @staticmethod
    def _read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head + b"\r\n\r\n" + body

    def _answer_503(self, conn):
        try:
            while self._read_request(conn) is not None:
                with self._lock:
                    self.requests["503"] += 1
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def _relay(self, conn):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.receiver.port), timeout=10)
        except OSError:
            conn.close()
            return

        with self._lock:
            self.requests["ok"] += 1
        back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        back.start()
        pump(conn, upstream)
        back.join(timeout=30)
        conn.close()
        upstream.close()

    def stop(self):
        self.set_mode("refuse")
