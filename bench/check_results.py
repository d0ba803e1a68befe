#!/usr/bin/env python3
"""Checks that a bench/run.sh output directory is complete: results.md, a PNG chart, and a
results.json with every expected key for every run and every summary entry. Used by the
bench_smoke ctest. Never looks at how fast anything was. Usage: check_results.py DIR"""
import json
import os
import sys

RUN_KEYS = {"config", "workload", "repetition", "rps", "p50_ms", "p99_ms", "requests", "errors"}
AGENT_RUN_KEYS = {"agent_cpu_s", "agent_cpu_s_per_1m_req", "rss_start_kib", "rss_steady_kib",
                  "rss_peak_kib", "bpf_runs", "bpf_run_time_ns", "bpf_ns_per_run",
                  "bpf_ns_per_request", "bpf_hook"}
LOUPE_RUN_KEYS = {"exchange_events", "tail_events", "exchanges_parsed", "events_dropped",
                  "bpf_ns_per_exchange"}
SUMMARY_KEYS = {"available", "repetitions", "rps", "rps_sd", "rps_vs_none", "p50_ms", "p99_ms",
                "agent_cpu_s_per_1m_req", "bpf_ns_per_exchange", "bpf_ns_per_run",
                "rss_start_kib", "rss_steady_kib", "rss_peak_kib", "events_dropped"}
CONFIGS = ["none", "floor", "loupe", "loupe_metrics_only"]
META_KEYS = {"host", "kernel", "cpus", "repetitions", "duration_s", "workloads", "configs",
             "metrics_only_available", "started", "finished"}


def fail(message):
    sys.exit(f"check_results: {message}")


def main(out):
    for name in ("results.md", "results.json", "chart.png"):
        path = os.path.join(out, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            fail(f"{name} is missing or empty")
    with open(os.path.join(out, "chart.png"), "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            fail("chart.png is not a PNG")
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    for key in ("meta", "summary", "runs"):
        if key not in results:
            fail(f"results.json has no {key!r}")
    meta = results["meta"]
    if missing := META_KEYS - meta.keys():
        fail(f"meta lacks {sorted(missing)}")
    workloads = meta["workloads"]
    measured = [c for c in CONFIGS if c != "loupe_metrics_only" or meta["metrics_only_available"]]
    runs = results["runs"]
    for workload in workloads:
        for config in measured:
            mine = [r for r in runs if r["workload"] == workload and r["config"] == config]
            if len(mine) != meta["repetitions"]:
                fail(f"{workload}/{config}: {len(mine)} runs, expected {meta['repetitions']}")
            expected = set(RUN_KEYS)
            if config != "none":
                expected |= AGENT_RUN_KEYS
            if config.startswith("loupe"):
                expected |= LOUPE_RUN_KEYS
            for run in mine:
                if missing := expected - run.keys():
                    fail(f"{workload}/{config} run lacks {sorted(missing)}")
        summary = results["summary"].get(workload)
        if summary is None:
            fail(f"summary lacks workload {workload}")
        if "loupe_loss_over_floor_loss" not in summary:
            fail(f"summary[{workload}] lacks loupe_loss_over_floor_loss")
        for config in CONFIGS:
            entry = summary.get(config)
            if entry is None:
                fail(f"summary[{workload}] lacks {config}")
            if config in measured and (missing := SUMMARY_KEYS - entry.keys()):
                fail(f"summary[{workload}][{config}] lacks {sorted(missing)}")
            if config not in measured and entry != {"available": False}:
                fail(f"summary[{workload}][{config}] should be n/a")
    with open(os.path.join(out, "results.md")) as f:
        text = f.read()
    for workload in workloads:
        if f"| {workload} |" not in text:
            fail(f"results.md has no row for {workload}")
    print(f"check_results: {out} is complete ({len(runs)} runs)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
