"""The report stage: AuditResult -> a versioned folder with HTML, PDF/A-3b, findings, manifest.

Reads only `auditor.models` types; never imports the other stages.

```python
write_report(result, out_dir, *, findings_json, findings_csv, formats=("html", "pdf"),
             sign=None, diff=None, previous_findings=None) -> Path   # <out>/<period>/v<N>/
verify_report(path, *, trust_roots=()) -> VerifyOutcome(ok, problems, notes, report_id)
publish(path, s3_url, expires_seconds=7 * 24 * 3600) -> str          # presigned link
```
"""

from __future__ import annotations

from auditor.report.formats import OutputFormat, available_formats, get_format, register_format
from auditor.report.publish import publish
from auditor.report.sign import SignOptions
from auditor.report.verify import VerifyOutcome, verify_report
from auditor.report.writer import write_report

__all__ = [
    "OutputFormat",
    "SignOptions",
    "VerifyOutcome",
    "available_formats",
    "get_format",
    "publish",
    "register_format",
    "verify_report",
    "write_report",
]
