"""Loading, layering, hashing and the shipped framework files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from catalog_support import BROKEN, EXAMPLES, KNOWN_TYPES, REPO

from auditor.catalog import load_catalog
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, Severity, Stage
from auditor.rules import holds, render_reason

BASIC = EXAMPLES / "basic"
OVERRIDE = EXAMPLES / "override"

# The requirement IDs every writer of controls may map to (the team brief's list).
BRIEF_REQUIREMENTS = {
    "gdpr": [
        "Art. 5(1)(c)", "Art. 5(1)(e)", "Art. 5(1)(f)", "Art. 5(2)", "Art. 25(1)", "Art. 25(2)",
        "Art. 30", "Art. 32(1)(a)", "Art. 32(1)(b)", "Art. 32(1)(c)", "Art. 32(1)(d)",
        "Art. 32(2)", "Art. 33", "Art. 35", "Art. 44",
    ],
    "hipaa": [
        "164.308(a)(1)(ii)(A)", "164.308(a)(1)(ii)(B)", "164.308(a)(1)(ii)(D)",
        "164.308(a)(3)(ii)(A)", "164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)",
        "164.308(a)(5)(ii)(B)", "164.308(a)(5)(ii)(C)", "164.308(a)(6)(ii)",
        "164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)", "164.308(a)(8)", "164.312(a)(1)",
        "164.312(a)(2)(i)", "164.312(a)(2)(iv)", "164.312(b)", "164.312(c)(1)", "164.312(c)(2)",
        "164.312(d)", "164.312(e)(1)", "164.312(e)(2)(ii)", "164.316(b)(2)(i)",
    ],
    "pci-dss-4.0.1": [
        "1.3.1", "1.3.2", "1.4.1", "3.5.1", "3.6.1", "3.7.1", "3.7.4", "4.2.1", "6.3.3", "6.4.2",
        "7.2.1", "7.2.2", "7.2.4", "7.2.5", "8.2.1", "8.3.1", "8.4.1", "8.4.2", "10.2.1",
        "10.2.1.2", "10.3.2", "10.3.3", "10.4.1", "10.5.1", "10.7.2", "11.3.1", "11.4.1",
        "11.5.1", "12.10.1",
    ],
}  # fmt: skip


# ---------------------------------------------------------------- framework files


def test_framework_files_define_every_requirement_of_the_brief(shipped: Path) -> None:
    catalog = load_catalog()
    assert set(catalog.frameworks) == set(FRAMEWORKS)
    for framework_id, ids in BRIEF_REQUIREMENTS.items():
        defined = [r.id for r in catalog.frameworks[framework_id].requirements]
        assert [i for i in ids if i not in defined] == [], framework_id


def test_framework_titles_follow_the_official_text(shipped: Path) -> None:
    catalog = load_catalog()
    req = catalog.requirement
    assert req("hipaa", "164.312(a)(2)(iv)").title.startswith(  # type: ignore[union-attr]
        "Encryption and decryption (Addressable)"
    )
    pci_633 = req("pci-dss-4.0.1", "6.3.3")
    assert pci_633 is not None
    assert "critical vulnerabilities" in pci_633.title and "one month" in pci_633.title
    assert "high" not in pci_633.title  # v4.0.1: the one-month deadline is for critical only
    assert req("pci-dss-4.0.1", "6.4.2") is not None and req("pci-dss-4.0.1", "6.4.1") is None
    assert req("pci-dss-4.0.1", "10.7.2") is not None and req("pci-dss-4.0.1", "10.7.1") is None
    assert req("gdpr", "Art. 35").title == "Data protection impact assessment"  # type: ignore[union-attr]


def test_manual_requirements_carry_an_attestation_question(shipped: Path) -> None:
    catalog = load_catalog()
    manual = {r.key for f in catalog.frameworks.values() for r in f.requirements if r.manual}
    for key in (
        "gdpr:Art. 30",
        "gdpr:Art. 33",
        "gdpr:Art. 35",
        "hipaa:164.308(a)(1)(ii)(A)",
        "hipaa:164.308(a)(6)(ii)",
        "hipaa:164.308(a)(7)(ii)(A)",
        "hipaa:164.308(a)(7)(ii)(B)",
        "hipaa:164.308(a)(8)",
        "hipaa:164.316(b)(2)(i)",
        "pci-dss-4.0.1:12.10.1",
        "pci-dss-4.0.1:11.4.1",
    ):
        assert key in manual
    # partly automatable requirements stay automated
    assert "pci-dss-4.0.1:10.2.1" not in manual and "gdpr:Art. 32(1)(a)" not in manual
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            assert bool(requirement.attestation_question) == requirement.manual, requirement.key


def test_manual_governance_controls(shipped: Path) -> None:
    catalog = load_catalog()
    governance = [c for c in catalog.controls if c.stage == Stage.GOVERNANCE and c.manual]
    assert len(governance) >= 8
    for control in governance:
        assert control.rule is None and control.resource_types == ()
        assert control.attestation_question and control.maps_to
    mapped = {(fw, rid) for c in governance for fw, ids in c.maps_to.items() for rid in ids}
    for needed in (
        ("pci-dss-4.0.1", "12.10.1"),
        ("gdpr", "Art. 35"),
        ("gdpr", "Art. 30"),
        ("pci-dss-4.0.1", "11.4.1"),
        ("gdpr", "Art. 25(1)"),
        ("hipaa", "164.308(a)(1)(ii)(A)"),
        ("pci-dss-4.0.1", "7.2.4"),
        ("hipaa", "164.308(a)(7)(ii)(B)"),
        ("hipaa", "164.308(a)(8)"),
        ("hipaa", "164.316(b)(2)(i)"),
        ("gdpr", "Art. 5(2)"),
    ):
        assert needed in mapped


# ---------------------------------------------------------------- loading examples


def test_example_controls_load_with_sources_and_effective_rules(shipped: Path) -> None:
    catalog = load_catalog([BASIC], known_resource_types=KNOWN_TYPES)
    bucket = catalog.control("ML-DATA-901")
    assert bucket is not None
    assert bucket.stage == Stage.DATA and bucket.severity == Severity.HIGH
    assert bucket.resource_types == ("AWS::S3::Bucket",)
    assert bucket.source == f"{BASIC}/data/aws-example.yaml:3"
    assert bucket.maps_to["pci-dss-4.0.1"] == ("3.5.1",)
    assert bucket.providers == frozenset({"aws"})
    # shell variables in snippets stay for the shell
    assert "--bucket ${BUCKET}" in bucket.remediation_snippet

    logs = catalog.control("ML-MON-901")
    assert logs is not None
    assert logs.rule == "retentionInDays >= `365`"
    assert logs.title == "Example log groups keep logs for at least 365 days"
    assert logs.remediation_snippet.endswith("--retention-in-days 365")
    assert [(p.name, p.value, p.default, p.floor) for p in logs.params] == [
        ("min_retention_days", 365, 365, 365)
    ]
    doc = {"retentionInDays": 90}
    assert not holds(logs.rule, doc)
    assert render_reason(logs.fail_reason, doc) == (
        "Retention is 90 days; at least 365 are required."
    )

    region = catalog.control("ML-TRAIN-951")
    assert region is not None and region.rule is not None
    assert region.providers == frozenset({"gcp"})
    assert holds(region.rule, {"location": "europe-west4"})
    assert not holds(region.rule, {"location": "us-central1"})
    assert region.fail_reason.endswith("approved regions are europe-west1, europe-west4.")


def test_controls_are_sorted_by_id_and_shipped_ones_are_kept(shipped: Path) -> None:
    catalog = load_catalog([BASIC])
    ids = [c.id for c in catalog.controls]
    assert ids == sorted(ids)
    assert {"ML-GOV-001", "ML-DATA-901", "ML-MON-901", "ML-TRAIN-951"} <= set(ids)


def test_resource_types_are_only_checked_when_known_types_are_given(shipped: Path) -> None:
    load_catalog([BROKEN / "unknown_resource_type"])  # no known types: accepted
    with pytest.raises(UserError, match="AWS::S3::Bukket"):
        load_catalog([BROKEN / "unknown_resource_type"], known_resource_types=KNOWN_TYPES)


def test_non_yaml_files_and_hidden_folders_are_ignored(shipped: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(BASIC, extra)
    (extra / "README.md").write_text("# notes\n")
    (extra / ".drafts").mkdir()
    (extra / ".drafts" / "broken.yaml").write_text("controls: [\n")
    assert load_catalog([extra]).control("ML-DATA-901") is not None


def test_empty_file_is_refused(shipped: Path, tmp_path: Path) -> None:
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "empty.yaml").write_text("# nothing here\n")
    with pytest.raises(UserError) as caught:
        load_catalog([tmp_path / "extra"])
    assert str(caught.value).startswith(f"{tmp_path}/extra/empty.yaml:1: file is empty")


def test_framework_file_in_same_folder_twice_is_refused(shipped: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra" / "frameworks"
    extra.mkdir(parents=True)
    text = (REPO / "controls" / "frameworks" / "gdpr.yaml").read_text()
    (extra / "a.yaml").write_text(text)
    (extra / "b.yaml").write_text(text)
    with pytest.raises(UserError) as caught:
        load_catalog([tmp_path / "extra"])
    assert caught.value.message == (
        f"framework 'gdpr' is defined twice; also in {tmp_path}/extra/frameworks/a.yaml"
    )
    assert caught.value.file == f"{tmp_path}/extra/frameworks/b.yaml"


# ---------------------------------------------------------------- overrides


def test_controls_folder_overrides_a_shipped_control_and_adds_one(shipped: Path) -> None:
    base = load_catalog()
    catalog = load_catalog([OVERRIDE])
    assert len(catalog.controls) == len(base.controls) + 1
    gov = catalog.control("ML-GOV-001")
    assert gov is not None
    assert gov.severity == Severity.CRITICAL
    assert gov.maps_to == {"pci-dss-4.0.1": ("12.10.1",)}
    assert gov.source == f"{OVERRIDE}/governance/manual.yaml:3"
    assert gov.digest != base.control("ML-GOV-001").digest  # type: ignore[union-attr]
    acme = catalog.control("ACME-DATA-001")
    assert acme is not None and acme.stage == Stage.DATA
    assert holds(acme.rule or "", {"Tags": [{"Key": "classification", "Value": "internal"}]})
    assert not holds(acme.rule or "", {"Tags": []})
    # untouched shipped controls keep their definition
    assert catalog.control("ML-GOV-002") == base.control("ML-GOV-002")


def test_the_later_folder_wins(shipped: Path, tmp_path: Path) -> None:
    later = tmp_path / "later" / "governance"
    later.mkdir(parents=True)
    text = (OVERRIDE / "governance" / "manual.yaml").read_text()
    (later / "gov.yaml").write_text(text.replace("severity: critical", "severity: low"))
    catalog = load_catalog([OVERRIDE, tmp_path / "later"])
    assert catalog.control("ML-GOV-001").severity == Severity.LOW  # type: ignore[union-attr]
    catalog = load_catalog([tmp_path / "later", OVERRIDE])
    assert catalog.control("ML-GOV-001").severity == Severity.CRITICAL  # type: ignore[union-attr]


def test_an_extra_framework_file_replaces_the_shipped_one(shipped: Path, tmp_path: Path) -> None:
    """Replacing a framework drops requirements; controls still mapping to them are refused."""
    folder = tmp_path / "extra" / "frameworks"
    folder.mkdir(parents=True)
    (folder / "gdpr.yaml").write_text(
        "framework: gdpr\nname: GDPR (subset)\nversion: '1'\nsource: x\n"
        "requirements:\n  - id: 'Art. 32(1)(a)'\n    title: Encryption\n"
    )
    with pytest.raises(UserError) as caught:
        load_catalog([tmp_path / "extra"])
    assert "unknown requirement" in caught.value.message
    assert caught.value.file is not None and caught.value.file.startswith("controls/governance/")


# ---------------------------------------------------------------- hashes


def test_catalog_hash_is_stable_and_location_independent(shipped: Path, tmp_path: Path) -> None:
    first = load_catalog([BASIC])
    assert load_catalog([BASIC]).sha256 == first.sha256
    moved = tmp_path / "elsewhere"
    shutil.copytree(BASIC, moved)
    again = load_catalog([moved])
    assert again.sha256 == first.sha256
    assert [c.digest for c in again.controls] == [c.digest for c in first.controls]
    assert again.control("ML-DATA-901").source != first.control("ML-DATA-901").source  # type: ignore[union-attr]


def test_catalog_hash_and_digest_change_with_a_byte(shipped: Path, tmp_path: Path) -> None:
    first = load_catalog([BASIC])
    changed = tmp_path / "changed"
    shutil.copytree(BASIC, changed)
    path = changed / "data" / "aws-example.yaml"
    path.write_text(path.read_text().replace("== 'aws:kms'", "== 'aws:kms:dsse'"))
    second = load_catalog([changed])
    assert second.sha256 != first.sha256
    assert second.control("ML-DATA-901").digest != first.control("ML-DATA-901").digest  # type: ignore[union-attr]
    assert second.control("ML-MON-901").digest == first.control("ML-MON-901").digest  # type: ignore[union-attr]
    # a comment changes the file (hash) but not the control's definition (digest)
    comment = tmp_path / "comment"
    shutil.copytree(BASIC, comment)
    path = comment / "data" / "aws-example.yaml"
    path.write_text("# reviewed 2026-11-01\n" + path.read_text())
    third = load_catalog([comment])
    assert third.sha256 != first.sha256
    assert third.control("ML-DATA-901").digest == first.control("ML-DATA-901").digest  # type: ignore[union-attr]


def test_requirement_mapping_change_changes_the_digest(shipped: Path, tmp_path: Path) -> None:
    first = load_catalog([BASIC])
    changed = tmp_path / "changed"
    shutil.copytree(BASIC, changed)
    path = changed / "data" / "aws-example.yaml"
    path.write_text(
        path.read_text().replace('pci-dss-4.0.1: ["3.5.1"]', 'pci-dss-4.0.1: ["3.6.1"]')
    )
    second = load_catalog([changed])
    assert second.control("ML-DATA-901").digest != first.control("ML-DATA-901").digest  # type: ignore[union-attr]
