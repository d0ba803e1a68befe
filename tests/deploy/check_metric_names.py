#!/usr/bin/env python3
"""Checks that every metric (and label) named in Prometheus rule files and Grafana dashboards
exists in a metrics exposition: a file, or a live agent's /metrics page.

Usage: check_metric_names.py (--metrics FILE | --url URL) [--ignore-missing REGEX] FILE...
  FILE: Prometheus rule files (.yaml/.yml) and Grafana dashboards (.json).
  --ignore-missing REGEX: do not fail for metric names matching REGEX (e.g. '^(http|db)_' on a
      live agent that has not seen any traffic yet); they are still listed.

Histograms are accepted as <name>_bucket, _sum and _count; `up` is Prometheus's own; names
defined by `record:` rules in the given files are accepted too.
"""
import argparse
import json
import re
import sys
import urllib.request

import yaml

KEYWORDS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "offset", "bool", "atan2", "inf", "nan", "le",
}
# Labels Prometheus or the scrape configuration adds to every series.
TARGET_LABELS = {"job", "instance", "node", "namespace", "pod", "container", "service", "endpoint"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def parse_exposition(text):
    """{metric name: set(label names)} with histogram/summary series names expanded."""
    metrics = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(rf"({NAME})(\{{(.*?)\}})?\s", line)
        if not m:
            continue
        labels = set(re.findall(rf'({NAME})\s*=\s*"', m.group(3) or ""))
        metrics.setdefault(m.group(1), set()).update(labels)
    return metrics


def strip_grafana(expr):
    return re.sub(r"\$\{?\w+\}?", "0", expr)


def references(expr):
    """[(metric, {label names in its matcher})] referenced by a PromQL expression."""
    expr = strip_grafana(expr)
    refs = []
    # Selectors with matchers first, then bare names.
    for m in re.finditer(rf"(?<![\w.:$\"])({NAME})\s*\{{([^}}]*)\}}", expr):
        labels = set(re.findall(rf'({NAME})\s*(?:=~|!~|!=|=)\s*"', m.group(2)))
        refs.append((m.group(1), labels))
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    no_matchers = re.sub(r"\{[^}]*\}", "", no_strings)
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_matchers)
    no_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", no_ranges)
    for m in re.finditer(rf"(?<![\w.:$])({NAME})(?![\w:])(?!\s*\()", no_groupings):
        name = m.group(1)
        if name.lower() in KEYWORDS:
            continue
        refs.append((name, set()))
    return refs


def by_labels(expr):
    expr = strip_grafana(expr)
    labels = set()
    for m in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels.update(l.strip() for l in m.group(1).split(",") if l.strip())
    return labels


def expressions(path):
    """[(where, expr)] and the set of record names defined in the file."""
    exprs, records = [], set()
    if path.endswith(".json"):
        board = json.load(open(path))

        def walk(node, where):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "expr" and isinstance(value, str):
                        exprs.append((where, value))
                    elif key == "query" and isinstance(value, str) and value.startswith("label_values("):
                        inner = value[len("label_values("):-1].rsplit(",", 1)[0]
                        exprs.append((where, inner))
                    elif key == "query" and isinstance(value, dict):
                        walk(value, where)
                    else:
                        walk(value, f"{where}/{node.get('title', node.get('name', key))}"
                             if key in ("panels", "list") else where)
            elif isinstance(node, list):
                for item in node:
                    walk(item, f"{where}/{item.get('title', item.get('name', '?'))}" if isinstance(item, dict) else where)
        walk(board, path)
    else:
        doc = yaml.safe_load(open(path))
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("record") or rule.get("alert")
                exprs.append((f"{path}: {name}", rule["expr"]))
                if "record" in rule:
                    records.add(rule["record"])
    return exprs, records


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--metrics")
    src.add_argument("--url")
    ap.add_argument("--ignore-missing", default=None)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    if args.url:
        with urllib.request.urlopen(args.url, timeout=10) as response:
            text = response.read().decode()
    else:
        text = open(args.metrics).read()
    metrics = parse_exposition(text)
    if not metrics:
        print(f"FAIL no samples in {args.url or args.metrics}")
        return 1
    metrics.setdefault("up", set())

    all_exprs, records = [], set()
    for path in args.files:
        e, r = expressions(path)
        all_exprs += e
        records |= r
    errors, ignored, checked = [], [], 0
    for where, expr in all_exprs:
        seen_labels = set()
        for name, labels in references(expr):
            checked += 1
            if name in records:
                continue
            if name not in metrics:
                target = ignored if args.ignore_missing and re.search(args.ignore_missing, name) else errors
                target.append(f"{where}: unknown metric {name}")
                continue
            seen_labels |= metrics[name]
            unknown = labels - metrics[name] - TARGET_LABELS - {"le"}
            if unknown:
                errors.append(f"{where}: {name} has no label(s) {sorted(unknown)}")
        if seen_labels:
            extra = by_labels(expr) - seen_labels - TARGET_LABELS - {"le"}
            if extra:
                errors.append(f"{where}: grouping by unknown label(s) {sorted(extra)}")
    for e in sorted(set(errors)):
        print(f"FAIL {e}")
    for e in sorted(set(ignored)):
        print(f"skip {e}")
    if checked == 0:
        print("FAIL no metric references found")
        return 1
    print(f"{'ok  ' if not errors else 'FAIL'} {checked} references in {len(all_exprs)} expressions "
          f"checked against {len(metrics)} metric names")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
