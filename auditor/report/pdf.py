"""The print edition: WeasyPrint to PDF/A-3b, with the findings and an evidence index attached.

WeasyPrint would fetch any URL the HTML names. The report's data is escaped, so no markup from a
finding reaches it, and as a second wall the fetcher below serves only files inside the bundled
templates folder and refuses everything else (http, https, ftp, data, file elsewhere).
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import weasyprint
from weasyprint.urls import URLFetcher, URLFetcherResponse

from auditor.report.formats import register_format
from auditor.report.html import render_markup
from auditor.report.view import ReportView
from auditor.resources import templates_dir

PDF_VARIANT = "pdf/a-3b"
log = logging.getLogger(__name__)


class BundledAssetFetcher(URLFetcher):
    """Serves `file:` URLs inside `root` and nothing else. Refused URLs are kept in `refused`."""

    def __init__(self, root: Path) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False, fail_on_errors=False)
        self.root = root.resolve()
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        path = self._allowed_path(url)
        if path is None:
            self.refused.append(url)
            log.warning("report renderer refused to fetch %s", url[:200])
            raise ValueError(f"refused to fetch {url[:200]!r}: only bundled report assets load")
        self.served.append(url)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": media_type})

    def _allowed_path(self, url: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(url2pathname(unquote(parts.path))).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path


def attachments(view: ReportView, fetcher: URLFetcher) -> list[weasyprint.Attachment]:
    return [
        weasyprint.Attachment(
            string=data,
            name=name,
            description=description,
            relationship=relationship,
            url_fetcher=fetcher,
        )
        for name, data, description, relationship in view.attachments
    ]


def render_pdf_with(view: ReportView, fetcher: BundledAssetFetcher) -> bytes:
    root = fetcher.root
    document = weasyprint.HTML(
        string=render_markup(view, pdf=True),
        base_url=root.as_uri() + "/",
        url_fetcher=fetcher,
    )
    pdf = document.write_pdf(
        pdf_variant=PDF_VARIANT,
        attachments=attachments(view, fetcher),
        uncompressed_pdf=False,
    )
    assert isinstance(pdf, bytes)
    return pdf


@register_format("pdf", "report.pdf", "application/pdf")
def render_pdf(view: ReportView) -> bytes:
    return render_pdf_with(view, BundledAssetFetcher(templates_dir()))
