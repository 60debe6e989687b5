#!/usr/bin/env python3
"""`make metrics`: the figures ballot's functions wrote as EMF (shared::metrics) in the
local stack's log, summed the way the CloudWatch dashboard shows them: a count's total,
a duration's p50 / p99 / max. Reads the log of `make dev` (or any log file given).

usage: metrics.py [LOG] [--since MINUTES]
"""

import json
import math
import os
import sys
import time
from collections import defaultdict

POINTER = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ballot-dev.state")


def default_log():
    state = os.environ.get("BALLOT_STATE_DIR")
    if not state and os.path.exists(POINTER):
        with open(POINTER) as f:
            state = f.read().strip()
    if not state:
        sys.exit("no running `make dev` found (start it, or pass the log: make metrics LOG=path/to/watch.log)")
    return os.path.join(state, "watch.log")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summarize(lines, since_ms=0):
    """{metric: (unit, [values])} of the EMF lines at or after since_ms."""
    figures = defaultdict(lambda: ("Count", []))
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        aws = doc.get("_aws") if isinstance(doc, dict) else None
        if not isinstance(aws, dict) or aws.get("Timestamp", 0) < since_ms:
            continue
        for directive in aws.get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                name = metric.get("Name")
                value = doc.get(name)
                if isinstance(value, (int, float)):
                    unit, values = figures[name]
                    figures[name] = (metric.get("Unit", unit), values + [value])
    return dict(figures)


def render(figures):
    if not figures:
        return "no metrics yet: vote, sign in or add a webhook, then ask again"
    rows = []
    for name in sorted(figures):
        unit, values = figures[name]
        if unit == "Count":
            rows.append(f"  {name:<26} {sum(values):>10g}   ({len(values)} lines)")
        else:
            rows.append(
                f"  {name:<26} p50 {percentile(values, 50):>8g}  p99 {percentile(values, 99):>8g}  "
                f"max {max(values):>8g} {unit.lower()}   ({len(values)} lines)"
            )
    return "\n".join(rows)


def main(argv):
    args, since = [], 0
    i = 0
    while i < len(argv):
        if argv[i] == "--since":
            since = int((time.time() - float(argv[i + 1]) * 60) * 1000)
            i += 2
        else:
            args.append(argv[i])
            i += 1
    log = args[0] if args else default_log()
    with open(log, errors="replace") as f:
        figures = summarize(f, since)
    print(f"ballot metrics (namespace Ballot) from {log}:")
    print(render(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
