"""Hostile data: markup planted in resource names, reasons, a waiver, a remediation and the
organisation must come out as text, and nothing may make the renderer fetch a URL."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import weasyprint
from pypdf import PdfReader

from auditor.report import charts
from auditor.report.pdf import BundledAssetFetcher
from auditor.resources import templates_dir
from devtools.report_synthetic import HOSTILE_SCRIPT, hostile_img


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def html_text(report_dir: Path) -> str:
    return (report_dir / "report.html").read_text(encoding="utf-8")


def test_listener_heard_nothing_while_rendering_html_and_pdf(
    report_dir: Path, listener: Any
) -> None:
    assert (report_dir / "report.pdf").stat().st_size > 0
    time.sleep(0.3)  # anything in flight would have connected by now
    assert listener.connections == []


def test_hostile_markup_is_escaped_text_in_the_html(html_text: str, listener: Any) -> None:
    img = hostile_img(listener.port)
    assert img not in html_text
    assert HOSTILE_SCRIPT not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert f"&lt;img src=&#34;http://127.0.0.1:{listener.port}/x&#34;&gt;" in html_text


def test_html_has_no_live_markup_or_external_reference(html_text: str, listener: Any) -> None:
    parser = TagCollector()
    parser.feed(html_text)
    names = [tag for tag, _ in parser.tags]
    scripts = [a.get("type") for t, a in parser.tags if t == "script"]
    assert scripts.count(None) == 1  # ours, allowed by hash
    # the rest are data blocks, never run: every finding, and the failing ones' evidence
    assert sorted(s for s in scripts if s) == ["application/json", "application/json"]
    assert "img" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in parser.tags:
        for key, value in attrs.items():
            assert not (key.startswith("on")), (tag, key)
            if key in ("src", "href", "action", "srcset", "poster", "data"):
                assert value is not None and value.startswith("#"), (tag, key, value)
            assert f"127.0.0.1:{listener.port}" not in (value or ""), (tag, key)
    csp: Any = next(
        a["content"] for t, a in parser.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp and "http" not in csp


def test_data_blocks_cannot_close_their_element(html_text: str) -> None:
    import json

    for block in ("findings-data", "evidence-data"):
        opening = f'<script type="application/json" id="{block}">'
        start = html_text.index(opening) + len(opening)
        body = html_text[start : html_text.index("</script>", start)]
        assert "<" not in body and ">" not in body
        data = json.loads(body)
        assert HOSTILE_SCRIPT in json.dumps(data, ensure_ascii=False)  # still there, as data


def test_hostile_text_reaches_the_pdf_as_text(report_dir: Path, listener: Any) -> None:
    text = " ".join(p.extract_text() for p in PdfReader(report_dir / "report.pdf").pages)
    assert "<script>alert(1)</script>" in text
    assert f"127.0.0.1:{listener.port}/x" in text


def test_fetcher_refuses_everything_but_bundled_assets(tmp_path: Path, listener: Any) -> None:
    """Even live markup handed straight to WeasyPrint cannot reach the network or the disk."""
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    hostile = (
        f'<html><head><link rel="stylesheet" href="http://127.0.0.1:{listener.port}/a.css">'
        f'<link rel="stylesheet" href="{secret.as_uri()}">'
        '<link rel="stylesheet" href="assets/report.css"></head><body>'
        f'<img src="http://127.0.0.1:{listener.port}/x">'
        f'<img src="https://127.0.0.1:{listener.port}/y">'
        '<img src="file:///etc/passwd"><img src="data:image/png;base64,iVBORw0KGgo=">'
        f'<svg><image href="http://127.0.0.1:{listener.port}/z"/></svg>'
        f"<p style=\"background: url('http://127.0.0.1:{listener.port}/bg')\">x</p></body></html>"
    )
    fetcher = BundledAssetFetcher(templates_dir())
    weasyprint.HTML(
        string=hostile, base_url=templates_dir().as_uri() + "/", url_fetcher=fetcher
    ).write_pdf()
    time.sleep(0.3)
    assert listener.connections == []
    refused = " ".join(fetcher.refused)
    for fragment in ("/a.css", "/x", "/y", "/etc/passwd", "data:image", "/bg", secret.name):
        assert fragment in refused, fragment
    assert [u for u in fetcher.served if u.endswith("assets/report.css")]
    assert all(
        Path(u.removeprefix("file://")).is_relative_to(templates_dir()) for u in fetcher.served
    )


def test_fetcher_refuses_path_escape_from_templates() -> None:
    fetcher = BundledAssetFetcher(templates_dir())
    escape = templates_dir().as_uri() + "/../pyproject.toml"
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch(escape)
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch("file://evil.example/share/x.css")


def test_chart_labels_are_escaped() -> None:
    svg = str(charts.stacked_bars("t<b>", [charts.Series(HOSTILE_SCRIPT, {"PASS": 1})], ("PASS",)))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "t&lt;b&gt;" in svg
    svg = str(charts.stacked_columns("t", [charts.Series('"><img src=x>', {"FAIL": 2})], ("FAIL",)))
    assert "<img" not in svg
