"""Read a rendered report.pdf back (pypdf) and list its layout faults: a control ID, requirement
ID, status, date or column header broken inside a word, or a heading left as the last text of a
page. Shared by the synthetic report's tests and the demo's end-to-end test."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader

STATUS_WORDS = ("PASS", "FAIL", "ERROR", "WAIVED", "MANUAL", "ATTESTED", "NOT APPLICABLE")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?")
_BROKEN_DATE = re.compile(r"(?<![0-9a-f-])20\d{2}-(?:\d{2}-?)?\s*\n\s*\d{2}")
_RUNNING = re.compile(r"^(AUD-\S+ (Version \d+|Page \d+ of \d+)|Confidential)$")


class _Headings(HTMLParser):
    """Texts of h1-h3 and th elements of the HTML edition (outside HTML-only parts)."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.headers: list[str] = []
        self._stack: list[tuple[str, list[str]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section" and ("id", "all-findings") in attrs:
            self._skip = 1
        elif tag == "section" and self._skip:
            self._skip += 1
        if tag in ("h1", "h2", "h3", "th"):
            self._stack.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._skip:
            self._skip -= 1
        if self._stack and self._stack[-1][0] == tag:
            _, parts = self._stack.pop()
            text = " ".join("".join(parts).split())
            if text and not self._skip:
                (self.headers if tag == "th" else self.headings).append(text)

    def handle_data(self, data: str) -> None:
        for _, parts in self._stack:
            parts.append(data)


def pdf_pages(pdf: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(pdf).pages]


def _broken_variants(token: str) -> Iterable[str]:
    """The token with a line break inside it (collapsed to a space), i.e. how it reads once
    broken across two lines: after a hyphen, or anywhere, as `break-all` would."""
    for i in range(3, len(token) - 2):  # halves of 3+ characters: fewer chance matches
        if token[i - 1] != " " and token[i] != " ":
            yield token[:i] + " " + token[i:]


def layout_problems(
    pdf: Path,
    html: Path,
    *,
    control_ids: Iterable[str],
    requirement_ids: Iterable[str],
) -> list[str]:
    pages = pdf_pages(pdf)
    raw = "\n".join(pages)
    flat = " ".join(raw.split())
    problems: list[str] = []
    parser = _Headings()
    parser.feed(html.read_text(encoding="utf-8"))

    for kind, tokens in (("control ID", control_ids), ("requirement", requirement_ids)):
        for token in sorted(set(tokens)):
            if " " not in token:  # the token with line breaks anywhere inside it
                spread = r"\s*".join(re.escape(ch) for ch in token)
                for match in re.finditer(rf"(?<![\w.-]){spread}(?![\w])", raw):
                    if any(ch.isspace() for ch in match.group(0)):
                        problems.append(f"{kind} broken across lines: {match.group(0)!r}")
            problems += [f"{kind} broken: {v!r}" for v in _broken_variants(token) if v in flat]
    for status in STATUS_WORDS:
        if " " in status and status.replace(" ", "\n") in raw:
            problems.append(f"status broken across lines: {status}")
    for match in _BROKEN_DATE.finditer(raw):
        problems.append(f"date broken: {match.group(0)!r}")
    for header in sorted(set(parser.headers)):
        if header and header not in flat:
            problems.append(f"column header not whole: {header!r}")
    headings = [h for h in parser.headings if len(h) > 3]
    for number, text in enumerate(pages, start=1):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        content = [ln for ln in lines if not _RUNNING.match(ln)]
        if number == 1 or not content:
            continue
        last = content[-1]
        for heading in headings:
            # the whole heading, or the first line of a wrapped control heading ("ID — title")
            if last == heading or (" — " in last and heading.startswith(last)):
                problems.append(f"page {number} ends with the heading {heading!r}")
                break
    return problems


def has_dates(pages: Iterable[str]) -> bool:
    return any(_DATE.search(p) for p in pages)
