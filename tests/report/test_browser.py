"""The HTML edition in headless Chromium (Debian's, never downloaded): the filter script runs
under the CSP, the virtualised table draws only the rows in view and filters over all of them,
FAIL/ERROR findings open their evidence inline, no request leaves the page, and no script
planted in the data runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.report_synthetic import Synthetic

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    # Outside CI a machine without Chromium skips these; in CI (`make test` installs it) they run.
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian chromium not installed (make test installs it)",
    ),
]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


class Page:
    def __init__(
        self, page: Any, requests: list[str], dialogs: list[str], console: list[str]
    ) -> None:
        self.page = page
        self.requests = requests
        self.dialogs = dialogs
        self.console = console

    def visible_rows(self) -> int:
        """Findings the filters let through (the table draws only those scrolled into view)."""
        return int(self.page.inner_text("#filter-count"))

    def drawn(self) -> list[dict[str, str]]:
        return list(
            self.page.evaluate(
                "Array.from(document.querySelectorAll('#all-findings-body tr[data-table=\"all\"]'))"
                ".map(r => ({index: r.getAttribute('data-index'), status: r.getAttribute('data-status'),"
                " stage: r.getAttribute('data-stage'), account: r.getAttribute('data-account'),"
                " framework: r.getAttribute('data-framework'), text: r.innerText}))"
            )
        )

    def scroll_to_end(self) -> None:
        self.page.evaluate(
            "(() => { const s = document.getElementById('all-findings-scroll');"
            " s.scrollTop = s.scrollHeight; s.dispatchEvent(new Event('scroll')); })()"
        )
        self.page.wait_for_timeout(50)

    def choose(self, key: str, value: str) -> None:
        self.page.select_option(f"#filter-{key}", value)


@pytest.fixture(scope="module")
def browser_page(report_dir: Path) -> Iterator[Page]:
    sync_api = pytest.importorskip("playwright.sync_api")
    requests: list[str] = []
    dialogs: list[str] = []
    console: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(java_script_enabled=True)

        def route(route: Any, request: Any) -> None:
            if not request.url.startswith(("file:", "data:", "about:")):
                requests.append(request.url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith(("file:", "data:", "about:")) else requests.append(r.url)
            ),
        )
        page.on("dialog", lambda d: _dismiss(d, dialogs))
        page.on("console", lambda m: console.append(m.text))
        page.goto((report_dir / "report.html").as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        yield Page(page, requests, dialogs, console)
        context.close()
        browser.close()


def expected(synthetic: Synthetic, **wanted: str) -> int:
    count = 0
    for f in synthetic.result.findings:
        if "framework" in wanted and not f.requirements.get(wanted["framework"]):
            continue
        if "stage" in wanted and f.stage != wanted["stage"]:
            continue
        if "status" in wanted and str(f.status) != wanted["status"]:
            continue
        if "account" in wanted and f.account != wanted["account"]:
            continue
        count += 1
    return count


def test_filter_script_runs_under_the_csp(browser_page: Page, synthetic: Synthetic) -> None:
    ready = browser_page.page.evaluate(
        "document.documentElement.getAttribute('data-filters-ready')"
    )
    assert ready == "1", browser_page.console
    assert browser_page.visible_rows() == len(synthetic.result.findings)


def test_no_request_leaves_the_page_and_no_planted_script_runs(
    browser_page: Page, listener: Any
) -> None:
    assert browser_page.requests == []
    assert browser_page.dialogs == []
    assert listener.connections == []
    assert browser_page.page.evaluate("document.images.length") == 0
    # The planted text is on the page, as text.
    assert "<script>alert(1)</script>" in browser_page.page.inner_text("#all-findings-table")
    assert "<script>alert(1)</script>" in (browser_page.page.text_content("#controls") or "")


@pytest.mark.parametrize(
    "filters",
    [
        {"framework": "hipaa"},
        {"framework": "pci-dss-4.0.1"},
        {"stage": "training"},
        {"status": "FAIL"},
        {"status": "ERROR"},
        {"account": "222222222222"},
        {"framework": "gdpr", "stage": "data", "status": "FAIL", "account": "111111111111"},
    ],
)
def test_filters_show_exactly_the_matching_rows(
    browser_page: Page, synthetic: Synthetic, filters: dict[str, str]
) -> None:
    browser_page.page.click("#filter-reset")
    assert browser_page.visible_rows() == len(synthetic.result.findings)
    for key, value in filters.items():
        browser_page.choose(key, value)
    want = expected(synthetic, **filters)
    assert 0 < want < len(synthetic.result.findings)
    assert browser_page.visible_rows() == want
    drawn = browser_page.drawn()
    assert 0 < len(drawn) <= want
    for row in drawn:  # every drawn row matches every filter
        for key, value in filters.items():
            have = row[key].split() if key == "framework" else [row[key]]
            assert value in have, (key, value, row)
    browser_page.scroll_to_end()  # the last matching finding is reachable by scrolling
    last = browser_page.drawn()
    assert len(last) <= 200
    indices = [int(r["index"]) for r in last]
    assert indices == sorted(indices)
    browser_page.page.click("#filter-reset")
    assert browser_page.visible_rows() == len(synthetic.result.findings)


def test_the_table_draws_only_the_rows_in_view(browser_page: Page, synthetic: Synthetic) -> None:
    browser_page.page.click("#filter-reset")
    total = len(synthetic.result.findings)
    first = browser_page.drawn()
    assert 0 < len(first) < total  # virtualised: not every row is in the DOM
    assert first[0]["index"] == "0"
    browser_page.scroll_to_end()
    last = browser_page.drawn()
    assert last[-1]["index"] == str(total - 1)
    assert first[0]["status"] == "FAIL"  # failing findings first


def test_a_failing_finding_opens_its_evidence_inline(browser_page: Page) -> None:
    page = browser_page.page
    page.click("#filter-reset")
    assert page.is_hidden("#evidence-viewer")
    page.locator("#controls button[data-evidence]").first.click()
    assert page.is_visible("#evidence-viewer")
    shown = page.inner_text("#evidence-json")
    assert '"Encrypted": false' in shown
    assert "</script><script>alert(2)</script>" in shown  # the planted tag is text
    assert browser_page.dialogs == []
    page.click("#evidence-close")
    assert page.is_hidden("#evidence-viewer")
    page.select_option("#filter-status", "FAIL")
    page.locator("#all-findings-body button[data-evidence]").first.click()
    assert page.is_visible("#evidence-viewer")
    page.click("#evidence-close")
    page.click("#filter-reset")


def test_the_classification_marking_heads_the_page(browser_page: Page) -> None:
    assert browser_page.page.inner_text("#classification") == "Confidential"


def test_the_request_recorder_is_not_blind(browser_page: Page) -> None:
    """Control for the no-request test: a page that does load from the network is caught."""
    before = len(browser_page.requests)
    probe = browser_page.page.context.new_page()
    probe.set_content('<img src="http://127.0.0.1:9/probe.png">')
    probe.wait_for_timeout(300)
    caught = browser_page.requests[before:]
    del browser_page.requests[before:]
    probe.close()
    assert any("probe.png" in url for url in caught)


def _dismiss(dialog: Any, dialogs: list[str]) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()
