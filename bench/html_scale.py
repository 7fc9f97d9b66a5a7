"""The HTML edition at organisation scale, in headless Chromium: time to open, time per filter.

Builds the synthetic estate of `report_render.py` (50,000 resources, 10,000 failing findings by
default), renders report.html with the evidence documents of its FAIL/ERROR findings embedded,
opens it in Debian's Chromium through playwright (file URL, no network) and prints:

- open: from navigation to the filter script's ready mark (`data-filters-ready`), i.e. parsed,
  laid out and the findings table drawn;
- filter: for several filters, from the `change` event to the next frame after the table is
  redrawn, measured inside the page with performance.now();
- scroll: one jump to the end of the table and the redraw.

Targets: open <= 3 s, filter <= 200 ms. `--html FILE` measures an existing report.html instead
(e.g. one rendered by an older version, for comparison).

    .venv/bin/python bench/html_scale.py [--resources 50000] [--failing 10000] [--html FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devtools/, shared with the tests
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
FILTERS = (
    ("status", "FAIL"),
    ("status", "PASS"),
    ("framework", "hipaa"),
    ("stage", "training"),
    ("account", "222222222222"),
)

MEASURE_FILTER = """async ([key, value]) => {
  const select = document.getElementById('filter-' + key);
  const reset = document.getElementById('filter-reset');
  reset.click();
  await new Promise(r => requestAnimationFrame(() => r()));
  const started = performance.now();
  select.value = value;
  select.dispatchEvent(new Event('change'));
  void document.body.offsetHeight;
  await new Promise(r => requestAnimationFrame(() => r()));
  return [performance.now() - started, document.getElementById('filter-count').textContent];
}"""

MEASURE_SCROLL = """async () => {
  const box = document.getElementById('all-findings-scroll');
  if (!box) { return -1; }
  const started = performance.now();
  box.scrollTop = box.scrollHeight;
  box.dispatchEvent(new Event('scroll'));
  void document.body.offsetHeight;
  await new Promise(r => requestAnimationFrame(() => r()));
  return performance.now() - started;
}"""


def render(resources: int, failing: int, target: Path) -> dict[str, Any]:
    from auditor.report.html import render_html
    from devtools import report_synthetic

    syn = report_synthetic.build(resources, failing=failing)
    started = time.perf_counter()
    view = report_synthetic.view_of(
        syn.result, evidence_documents=report_synthetic.evidence_documents(syn)
    )
    data = render_html(view)
    seconds = time.perf_counter() - started
    target.write_bytes(data)
    return {
        "findings": len(syn.result.findings),
        "failing": sum(1 for f in syn.result.findings if str(f.status) in ("FAIL", "ERROR")),
        "resources": len({f.resource_id for f in syn.result.findings}),
        "render_s": seconds,
    }


def measure(html: Path, repeats: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"bytes": html.stat().st_size}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opens = []
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(
                "**/*",
                lambda route, request: (
                    route.continue_()
                    if request.url.startswith(("file:", "data:", "about:"))
                    else route.abort()
                ),
            )
            page = context.new_page()
            started = time.perf_counter()
            page.goto(html.as_uri(), wait_until="load", timeout=600_000)
            page.wait_for_function(
                "document.documentElement.getAttribute('data-filters-ready') === '1'",
                timeout=600_000,
            )
            opens.append(time.perf_counter() - started)
            out["rows_in_dom"] = page.evaluate("document.querySelectorAll('tr').length")
            if len(opens) < repeats:
                context.close()
        out["open_s"] = opens
        filters: dict[str, Any] = {}
        for key, value in FILTERS:
            runs = [page.evaluate(MEASURE_FILTER, [key, value]) for _ in range(repeats)]
            filters[f"{key}={value}"] = {
                "ms": statistics.median(r[0] for r in runs),
                "shown": runs[-1][1],
            }
        out["filters"] = filters
        page.click("#filter-reset")
        out["scroll_ms"] = page.evaluate(MEASURE_SCROLL)
        context.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=50_000)
    parser.add_argument("--failing", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--html", type=Path, help="measure this report.html instead")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} not found (make system-deps installs Debian's chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html
        if html is None:
            html = Path(tmp) / "report.html"
            built = render(args.resources, args.failing, html)
            print(
                f"estate: {built['resources']:,} resources, {built['findings']:,} findings, "
                f"{built['failing']:,} FAIL/ERROR; view + HTML render {built['render_s']:.1f} s"
            )
        result = measure(html, args.repeats)
    opens = result["open_s"]
    print(
        f"report.html: {result['bytes'] / 1e6:.1f} MB, {result['rows_in_dom']:,} table rows in DOM"
    )
    print(
        f"open (to filters ready): median {statistics.median(opens):.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in opens)})  target <= 3 s"
    )
    for name, figures in result["filters"].items():
        print(f"filter {name}: {figures['ms']:.0f} ms, {figures['shown']} shown  target <= 200 ms")
    print(f"scroll to the end and redraw: {result['scroll_ms']:.0f} ms")


if __name__ == "__main__":
    main()
