#!/usr/bin/env python3
"""Writes the Grafana dashboards in this folder. Edit here, run, commit the JSON.

Only metric names from docs/metrics.md are used; tests/deploy/check_metric_names.py checks it.
"""
import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
HERE = Path(__file__).resolve().parent
HTTP = "http_server_request_duration_seconds"
DB = "db_client_operation_duration_seconds"


def var(name, query, label=None, multi=True):
    return {
        "name": name, "label": label or name, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
        "refresh": 2, "multi": multi, "includeAll": multi, "allValue": ".*" if multi else None,
        "current": {}, "sort": 1, "hide": 0,
    }


def panel(pid, title, targets, x, y, w=12, h=8, unit="short", kind="timeseries", description=""):
    return {
        "id": pid, "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                    "tooltip": {"mode": "multi"}} if kind == "timeseries" else {},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": e, "legendFormat": l}
                    for i, (e, l) in enumerate(targets)],
    }


def dashboard(uid, title, description, variables, panels):
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "",
                      "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                       {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
                       {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""}],
        "uid": uid, "title": title, "description": description, "tags": ["loupe"],
        "editable": True, "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"}, "timezone": "browser",
        "templating": {"list": variables}, "annotations": {"list": []}, "links": [],
        "panels": panels,
    }


def red():
    s = 'service_name=~"$service_name"'
    sr = f'{s}, http_route=~"$http_route"'
    q = lambda p, by, sel: (f"histogram_quantile({p}, sum by ({by}, le) "
                            f"(rate({HTTP}_bucket{{{sel}}}[$__rate_interval])))")
    panels = [
        panel(1, "Requests per second by service",
              [(f"sum by (service_name) (rate({HTTP}_count{{{s}}}[$__rate_interval]))", "{{service_name}}")],
              0, 0, unit="reqps"),
        panel(2, "5xx error ratio by service",
              [(f'sum by (service_name) (rate({HTTP}_count{{{s}, http_response_status_code=~"5.."}}[$__rate_interval]))'
                f" / sum by (service_name) (rate({HTTP}_count{{{s}}}[$__rate_interval]))", "{{service_name}}")],
              12, 0, unit="percentunit"),
        panel(3, "Latency p50 / p95 / p99 by service",
              [(q(0.5, "service_name", s), "p50 {{service_name}}"),
               (q(0.95, "service_name", s), "p95 {{service_name}}"),
               (q(0.99, "service_name", s), "p99 {{service_name}}")],
              0, 8, w=24, unit="s"),
        panel(4, "Requests per second by route",
              [(f"sum by (service_name, http_request_method, http_route) (rate({HTTP}_count{{{sr}}}[$__rate_interval]))",
                "{{service_name}} {{http_request_method}} {{http_route}}")],
              0, 16, unit="reqps"),
        panel(5, "5xx error ratio by route",
              [(f'sum by (service_name, http_route) (rate({HTTP}_count{{{sr}, http_response_status_code=~"5.."}}[$__rate_interval]))'
                f" / sum by (service_name, http_route) (rate({HTTP}_count{{{sr}}}[$__rate_interval]))",
                "{{service_name}} {{http_route}}")],
              12, 16, unit="percentunit"),
        panel(6, "Latency p95 by route",
              [(q(0.95, "service_name, http_route", sr), "{{service_name}} {{http_route}}")],
              0, 24, unit="s"),
        panel(7, "Latency p99 by route",
              [(q(0.99, "service_name, http_route", sr), "{{service_name}} {{http_route}}")],
              12, 24, unit="s"),
        panel(8, "Responses by status code",
              [(f"sum by (http_response_status_code) (rate({HTTP}_count{{{sr}}}[$__rate_interval]))",
                "{{http_response_status_code}}")],
              0, 32, unit="reqps"),
        panel(9, "Outgoing HTTP calls by destination (p95)",
              [(f'histogram_quantile(0.95, sum by (service_name, server_address, le) '
                f'(rate(http_client_request_duration_seconds_bucket{{{s}}}[$__rate_interval])))',
                "{{service_name}} -> {{server_address}}")],
              12, 32, unit="s"),
    ]
    variables = [var("service_name", f"label_values({HTTP}_count, service_name)", "service"),
                 var("http_route", f'label_values({HTTP}_count{{{s}}}, http_route)', "route")]
    return dashboard("loupe-red", "Loupe / Services (RED)",
                     "Rate, errors and duration per service and route, measured by Loupe.",
                     variables, panels)


def db():
    s = 'service_name=~"$service_name", db_system_name=~"$db_system_name"'
    panels = [
        panel(1, "Operations per second by system and operation",
              [(f"sum by (service_name, db_system_name, db_operation_name) (rate({DB}_count{{{s}}}[$__rate_interval]))",
                "{{service_name}} {{db_system_name}} {{db_operation_name}}")], 0, 0, unit="ops"),
        panel(2, "Errors per second by error type",
              [(f'sum by (service_name, db_system_name, error_type) (rate({DB}_count{{{s}, error_type!=""}}[$__rate_interval]))',
                "{{service_name}} {{db_system_name}} {{error_type}}")], 12, 0, unit="ops"),
        panel(3, "Error ratio by system",
              [(f'sum by (service_name, db_system_name) (rate({DB}_count{{{s}, error_type!=""}}[$__rate_interval]))'
                f" / sum by (service_name, db_system_name) (rate({DB}_count{{{s}}}[$__rate_interval]))",
                "{{service_name}} {{db_system_name}}")], 0, 8, unit="percentunit"),
        panel(4, "Latency p95 by operation",
              [(f"histogram_quantile(0.95, sum by (db_system_name, db_operation_name, le) (rate({DB}_bucket{{{s}}}[$__rate_interval])))",
                "{{db_system_name}} {{db_operation_name}}")], 12, 8, unit="s"),
        panel(5, "Latency p99 by operation",
              [(f"histogram_quantile(0.99, sum by (db_system_name, db_operation_name, le) (rate({DB}_bucket{{{s}}}[$__rate_interval])))",
                "{{db_system_name}} {{db_operation_name}}")], 0, 16, unit="s"),
        panel(6, "Busiest collections (time spent per second)",
              [(f"topk(10, sum by (db_system_name, db_collection_name) (rate({DB}_sum{{{s}}}[$__rate_interval])))",
                "{{db_system_name}} {{db_collection_name}}")], 12, 16, unit="s"),
    ]
    variables = [var("service_name", f"label_values({DB}_count, service_name)", "service"),
                 var("db_system_name", f'label_values({DB}_count{{service_name=~"$service_name"}}, db_system_name)', "database")]
    return dashboard("loupe-db", "Loupe / Database calls",
                     "Database operations observed by Loupe, by system, operation and error type.",
                     variables, panels)


def agent():
    i = 'instance=~"$instance"'
    r = "[$__rate_interval]"
    panels = [
        panel(1, "Agents up", [(f'up{{job="loupe", {i}}}', "{{instance}}")], 0, 0, w=8, unit="none"),
        panel(2, "Ready", [(f"loupe_ready{{{i}}}", "{{instance}}")], 8, 0, w=8, unit="none"),
        panel(3, "Probes attached by hook", [(f"sum by (hook) (loupe_probes_attached{{{i}}})", "{{hook}}")], 16, 0, w=8),
        panel(4, "Events read per second", [(f"sum by (instance, kind) (rate(loupe_events_read_total{{{i}}}{r}))", "{{instance}} {{kind}}")], 0, 8, unit="ops"),
        panel(5, "Events dropped per second", [(f"sum by (instance, reason) (rate(loupe_events_dropped_total{{{i}}}{r}))", "{{instance}} {{reason}}")], 12, 8, unit="ops"),
        panel(6, "Ring buffer fill", [(f"loupe_ringbuf_fill_ratio{{{i}}}", "{{instance}}")], 0, 16, unit="percentunit"),
        panel(7, "Parse failures per second", [(f"sum by (protocol) (rate(loupe_parse_failures_total{{{i}}}{r}))", "{{protocol}}")], 12, 16, unit="ops"),
        panel(8, "Exchanges parsed per second", [(f"sum by (protocol) (rate(loupe_exchanges_parsed_total{{{i}}}{r}))", "{{protocol}}"),
                                                 (f"sum(rate(loupe_exchanges_unclassified_total{{{i}}}{r}))", "unclassified")], 0, 24, unit="ops"),
        panel(9, "Connections tracked", [(f"loupe_connections_tracked{{{i}}}", "{{instance}}"),
                                         (f"sum by (instance, reason) (rate(loupe_connections_evicted_total{{{i}}}{r}))", "evicted/s {{instance}} {{reason}}")], 12, 24),
        panel(10, "Resident memory", [(f"loupe_process_resident_memory_bytes{{{i}}}", "{{instance}}")], 0, 32, unit="bytes",
              description="Limit in the DaemonSet: 256Mi; target: 64 MiB."),
        panel(11, "CPU", [(f"rate(loupe_process_cpu_seconds_total{{{i}}}{r})", "{{instance}}")], 12, 32, unit="percentunit",
              description="Cores used. Limit in the DaemonSet: 0.5; target: 0.05 at 10k req/s."),
        panel(12, "Spans exported and dropped per second", [(f"sum by (instance) (rate(loupe_spans_exported_total{{{i}}}{r}))", "exported {{instance}}"),
                                                            (f"sum by (instance, reason) (rate(loupe_spans_dropped_total{{{i}}}{r}))", "dropped {{instance}} {{reason}}")], 0, 40, unit="ops"),
        panel(13, "OTLP export failures per second", [(f"sum by (instance, signal) (rate(loupe_otlp_export_failures_total{{{i}}}{r}))", "{{instance}} {{signal}}"),
                                                     (f"sum by (instance, reason) (rate(loupe_metric_points_dropped_total{{{i}}}{r}))", "metric points dropped {{instance}} {{reason}}")], 12, 40, unit="ops"),
        panel(14, "Series budget overflow per second", [(f'sum by (service_name, instrument) (rate(loupe_metric_series_overflow_total{{{i}, service_name=~"$service_name"}}{r}))',
                                                         "{{service_name}} {{instrument}}")], 0, 48, unit="ops"),
        panel(15, "Payload truncations and unreported requests", [(f"sum by (direction) (rate(loupe_payload_truncated_total{{{i}}}{r}))", "truncated {{direction}}"),
                                                                  (f"sum by (protocol) (rate(loupe_requests_unreported_total{{{i}}}{r}))", "unreported {{protocol}}")], 12, 48, unit="ops"),
        panel(16, "Agent versions", [(f"count by (version) (loupe_build_info{{{i}}})", "{{version}}")], 0, 56, unit="none"),
    ]
    variables = [var("instance", "label_values(loupe_build_info, instance)", "agent"),
                 var("service_name", 'label_values(loupe_metric_series_overflow_total{instance=~"$instance"}, service_name)', "service")]
    return dashboard("loupe-agent", "Loupe / Agent health",
                     "The Loupe agent's own health: events, drops, parsing, memory, CPU, export.",
                     variables, panels)


if __name__ == "__main__":
    for name, board in (("loupe-red.json", red()), ("loupe-db.json", db()), ("loupe-agent.json", agent())):
        (HERE / name).write_text(json.dumps(board, indent=2) + "\n")
        print("wrote", name)
