#!/usr/bin/env python3
"""Print chatvault's criterion results as ratios against plaintext SQLite.

Run after `cargo bench --bench store` (and `compact`, `ops`); reads target/criterion/*/*/new/estimates.json.
Throughput ratio = SQLite's mean time / chatvault's (above 1 means chatvault is faster);
latency ratio = chatvault's mean time / SQLite's (below 1 means chatvault is faster).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
GROUPS = {
    "ingest_burst_1000": "throughput",
    "append_single_FULL": "throughput",
    "append_single_NORMAL": "throughput",
    "page_latest_50": "latency",
    "page_deep_50": "latency",
    "compacted_page_latest_50": "latency",
    "compacted_page_deep_50": "latency",
    "list_50_of_10000": "latency",
    "list_10000_of_10000": "latency",
    "edit_message": "throughput",
    "delete_message_in_history": "throughput",
    "delete_message_just_appended": "throughput",
    "delete_conversation_1000": "throughput",
    "delete_conversation_of_10000": "latency",
    "open_and_read_page": "latency",
}


def mean_ns(group, bench):
    f = root / group / bench / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["mean"]["point_estimate"]


print(f"{'benchmark':<24} {'variant':<18} {'chatvault':>12} {'sqlite':>12} {'ratio':>8}")
for group, kind in GROUPS.items():
    base = mean_ns(group, "sqlite")
    if base is None:
        continue
    for d in sorted((root / group).iterdir()):
        if d.name in ("sqlite", "report") or not d.is_dir():
            continue
        ours = mean_ns(group, d.name)
        if ours is None:
            continue
        ratio = base / ours if kind == "throughput" else ours / base
        label = "x throughput" if kind == "throughput" else "x latency"
        print(f"{group:<24} {d.name:<18} {ours / 1000:>10.1f}us {base / 1000:>10.1f}us {ratio:>7.2f}{label}")
