"""Growth: collection, evaluation and rendering at 1x, 4x and 16x size, with the fitted
exponent of time and of memory against size (issue 15).

  collection  the GCP export import (`gcp_collect.py`'s synthetic organisation, NDJSON), lines
  evaluation  `audit()` over 10 weekly snapshots (`evaluate_throughput.py`, synthetic catalog,
              audit-fast), resources per snapshot
  rendering   the HTML and the PDF edition of `report_render.py`'s estate (1 in 5 failing),
              resources

Each measurement runs in a fresh child process, so its peak RSS is its own. The exponent b of
t = a * n^b is the least-squares slope in log-log space; targets: b <= 1.1 for time, memory
flat or sublinear (b < 1) for collection (streaming) and evaluation. Memory exponents are of
the peak RSS as measured, interpreter and libraries included (~100-200 MB that do not grow),
which flattens them; the increment over the 1x run is printed too.

    python bench/growth.py [--collection 5000] [--evaluation 5000] [--rendering 1000]
                           [--only collection,evaluation,rendering]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
FACTORS = (1, 4, 16)


def slope(sizes: list[float], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(v, 1e-9)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def collection(lines: int) -> dict[str, Any]:
    import gcp_collect

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.ndjson"
        projects = max(10, lines // 500)
        with path.open("w") as handle:
            for record in gcp_collect.synthetic_records(projects, lines)[:lines]:
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        queue = ctx.Queue()
        child = ctx.Process(target=gcp_collect._import, args=(str(path), queue))
        child.start()
        out: dict[str, Any] = queue.get(timeout=3600)
        child.join()
    return {"size": lines, "seconds": out["wall_s"], "cpu_s": out["cpu_s"],
            "peak_mb": out["peak_mb"]}  # fmt: skip


def evaluation(resources: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(BENCH / "evaluate_throughput.py"), "--mode", "audit-fast",
         "--resources", str(resources), "--snapshots", "10"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"size": resources, "seconds": r["seconds"], "peak_mb": r["peak_rss_mb"],
            "documents": r["documents"]}  # fmt: skip


def rendering(kind: str) -> Callable[[int], dict[str, Any]]:
    def run(resources: int) -> dict[str, Any]:
        import report_render

        r = report_render.run(kind, resources, resources // 5)
        return {"size": resources, "seconds": r["view_s"] + r["render_s"],
                "peak_mb": r["peak_rss_mb"], "bytes": r["bytes"]}  # fmt: skip

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=int, default=5_000, help="lines at 1x")
    parser.add_argument("--evaluation", type=int, default=5_000, help="resources at 1x")
    parser.add_argument("--rendering", type=int, default=1_000, help="resources at 1x")
    parser.add_argument("--only", default="collection,evaluation,html,pdf")
    args = parser.parse_args()
    stages: dict[str, tuple[Callable[[int], dict[str, Any]], int, float | None]] = {
        "collection": (collection, args.collection, 1.0),
        "evaluation": (evaluation, args.evaluation, 1.0),
        "html": (rendering("html"), args.rendering, None),
        "pdf": (rendering("pdf"), args.rendering, None),
    }
    for name in args.only.split(","):
        run, base, memory_target = stages[name]
        rows = []
        for factor in FACTORS:
            load = os.getloadavg()[0]
            row = run(base * factor)
            row["load"] = round(load, 1)
            rows.append(row)
            print(f"  {name} {factor:>2}x: {json.dumps(row)}", flush=True)
        sizes = [r["size"] for r in rows]
        t_exp = slope(sizes, [r["seconds"] for r in rows])
        m_exp = slope(sizes, [r["peak_mb"] for r in rows])
        increments = [r["peak_mb"] - rows[0]["peak_mb"] for r in rows[1:]]
        m_note = ""
        if memory_target is not None:
            m_note = " (target: flat or sublinear, < 1)"
        print(
            f"{name}: sizes {sizes}; time exponent {t_exp:.2f} (target <= 1.1); memory "
            f"exponent {m_exp:.2f}{m_note}; peak MB {[round(r['peak_mb']) for r in rows]} "
            f"(+{[round(i) for i in increments]} over 1x); load average "
            f"{[r['load'] for r in rows]}",
            flush=True,
        )


if __name__ == "__main__":
    main()
