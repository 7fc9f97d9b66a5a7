"""Secrets in labels: redacted before they are stored, and the label control FAILs on them.

The fixture export's two buckets are imported as they are and with a secret planted in one
bucket's labels (keyed `db_password`) and one AWS key as another label's value; the real import,
redactor and catalog judge them.
"""

from __future__ import annotations

import json
from pathlib import Path

from support.verdicts import verdicts

from auditor.collect.gcp.export import GcpExportCollector
from auditor.models import MemorySink, Status

EXPORT = Path(__file__).parents[2] / "fixtures" / "gcp" / "assets_export.ndjson"
TRAINING = "//storage.googleapis.com/ml-prod-4821-training"
SCRATCH = "//storage.googleapis.com/ml-dev-1093-scratch"
PLANTED = {"db_password": "LabelPw-77aa88bb", "note": "AKIAABCDEFGHIJKLMNOP"}


def _import(path: Path) -> MemorySink:
    sink = MemorySink()
    GcpExportCollector(path, salt=b"s").collect(sink)
    return sink


def test_a_secret_in_a_label_fails_the_label_control(tmp_path: Path) -> None:
    lines = []
    for line in EXPORT.read_text().splitlines():
        record = json.loads(line)
        if record["name"] == SCRATCH and "resource" in record:
            labels = record["resource"]["data"].setdefault("labels", {})
            labels.update(PLANTED)
        lines.append(json.dumps(record))
    planted = tmp_path / "export.ndjson"
    planted.write_text("\n".join(lines) + "\n")

    clean = _import(EXPORT)
    before = verdicts(clean.docs, clean.errors, "gcp")
    assert before[("ML-GOV-051", SCRATCH)] is Status.PASS
    assert before[("ML-GOV-051", TRAINING)] is Status.PASS

    sink = _import(planted)
    text = json.dumps([d.data for d in sink.docs])
    assert not [v for v in PLANTED.values() if v in text]  # never stored
    [scratch] = [d for d in sink.docs if d.resource_id == SCRATCH]
    assert {"labels.db_password", "labels.note"} <= set(scratch.data["_redacted"])
    after = verdicts(sink.docs, sink.errors, "gcp")
    assert after[("ML-GOV-051", SCRATCH)] is Status.FAIL
    assert after[("ML-GOV-051", TRAINING)] is Status.PASS
