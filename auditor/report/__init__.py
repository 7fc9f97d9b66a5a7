"""The report stage: AuditResult -> a versioned folder with HTML, PDF/A-3b, findings, manifest.

Reads only `auditor.models` types; never imports the other stages.

```python
write_report(result, out_dir, *, findings_json, findings_csv, formats=("html", "pdf"),
             sign=None, diff=None, previous_findings=None) -> Path   # <out>/<period>/v<N>/
verify_report(path, *, trust_roots=()) -> VerifyOutcome(ok, problems, notes, report_id)
publish(path, s3_url, expires_seconds=7 * 24 * 3600) -> str          # presigned link
require_publishable(path) -> ReportManifest   # the one check before publish or Security Hub
```

Names are imported on first use: WeasyPrint takes half a second to import, and commands that
only verify or publish a report never render one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.report.exports import EXPORT_FORMATS, ExportContext, asff_findings
    from auditor.report.formats import (
        OutputFormat,
        available_formats,
        get_format,
        register_format,
    )
    from auditor.report.publish import publish
    from auditor.report.securityhub import SecurityHubOutcome, publish_to_securityhub
    from auditor.report.sign import SignOptions
    from auditor.report.verify import VerifyOutcome, require_publishable, verify_report
    from auditor.report.writer import latest_version, newest_versions, write_report

# name -> module; the formats registry is filled when the writer (with html and pdf) is imported
_WHERE = {
    "EXPORT_FORMATS": "auditor.report.exports",
    "ExportContext": "auditor.report.exports",
    "asff_findings": "auditor.report.exports",
    "SecurityHubOutcome": "auditor.report.securityhub",
    "publish_to_securityhub": "auditor.report.securityhub",
    "OutputFormat": "auditor.report.writer",
    "available_formats": "auditor.report.writer",
    "get_format": "auditor.report.writer",
    "register_format": "auditor.report.writer",
    "publish": "auditor.report.publish",
    "SignOptions": "auditor.report.sign",
    "VerifyOutcome": "auditor.report.verify",
    "verify_report": "auditor.report.verify",
    "require_publishable": "auditor.report.verify",
    "write_report": "auditor.report.writer",
    "latest_version": "auditor.report.writer",
    "newest_versions": "auditor.report.writer",
}
_FROM_FORMATS = {"OutputFormat", "available_formats", "get_format", "register_format"}

__all__ = [
    "EXPORT_FORMATS",
    "ExportContext",
    "OutputFormat",
    "SecurityHubOutcome",
    "SignOptions",
    "VerifyOutcome",
    "asff_findings",
    "available_formats",
    "get_format",
    "latest_version",
    "newest_versions",
    "publish",
    "publish_to_securityhub",
    "register_format",
    "require_publishable",
    "verify_report",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor.report' has no attribute {name!r}")
    importlib.import_module(module)
    source = "auditor.report.formats" if name in _FROM_FORMATS else module
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value
