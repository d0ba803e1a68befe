#!/usr/bin/env python3
"""Loupe's overhead benchmark (docs/performance.md). Driven by bench/run.sh, which installs the
tools and builds the binaries; this file only measures and reports. Standard library only.

For every repetition, every workload is run once under every configuration, the configuration
order rotating from one repetition to the next, so slow drift of the machine (thermal, other
users) spreads over all configurations instead of biasing one.

Configurations:
  none               no agent
  floor              do-nothing BPF programs on Loupe's hook (bench/floor_loader)
  loupe              the agent with its defaults
  loupe_metrics_only the agent with --metrics_only, reported "n/a" while the flag does not exist
  loupe_baseline     with --baseline PATH only: another loupe binary (an older commit) measured
                     in the same run, so a change is judged against its baseline under the
                     same machine conditions

Pinning on a 2-core machine: servers on CPU 0, load generators on CPU 1, the agent unpinned.
"""
import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = ["none", "floor", "loupe", "loupe_metrics_only"]
BASELINE_CONFIG = "loupe_baseline"
WORKLOADS = ["nginx_keepalive", "nginx_close", "go_http", "python_1ms", "redis"]
QUICK_WORKLOADS = ["nginx_keepalive", "nginx_close"]
SERVER_CPU = "0"
CLIENT_CPU = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def configs_with(baseline):
    """The configurations of a run: the fixed ones, plus the baseline when one was given."""
    return CONFIGS + ([BASELINE_CONFIG] if baseline else [])


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def pinned(cpu, argv):
    return ["taskset", "-c", cpu, *argv] if shutil.which("taskset") else argv


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- /proc and bpftool -------------------------------------------------------------------------

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        # comm may contain spaces: fields after the closing parenthesis, utime is field 14.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def bpf_programs():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out or "[]")


def bpf_prog_stats(prog_id):
    out = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id), "--json"],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    return {"run_time_ns": info.get("run_time_ns", 0), "run_cnt": info.get("run_cnt", 0)}


class BpfStats:
    """kernel.bpf_stats_enabled=1 for the run, restored afterwards. Costs two clock reads per
    program run, paid equally by the floor and by Loupe."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.saved = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.saved)


# ---- metrics exposition ------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples.append((m.group(1), dict(_LABEL.findall(m.group(3) or "")),
                            float(m.group(4))))
    return samples


def metric_sum(samples, name, **match):
    return sum(v for n, labels, v in samples
               if n == name and all(labels.get(k) == want for k, want in match.items()))


# ---- agents ------------------------------------------------------------------------------------

class NoAgent:
    pid = None
    prog_id = None

    def counters(self):
        return {}

    def stop(self):
        pass


class FloorAgent:
    def __init__(self, binary, workdir):
        self.log_path = os.path.join(workdir, "floor.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("floor_loader failed: " + open(self.log_path).read())
        ready = json.loads(line)
        self.pid = self.proc.pid
        self.prog_id = ready["prog_id"]
        self.hook = ready["hook"]

    def counters(self):
        return {}

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class LoupeAgent:
    def __init__(self, binary, workdir, extra_args):
        before = {p["id"] for p in bpf_programs()}
        self.port = free_port()
        self.log_path = os.path.join(workdir, "loupe.log")
        self.log = open(self.log_path, "w")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, f"--listen_address=127.0.0.1:{self.port}", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, 30, "loupe /health/ready")
        except Exception:
            self.stop()
            raise RuntimeError("loupe did not start:\n" + open(self.log_path).read()[-4000:])
        self.startup_s = time.monotonic() - started
        self.pid = self.proc.pid
        # The program this agent loaded: new since start, named after the capture program
        # (kernel names are cut to 15 characters). Other Loupe instances may be running.
        mine = [p for p in bpf_programs()
                if p["id"] not in before and p.get("name", "").startswith("loupe_sys_exit")]
        self.prog_id = mine[0]["id"] if mine else None
        self.hook = mine[0].get("type") if mine else None

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("loupe exited:\n" + open(self.log_path).read()[-4000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/ready",
                                        timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def counters(self):
        s = scrape(self.port)
        return {
            "exchange_events": metric_sum(s, "loupe_events_read_total", kind="exchange"),
            "tail_events": metric_sum(s, "loupe_events_read_total", kind="tail"),
            "exchanges_parsed": metric_sum(s, "loupe_exchanges_parsed_total"),
            "events_dropped": metric_sum(s, "loupe_events_dropped_total"),
            # --metrics_only: exchanges the kernel counted without sending a record.
            "kernel_counted_exchanges": metric_sum(s, "loupe_kernel_red_exchanges_total"),
        }

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def loupe_has_flag(binary, flag):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return f"--{flag}" in out.stdout + out.stderr


# ---- servers -----------------------------------------------------------------------------------

class Servers:
    """Every server a workload needs, started once for the whole run."""

    def __init__(self, workloads, workdir, go_binary):
        self.procs = []
        self.ports = {}
        if {"nginx_keepalive", "nginx_close"} & set(workloads):
            self.ports["nginx"] = self._nginx(workdir)
        if "go_http" in workloads:
            port = free_port()
            self._start("go", pinned(SERVER_CPU, [go_binary, str(port)]), port)
        if "python_1ms" in workloads:
            port = free_port()
            self._start("python", pinned(SERVER_CPU, [sys.executable, os.path.join(
                HERE, "servers", "py_server.py"), str(port)]), port)
        if "redis" in workloads:
            port = free_port()
            self._start("redis", pinned(SERVER_CPU, [
                "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                "--appendonly", "no", "--protected-mode", "no"]), port)

    def _start(self, name, argv, port):
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait_until(lambda: port_open(port), 20, f"{name} server on port {port}")
        self.ports[name] = port

    def _nginx(self, workdir):
        port = free_port()
        root = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(root, "html"))
        os.makedirs(os.path.join(root, "logs"))
        os.chmod(workdir, 0o755)
        os.chmod(root, 0o755)  # workers run as nobody and must read html/
        with open(os.path.join(root, "html", "index.html"), "w") as f:
            f.write("hello from nginx\n")
        conf = os.path.join(root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port};
    root {root}/html;
  }}
}}
""")
        self.procs.append(subprocess.Popen(pinned(SERVER_CPU, ["nginx", "-c", conf, "-p", root]),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: port_open(port), 20, "nginx")
        return port

    def stop(self):
        for proc in self.procs:
            stop_process(proc)


# ---- load generators ---------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(output):
    result = {"rps": None, "p50_ms": None, "p99_ms": None, "requests": None, "errors": 0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", output):
        result["requests"] = int(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", output, re.M):
        result["p50_ms"] = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", output, re.M):
        result["p99_ms"] = _ms(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output):
        result["errors"] += sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result["errors"] += int(m.group(1))
    return result


def run_wrk(port, duration, connections, extra=()):
    argv = pinned(CLIENT_CPU, ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                               *extra, f"http://127.0.0.1:{port}/index.html"])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    result = parse_wrk(out.stdout)
    if result["rps"] is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    return result


def run_redis_benchmark(port, requests_per_test):
    argv = pinned(CLIENT_CPU, ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                               "-t", "get,set", "-n", str(requests_per_test), "-P", "1",
                               "-c", "50", "--csv"])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    rows = [line.replace('"', "").split(",") for line in out.stdout.splitlines()]
    header = rows[0] if rows else []
    tests = [dict(zip(header, row)) for row in rows[1:] if len(row) == len(header)]
    if len(tests) != 2:
        raise RuntimeError(f"redis-benchmark failed: {out.stdout}\n{out.stderr}")
    # Both tests ran the same number of requests, one after the other: the combined rate is
    # total requests over total time; latencies are the mean of the two tests' percentiles.
    seconds = sum(requests_per_test / float(t["rps"]) for t in tests)
    return {"rps": 2 * requests_per_test / seconds,
            "p50_ms": statistics.mean(float(t["p50_latency_ms"]) for t in tests),
            "p99_ms": statistics.mean(float(t["p99_latency_ms"]) for t in tests),
            "requests": 2 * requests_per_test, "errors": 0}


class Workloads:
    def __init__(self, servers, duration):
        self.servers = servers
        self.duration = duration
        self.redis_n = 20000

    def run(self, name):
        ports = self.servers.ports
        d = self.duration
        if name == "nginx_keepalive":
            return run_wrk(ports["nginx"], d, 50)
        if name == "nginx_close":
            return run_wrk(ports["nginx"], d, 50, ["-H", "Connection: close"])
        if name == "go_http":
            return run_wrk(ports["go"], d, 50)
        if name == "python_1ms":
            return run_wrk(ports["python"], d, 20)
        if name == "redis":
            return run_redis_benchmark(ports["redis"], self.redis_n)
        raise ValueError(name)

    def warm_up(self, names):
        saved, self.duration = self.duration, 1
        for name in names:
            result = self.run(name)
            if name == "redis":
                # Size the count-based redis run to last about `duration` seconds unloaded.
                self.redis_n = max(10000, int(result["rps"] * saved / 2))
        self.duration = saved


# ---- one measured run --------------------------------------------------------------------------

def measure(config, workload, workloads, args, workdir):
    if config == "none":
        agent = NoAgent()
    elif config == "floor":
        agent = FloorAgent(args.floor, workdir)
    else:
        extra = ["--metrics_only"] if config == "loupe_metrics_only" else []
        binary = args.baseline if config == BASELINE_CONFIG else args.loupe
        agent = LoupeAgent(binary, workdir, extra)
    try:
        time.sleep(0.5)  # let start-up work settle
        row = {"config": config, "workload": workload}
        if agent.pid:
            row["rss_start_kib"] = memory_kib(agent.pid)["VmRSS"]
            cpu0 = cpu_seconds(agent.pid)
        bpf0 = bpf_prog_stats(agent.prog_id) if agent.prog_id else None
        counters0 = agent.counters()

        row.update(workloads.run(workload))
        time.sleep(0.5)  # the agent drains the ring every 20 ms; count what it read

        counters1 = agent.counters()
        if agent.pid:
            cpu = cpu_seconds(agent.pid) - cpu0
            mem = memory_kib(agent.pid)
            row["agent_cpu_s"] = cpu
            row["agent_cpu_s_per_1m_req"] = cpu / row["requests"] * 1e6
            row["rss_steady_kib"] = mem["VmRSS"]
            row["rss_peak_kib"] = mem["VmHWM"]
        if bpf0 is not None:
            bpf1 = bpf_prog_stats(agent.prog_id)
            runs = bpf1["run_cnt"] - bpf0["run_cnt"]
            ns = bpf1["run_time_ns"] - bpf0["run_time_ns"]
            row["bpf_runs"] = runs
            row["bpf_run_time_ns"] = ns
            row["bpf_ns_per_run"] = ns / runs if runs else None
            row["bpf_ns_per_request"] = ns / row["requests"]
            row["bpf_hook"] = agent.hook
        for key, value in counters1.items():
            row[key] = value - counters0.get(key, 0)
        if counters1:
            exchanges = row["exchange_events"] + row.get("kernel_counted_exchanges", 0)
            row["bpf_ns_per_exchange"] = (row["bpf_run_time_ns"] / exchanges
                                          if exchanges and bpf0 is not None else None)
        return row
    finally:
        agent.stop()


# ---- summary -----------------------------------------------------------------------------------

SUMMARY_KEYS = ["rps", "p50_ms", "p99_ms", "agent_cpu_s_per_1m_req", "bpf_ns_per_exchange",
                "bpf_ns_per_run", "bpf_ns_per_request", "rss_start_kib", "rss_steady_kib",
                "rss_peak_kib", "events_dropped", "exchange_events", "requests"]


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(runs, configs, workloads, available):
    summary = {}
    for w in workloads:
        summary[w] = {}
        base = mean_sd(r["rps"] for r in runs if r["workload"] == w and r["config"] == "none")[0]
        for c in configs:
            if not available[c]:
                summary[w][c] = {"available": False}
                continue
            mine = [r for r in runs if r["workload"] == w and r["config"] == c]
            entry = {"available": True, "repetitions": len(mine)}
            for key in SUMMARY_KEYS:
                entry[key], entry[key + "_sd"] = mean_sd(r.get(key) for r in mine)
            entry["rps_vs_none"] = entry["rps"] / base if base and entry["rps"] else None
            summary[w][c] = entry
        floor = summary[w].get("floor", {})
        loupe = summary[w].get("loupe", {})
        summary[w]["loupe_loss_over_floor_loss"] = None
        if floor.get("rps_vs_none") and loupe.get("rps_vs_none"):
            floor_loss = 1 - floor["rps_vs_none"]
            loupe_loss = 1 - loupe["rps_vs_none"]
            summary[w]["floor_loss"] = floor_loss
            summary[w]["loupe_loss"] = loupe_loss
            if floor_loss > 0 and loupe_loss > 0:
                summary[w]["loupe_loss_over_floor_loss"] = loupe_loss / floor_loss
    return summary


def fmt(value, digits=0, scale=1.0):
    if value is None:
        return "–"
    return f"{value * scale:,.{digits}f}"


def write_markdown(path, summary, configs, workloads, meta):
    lines = [
        "# Loupe overhead benchmark",
        "",
        f"Host `{meta['host']}`, kernel {meta['kernel']}, {meta['cpus']} CPUs; "
        f"{meta['repetitions']} repetition(s) of {meta['duration_s']} s per configuration and "
        f"workload, configurations alternating; started {meta['started']}. "
        f"Servers pinned to CPU {SERVER_CPU}, load generators to CPU {CLIENT_CPU}, agents "
        f"unpinned. Loupe at commit `{meta['loupe_commit']}`"
        + (f"; `loupe_baseline` is `{meta['baseline']}` (commit "
           f"`{meta.get('baseline_commit') or 'not given'}`). " if meta.get("baseline") else ". ") +
        f"`kernel.bpf_stats_enabled=1` during the run. Generated by `bench/run.sh`; "
        f"raw numbers per repetition in `results.json`.",
        "",
        "| workload | configuration | req/s (± sd) | vs no agent | p50 ms | p99 ms | "
        "agent CPU-s / 1M req | BPF ns / exchange | BPF ns / run | BPF ns / req | "
        "RSS start / steady / peak MiB | events dropped |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in workloads:
        for c in configs:
            e = summary[w][c]
            if not e["available"]:
                lines.append(f"| {w} | {c} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | "
                             "n/a | n/a |")
                continue
            ratio = "1.000" if c == "none" else fmt(e["rps_vs_none"], 3)
            rss = "–" if e["rss_start_kib"] is None else (
                f"{fmt(e['rss_start_kib'], 1, 1 / 1024)} / "
                f"{fmt(e['rss_steady_kib'], 1, 1 / 1024)} / {fmt(e['rss_peak_kib'], 1, 1 / 1024)}")
            lines.append(
                f"| {w} | {c} | {fmt(e['rps'])} ± {fmt(e['rps_sd'])} | {ratio} | "
                f"{fmt(e['p50_ms'], 3)} | {fmt(e['p99_ms'], 3)} | "
                f"{fmt(e['agent_cpu_s_per_1m_req'], 2)} | {fmt(e['bpf_ns_per_exchange'])} | "
                f"{fmt(e['bpf_ns_per_run'])} | {fmt(e['bpf_ns_per_request'])} | {rss} | "
                f"{fmt(e['events_dropped'])} |")
    lines += [
        "",
        "## Loupe's throughput loss against the floor's",
        "",
        "Loss = 1 − (req/s with the agent) / (req/s with no agent). The floor is the loss of "
        "do-nothing programs on the same hook; a ratio near 1 means Loupe costs little beyond "
        "the hook itself. When either loss is within noise (≤ 0) the ratio is undefined (–); "
        "compare the losses with the req/s standard deviations above before reading much into "
        "them.",
        "",
        "| workload | floor loss | Loupe loss | Loupe loss / floor loss |"
        + (" baseline loss |" if BASELINE_CONFIG in configs else ""),
        "| --- | --- | --- | --- |" + (" --- |" if BASELINE_CONFIG in configs else ""),
    ]
    for w in workloads:
        s = summary[w]
        row = (f"| {w} | {fmt(s.get('floor_loss'), 1, 100)} % | "
               f"{fmt(s.get('loupe_loss'), 1, 100)} % | "
               f"{fmt(s['loupe_loss_over_floor_loss'], 2)} |")
        if BASELINE_CONFIG in configs:
            ratio = s[BASELINE_CONFIG].get("rps_vs_none")
            row += f" {fmt(None if ratio is None else 1 - ratio, 1, 100)} % |"
        lines.append(row)
    lines += ["", "Notes:", "",
              "- On loopback both ends of every connection are on this host, so Loupe captures "
              "each request twice (the server's exchange and the load generator's client "
              "exchange): `BPF ns / exchange` divides by both; `BPF ns / req` by requests.",
              "- `BPF ns / run` averages over every syscall exit on the machine, most of which "
              "the program rejects after a switch on the syscall number.",
              "- Agent CPU is user + system time of the agent process (/proc/PID/stat); the BPF "
              "time is not in it: the kernel charges it to the traced processes.",
              "- `loupe_metrics_only` is n/a while `loupe --help` has no `--metrics_only`."
              if not meta["metrics_only_available"] else
              "- `loupe_metrics_only` ran with `--metrics_only`.",
              ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(path, summary, configs, workloads, workdir):
    agents = [c for c in configs if c != "none"]
    shown = [c for c in agents if any(summary[w][c]["available"] for w in workloads)]
    missing = [c for c in agents if c not in shown]
    data = os.path.join(workdir, "chart.dat")
    with open(data, "w") as f:
        f.write("# workload " + " ".join(shown) + "\n")
        for w in workloads:
            values = [summary[w][c].get("rps_vs_none") for c in shown]
            f.write(w.replace("_", "-") + " " +
                    " ".join("NaN" if v is None else f"{v * 100:.2f}" for v in values) + "\n")
    ratios = [summary[w][c].get("rps_vs_none") for w in workloads for c in shown]
    ratios = [r * 100 for r in ratios if r is not None] or [100]
    ymin = max(0, math.floor(min(ratios + [100]) / 5) * 5 - 5)
    ymax = math.ceil(max(ratios + [100]) / 5) * 5 + 5
    plots = ", ".join(f"'{data}' using {i + 2}:xtic(1) title '{c}'" for i, c in enumerate(shown))
    note = (f"set label 1 '{', '.join(missing)}: n/a (not available in this build)' "
            "at graph 0.01, graph 0.96 font ',9'" if missing else "")
    script = f"""
set terminal pngcairo noenhanced size 1000,560 font 'sans,11'
set output '{path}'
set title 'Throughput with an agent, relative to no agent (dashed line: 100 %)'
set ylabel 'req/s, % of no agent'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [{ymin}:{ymax}]
set grid ytics
set key top right
set arrow from graph 0, first 100 to graph 1, first 100 nohead dashtype 2
{note}
{'plot ' + plots if plots else 'plot 100 title "no agent"'}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


# ---- main --------------------------------------------------------------------------------------

def source_commit():
    """The commit the harness runs from, "+dirty" when the tree has changes."""
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def default_out():
    host = socket.gethostname() or ""
    if not host or host in ("localhost", "localhost.localdomain"):
        host = "this-machine"
    return os.path.join(HERE, "results", host)


def rewrite_report(out_dir):
    with open(os.path.join(out_dir, "results.json")) as f:
        results = json.load(f)
    meta, runs = results["meta"], results["runs"]
    configs = configs_with(meta.get("baseline"))
    available = {c: c != "loupe_metrics_only" or meta["metrics_only_available"] for c in configs}
    summary = summarize(runs, configs, meta["workloads"], available)
    results["summary"] = summary
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(os.path.join(out_dir, "results.md"), summary, configs, meta["workloads"], meta)
    chart_dir = tempfile.mkdtemp(prefix="loupe-chart-")
    try:
        write_chart(os.path.join(out_dir, "chart.png"), summary, configs, meta["workloads"],
                    chart_dir)
    finally:
        shutil.rmtree(chart_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loupe", help="the loupe binary")
    parser.add_argument("--floor", help="the floor_loader binary")
    parser.add_argument("--go_server", help="the built bench/servers/go_server")
    parser.add_argument("--baseline", default="",
                        help="a second loupe binary, measured as configuration loupe_baseline")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke: 1 repetition, 2 s runs, two workloads")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--workloads", default="", help="comma-separated subset of " +
                        ",".join(WORKLOADS))
    parser.add_argument("--out", default="", help="output directory")
    parser.add_argument("--report_only", action="store_true",
                        help="only rewrite results.md and chart.png from --out's results.json")
    args = parser.parse_args()
    if args.report_only:
        rewrite_report(args.out or default_out())
        return
    if not (args.loupe and args.floor and args.go_server):
        sys.exit("--loupe, --floor and --go_server are required (bench/run.sh passes them)")
    if os.geteuid() != 0:
        sys.exit("bench/run.py must run as root (BPF programs, bpf_stats_enabled)")
    # SIGTERM unwinds like Ctrl-C, so servers and agents are stopped and bpf_stats restored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/run.py: terminated"))

    workloads = QUICK_WORKLOADS if args.quick else WORKLOADS
    if args.workloads:
        workloads = [w for w in args.workloads.split(",") if w]
        unknown = set(workloads) - set(WORKLOADS)
        if unknown:
            sys.exit(f"unknown workloads: {sorted(unknown)}")
    reps = 1 if args.quick else args.reps
    duration = 2 if args.quick else args.duration
    out_dir = args.out or default_out()
    os.makedirs(out_dir, exist_ok=True)

    if args.baseline and not os.access(args.baseline, os.X_OK):
        sys.exit(f"--baseline {args.baseline}: not an executable file")
    metrics_only = loupe_has_flag(args.loupe, "metrics_only")
    configs = configs_with(args.baseline)
    available = {c: True for c in configs}
    available["loupe_metrics_only"] = metrics_only
    measured = [c for c in configs if available[c]]
    if not metrics_only:
        log("loupe --help has no --metrics_only: that configuration is reported as n/a")

    meta = {
        "host": socket.gethostname(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "repetitions": reps, "duration_s": duration, "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "workloads": workloads,
        "configs": configs, "metrics_only_available": metrics_only,
        "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
        "loupe": os.path.abspath(args.loupe), "floor": os.path.abspath(args.floor),
        "baseline": os.path.abspath(args.baseline) if args.baseline else None,
        "baseline_commit": os.environ.get("LOUPE_BENCH_BASELINE_COMMIT") if args.baseline
        else None,
        "loupe_commit": os.environ.get("LOUPE_BENCH_COMMIT") or source_commit(),
    }
    runs = []
    workdir = tempfile.mkdtemp(prefix="loupe-bench-")
    servers = None
    try:
        with BpfStats():
            servers = Servers(workloads, workdir, args.go_server)
            loads = Workloads(servers, duration)
            log(f"warming up {', '.join(workloads)}")
            loads.warm_up(workloads)
            total = reps * len(workloads) * len(measured)
            for rep in range(reps):
                order = measured[rep % len(measured):] + measured[:rep % len(measured)]
                for workload in workloads:
                    for config in order:
                        row = measure(config, workload, loads, args, workdir)
                        row["repetition"] = rep
                        runs.append(row)
                        log(f"{len(runs)}/{total} {workload:16} {config:18} "
                            f"{row['rps']:>10,.0f} req/s")
    finally:
        if servers:
            servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary = summarize(runs, configs, workloads, available)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
    write_markdown(os.path.join(out_dir, "results.md"), summary, configs, workloads, meta)
    chart_dir = tempfile.mkdtemp(prefix="loupe-chart-")
    try:
        write_chart(os.path.join(out_dir, "chart.png"), summary, configs, workloads, chart_dir)
    finally:
        shutil.rmtree(chart_dir, ignore_errors=True)
    log(f"wrote {out_dir}/results.md, results.json, chart.png")


if __name__ == "__main__":
    main()
