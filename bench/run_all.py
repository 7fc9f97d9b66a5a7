"""Run every benchmark at its full size, one after another, printing each one's figures.

Usage: python bench/run_all.py [--quick]   (--quick: smaller sizes, for a smoke run)
The full run takes about 15 minutes on 2 cores, most of it the one-worker AWS baseline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES: list[tuple[str, list[str], list[str]]] = [
    # (script, full-size arguments, quick arguments)
    ("aws_collect.py", [], ["--resources", "200"]),
    ("gcp_collect.py", [], ["--projects", "20", "--assets", "10000"]),
    ("store_dedupe.py", [], ["--resources", "1000"]),
    ("evaluate_throughput.py", [], ["--resources", "10000", "--snapshots", "3"]),
    ("report_render.py", [], ["--resources", "5000", "--failing", "1000"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = []
    for script, full, quick in BENCHES:
        print(f"\n=== {script} {' '.join(quick if args.quick else full)}", flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        )
        print(f"=== {script}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
