#!/usr/bin/env python3
"""Checks the metadata of alert rules and dashboards that promtool does not check:
every alert has `for:`, labels.severity, summary, description and a runbook_url whose file
exists under docs/runbooks/ with the sections a runbook needs; every dashboard takes its
datasource as the ${DS_PROMETHEUS} input and has a service_name variable.

Usage: check_rules_meta.py REPO_ROOT RULE_FILE... DASHBOARD.json...
"""
import json
import re
import sys
from pathlib import Path

import yaml

RUNBOOK_PREFIX = "https://github.com/loupe-dev/loupe/blob/main/"
SECTIONS = ["## What it means", "## User impact", "## First three diagnostic steps",
            "## Common causes and fixes"]


def check_rules(root, path, errors):
    alerts = 0
    for group in yaml.safe_load(open(path)).get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            alerts += 1
            name = rule["alert"]
            where = f"{path}: {name}"
            if "for" not in rule:
                errors.append(f"{where}: no for:")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info", "page", "ticket"):
                errors.append(f"{where}: labels.severity missing or unknown")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    errors.append(f"{where}: annotation {key} missing")
            url = ann.get("runbook_url", "")
            if not url.startswith(RUNBOOK_PREFIX + "docs/runbooks/"):
                errors.append(f"{where}: runbook_url must start with {RUNBOOK_PREFIX}docs/runbooks/")
                continue
            runbook = root / url[len(RUNBOOK_PREFIX):]
            if runbook.name != f"{name}.md":
                errors.append(f"{where}: runbook_url should point at {name}.md")
            if not runbook.is_file():
                errors.append(f"{where}: runbook {runbook} does not exist")
                continue
            text = runbook.read_text()
            for section in SECTIONS:
                if section not in text:
                    errors.append(f"{runbook}: missing section '{section}'")
            steps = text.split("## First three diagnostic steps", 1)[-1].split("\n## ", 1)[0]
            if len(re.findall(r"^\d\. ", steps, re.M)) < 3:
                errors.append(f"{runbook}: fewer than three numbered diagnostic steps")
    if alerts == 0:
        errors.append(f"{path}: no alerts")
    return alerts


def check_dashboard(path, errors):
    board = json.load(open(path))
    inputs = [i.get("name") for i in board.get("__inputs", [])]
    if "DS_PROMETHEUS" not in inputs:
        errors.append(f"{path}: no DS_PROMETHEUS input")
    names = [v.get("name") for v in board.get("templating", {}).get("list", [])]
    if "service_name" not in names:
        errors.append(f"{path}: no service_name variable")
    targets = 0
    for panel in board.get("panels", []):
        if panel.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            errors.append(f"{path}: panel '{panel.get('title')}' does not use ${{DS_PROMETHEUS}}")
        for target in panel.get("targets", []):
            targets += 1
            if not target.get("expr"):
                errors.append(f"{path}: panel '{panel.get('title')}' has a target without expr")
    if targets == 0:
        errors.append(f"{path}: no queries")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    errors, alerts = [], 0
    for path in argv[2:]:
        if path.endswith(".json"):
            check_dashboard(path, errors)
        else:
            alerts += check_rules(root, path, errors)
    for e in errors:
        print(f"FAIL {e}")
    print(f"{'ok  ' if not errors else 'FAIL'} {alerts} alerts and {sum(p.endswith('.json') for p in argv[2:])} dashboards checked")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
