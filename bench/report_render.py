"""Report rendering at scale: 50,000 resources and 10,000 failing findings.

Prints HTML render time, PDF render time and the PDF child's peak RSS. Targets (issue 8):
PDF <= 60 s and < 1 GB peak memory, HTML <= 10 s. Each render runs in its own child process so
`resource.getrusage(RUSAGE_SELF).ru_maxrss` is that render's peak alone.

    /tmp/venv/bin/python bench/report_render.py [--resources 50000] [--failing 10000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devtools/, shared with the tests


def _child(kind: str, resources: int, failing: int, queue: Any) -> None:
    from devtools import report_synthetic

    started = time.perf_counter()
    syn = report_synthetic.build(resources, failing=failing)
    built = time.perf_counter() - started
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    attachments = (
        ("findings.json", syn.findings_json, "findings", "Data"),
        ("findings.csv", syn.findings_csv, "findings", "Data"),
    )
    started = time.perf_counter()
    view = report_synthetic.view_of(syn.result, attachments=attachments)
    view_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if kind == "html":
        from auditor.report.html import render_html

        data = render_html(view)
    else:
        from auditor.report.pdf import render_pdf

        data = render_pdf(view)
    render_seconds = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pages = 0
    if kind == "pdf":
        from io import BytesIO

        from pypdf import PdfReader

        pages = len(PdfReader(BytesIO(data)).pages)
    queue.put(
        {
            "kind": kind,
            "findings": len(syn.result.findings),
            "failing": sum(1 for f in syn.result.findings if str(f.status) in ("FAIL", "WAIVED")),
            "resources": len({f.resource_id for f in syn.result.findings}),
            "fixture_s": built,
            "view_s": view_seconds,
            "render_s": render_seconds,
            "bytes": len(data),
            "pages": pages,
            "rss_before_mb": base_rss / 1024,
            "peak_rss_mb": peak_rss / 1024,
        }
    )


def run(kind: str, resources: int, failing: int) -> dict[str, Any]:
    context = mp.get_context("spawn")  # a fresh interpreter: peak RSS is this render's alone
    queue = context.Queue()
    process = context.Process(target=_child, args=(kind, resources, failing, queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=50_000)
    parser.add_argument("--failing", type=int, default=10_000)
    args = parser.parse_args()
    for kind, target_s in (("html", 10.0), ("pdf", 60.0)):
        r = run(kind, args.resources, args.failing)
        verdict = "ok" if r["render_s"] + r["view_s"] <= target_s else "OVER TARGET"
        print(
            f"{kind}: {r['resources']} resources, {r['findings']} findings, {r['failing']} failing (FAIL or WAIVED); "
            f"view {r['view_s']:.1f} s + render {r['render_s']:.1f} s "
            f"(target <= {target_s:.0f} s: {verdict}); output {r['bytes'] / 1e6:.1f} MB"
            + (f", {r['pages']} pages" if kind == "pdf" else "")
            + f"; peak RSS {r['peak_rss_mb']:.0f} MB (fixture alone {r['rss_before_mb']:.0f} MB)"
            + ("; target < 1024 MB" if kind == "pdf" else "")
        )


if __name__ == "__main__":
    main()
