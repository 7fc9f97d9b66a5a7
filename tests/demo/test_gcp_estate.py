"""The bundled GCP sample export and its weekly variants, read by the real export collector and
judged by the shipped GCP controls: planted misconfigurations FAIL, hardened resources PASS."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pytest

from auditor.catalog import load_catalog
from auditor.collect.gcp.export import GcpExportCollector
from auditor.demo import _approved_regions, gcp_estate
from auditor.models import CollectionError, Control, EvidenceDoc, MemorySink
from auditor.rules import holds

PROD = "310000000011"
SBX = "310000000022"
VERTEX_PROD = f"//aiplatform.googleapis.com/projects/{PROD}/locations/europe-west4"
VERTEX_SBX = f"//aiplatform.googleapis.com/projects/{SBX}/locations/us-central1"
KMS = "//cloudkms.googleapis.com/projects"
SCRATCH = "//storage.googleapis.com/acme-ml-sandbox-scratch"
TRAINING_DATA = "//storage.googleapis.com/acme-ml-prod-training-data"
ANALYST_WB = gcp_estate.ANALYST_NOTEBOOK
LEGACY_WB = (
    "//notebooks.googleapis.com/projects/acme-ml-prod/locations/europe-west4-b/instances/"
    "legacy-feature-eng"
)
SANDBOX_WB = (
    "//notebooks.googleapis.com/projects/acme-ml-sandbox/locations/us-central1-a/instances/"
    "sandbox-notebook"
)
PROD_PROJECT = f"//cloudresourcemanager.googleapis.com/projects/{PROD}"
SBX_PROJECT = f"//cloudresourcemanager.googleapis.com/projects/{SBX}"
SBX_KEY = gcp_estate.SANDBOX_KEY
PROD_KEY = f"{KMS}/acme-ml-prod/locations/europe-west4/keyRings/ml-prod/cryptoKeys/ml-data"
CHURN_EP = f"{VERTEX_PROD}/endpoints/4811223344556677889"
DEMO_EP = f"{VERTEX_SBX}/endpoints/9012345678901234567"
PROD_JOB = f"{VERTEX_PROD}/customJobs/6655443322110099887"
SBX_JOB = f"{VERTEX_SBX}/customJobs/8899001122334455667"
SBX_MODEL = f"{VERTEX_SBX}/models/7788990011223344556"
PROD_MODEL = f"{VERTEX_PROD}/models/1234567890123456789"
SBX_LOG_BUCKET = (
    "//logging.googleapis.com/projects/acme-ml-sandbox/locations/global/buckets/_Default"
)
ORG_SINK = "//logging.googleapis.com/organizations/410000000001/sinks/org-audit-export"
SBX_SINK = f"//logging.googleapis.com/projects/{SBX}/sinks/sandbox-audit-to-gcs"
SBX_TEMPLATE = f"{VERTEX_SBX}/notebookRuntimeTemplates/default-runtime-template"
PROD_TEMPLATE = f"{VERTEX_PROD}/notebookRuntimeTemplates/prod-colab-private"
SBX_KEY_FILE = (
    "//iam.googleapis.com/projects/acme-ml-sandbox/serviceAccounts/"
    "notebook-runner@acme-ml-sandbox.iam.gserviceaccount.com/keys/e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1"
)
PROD_KEY_FILE = (
    "//iam.googleapis.com/projects/acme-ml-prod/serviceAccounts/"
    "ci-deployer@acme-ml-prod.iam.gserviceaccount.com/keys/7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
)
PROD_ALERT = "//monitoring.googleapis.com/projects/310000000011/alertPolicies/14920000000000000011"
SBX_ALERT = "//monitoring.googleapis.com/projects/310000000022/alertPolicies/14920000000000000022"
PROD_AUDIT_LOG_BUCKET = (
    "//logging.googleapis.com/projects/acme-ml-prod/locations/europe-west4/buckets/org-audit"
)
SBX_REPO = "//artifactregistry.googleapis.com/projects/acme-ml-sandbox/locations/us-central1/repositories/sandbox-images"


def _is_gcp_control(control: Control) -> bool:
    return (
        not control.manual
        and int(control.id.rsplit("-", 1)[1]) >= 51
        and all(not t.startswith("AWS::") for t in control.resource_types)
    )


@lru_cache(maxsize=1)
def gcp_controls() -> dict[str, Control]:
    catalog = load_catalog(params={"approved_regions": _approved_regions()})
    return {c.id: c for c in catalog.controls if _is_gcp_control(c)}


@cache
def _collected(week: int, tmp: str) -> tuple[dict[str, EvidenceDoc], tuple[CollectionError, ...]]:
    path = gcp_estate.export_for_week(week, Path(tmp) / f"w{week}")
    sink = MemorySink()
    stats = GcpExportCollector(path).collect(sink)
    assert stats["rejected_lines"] == 0
    return {doc.resource_id: doc for doc in sink.docs}, tuple(sink.errors)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = str(tmp_path_factory.mktemp("gcp-weeks"))

    def get(week: int) -> dict[str, EvidenceDoc]:
        docs, errors = _collected(week, tmp)
        assert errors == ()
        return docs

    return get


def verdict(control_id: str, doc: EvidenceDoc) -> str:
    control = gcp_controls()[control_id]
    assert doc.resource_type in control.resource_types, (control_id, doc.resource_type)
    if control.applies_if and not holds(control.applies_if, doc.data):
        return "NOT_APPLICABLE"
    assert control.rule is not None
    return "PASS" if holds(control.rule, doc.data) else "FAIL"


# ------------------------------------------------------------------ the file itself


def test_sample_is_gcloud_export_ndjson() -> None:
    lines = gcp_estate.sample_path().read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 50
    kinds = {"resource": 0, "iam_policy": 0}
    for number, line in enumerate(lines, 1):
        record = json.loads(line)
        assert {"name", "asset_type", "ancestors", "update_time"} <= set(record), number
        assert ("resource" in record) != ("iam_policy" in record), number
        kind = "resource" if "resource" in record else "iam_policy"
        kinds[kind] += 1
        if kind == "resource":
            assert {"version", "discovery_document_uri", "discovery_name", "data"} <= set(
                record["resource"]
            ), number
        else:
            assert isinstance(record["iam_policy"]["bindings"], list)
            for config in record["iam_policy"].get("audit_configs", []):
                assert "audit_log_configs" in config  # snake_case, as gcloud writes it
    assert kinds["resource"] > kinds["iam_policy"] > 5


def test_sample_has_every_asset_type_the_gcp_controls_read() -> None:
    types = {json.loads(line)["asset_type"] for line in gcp_estate.sample_path().open()}
    needed = {t for c in gcp_controls().values() for t in c.resource_types}
    assert len(gcp_controls()) >= 28
    assert needed <= types, sorted(needed - types)
    versions = {
        json.loads(line)["resource"]["version"]
        for line in gcp_estate.sample_path().open()
        if '"notebooks.googleapis.com/Instance"' in line and '"resource"' in line
    }
    assert versions == {"v1", "v2"}


def test_hostile_labels_are_planted() -> None:
    text = gcp_estate.sample_path().read_text(encoding="utf-8")
    assert "<img src=x onerror=alert(1)>" in text
    assert "=cmd|' /C calc'!A0" in text


# ------------------------------------------------------------------ the weeks


def test_week_one_is_the_bundled_sample_and_exports_are_deterministic(tmp_path: Path) -> None:
    first = gcp_estate.export_for_week(1, tmp_path / "a")
    assert first.read_bytes() == gcp_estate.sample_path().read_bytes()
    again = gcp_estate.export_for_week(9, tmp_path / "b").read_bytes()
    assert gcp_estate.export_for_week(9, tmp_path / "c").read_bytes() == again


@pytest.mark.parametrize("week", [0, 14, -1])
def test_weeks_outside_the_quarter_are_refused(week: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="week must be"):
        gcp_estate.export_for_week(week, tmp_path)
    with pytest.raises(ValueError):
        gcp_estate.week_changes(week)


def _record(week: int, name: str, *, iam: bool = False) -> dict[str, Any]:
    return gcp_estate._find(gcp_estate.records_for_week(week), name, iam=iam)


def test_weeks_change_as_described() -> None:
    described = {week: gcp_estate.week_changes(week) for week in range(1, 14)}
    assert [w for w, changes in described.items() if changes] == [5, 7, 9, 11]

    def public_members(week: int) -> list[str]:
        policy = _record(week, SCRATCH, iam=True)["iam_policy"]
        return [m for b in policy["bindings"] for m in b["members"] if m.startswith("all")]

    assert public_members(4) == ["allUsers"] and public_members(5) == []

    def names(week: int) -> set[str]:
        return {r["name"] for r in gcp_estate.records_for_week(week)}

    assert gcp_estate.FRAUD_ENDPOINT not in names(6) and gcp_estate.FRAUD_ENDPOINT in names(7)
    setup = [_record(w, ANALYST_WB)["resource"]["data"]["gceSetup"] for w in (8, 9)]
    assert setup[0]["disablePublicIp"] is True and setup[1]["disablePublicIp"] is False
    periods = [_record(w, SBX_KEY)["resource"]["data"]["rotationPeriod"] for w in (10, 11)]
    assert periods == ["63072000s", "7776000s"]
    assert len(gcp_estate.records_for_week(13)) == len(gcp_estate.load_sample()) + 1


# ------------------------------------------------------------------ verdicts through the collector

WEEK_ONE_VERDICTS = [
    # planted misconfigurations
    ("ML-DATA-054", SCRATCH, "FAIL"),  # allUsers objectViewer
    ("ML-DATA-052", SCRATCH, "FAIL"),
    ("ML-DATA-051", SCRATCH, "FAIL"),  # no CMEK
    ("ML-DATA-062", SCRATCH, "FAIL"),  # us-central1 outside EU
    (
        "ML-DATA-059",
        "//bigquery.googleapis.com/projects/acme-ml-sandbox/datasets/experiments",
        "FAIL",
    ),
    ("ML-TRAIN-059", SANDBOX_WB, "FAIL"),  # v1 public IP
    ("ML-TRAIN-060", SANDBOX_WB, "FAIL"),
    ("ML-TRAIN-061", SANDBOX_WB, "FAIL"),
    ("ML-TRAIN-062", SANDBOX_WB, "FAIL"),
    ("ML-DEPLOY-053", DEMO_EP, "FAIL"),  # public invoker
    ("ML-DEPLOY-051", DEMO_EP, "FAIL"),
    ("ML-DEPLOY-052", DEMO_EP, "FAIL"),
    ("ML-DEPLOY-054", DEMO_EP, "NOT_APPLICABLE"),  # no payload capture: nothing to judge
    ("ML-MON-055", DEMO_EP, "FAIL"),
    ("ML-STORE-052", SBX_KEY, "FAIL"),  # 2-year rotation
    ("ML-TRAIN-055", SBX_JOB, "FAIL"),  # DB_PASSWORD in env, redacted by the collector
    ("ML-TRAIN-053", SBX_JOB, "FAIL"),  # default compute SA
    ("ML-TRAIN-054", SBX_JOB, "FAIL"),
    ("ML-TRAIN-065", SBX_JOB, "FAIL"),  # docker.io image
    ("ML-DEPLOY-059", SBX_MODEL, "FAIL"),  # HF_TOKEN
    ("ML-DEPLOY-058", SBX_MODEL, "FAIL"),
    ("ML-STORE-051", SBX_MODEL, "FAIL"),
    ("ML-TRAIN-068", SBX_PROJECT, "FAIL"),  # default SA with roles/editor
    ("ML-MON-052", SBX_PROJECT, "FAIL"),  # only DATA_READ for storage, not inherited
    ("ML-MON-056", SBX_PROJECT, "FAIL"),  # exempted member
    ("ML-MON-053", SBX_SINK, "FAIL"),  # disabled sink
    ("ML-MON-054", SBX_LOG_BUCKET, "NOT_APPLICABLE"),  # _Default is not the audit trail
    ("ML-TRAIN-069", SBX_KEY_FILE, "FAIL"),  # user-managed key that never expires
    ("ML-MON-058", SBX_PROJECT, "FAIL"),  # no ADMIN_READ for storage or BigQuery
    ("ML-MON-059", SBX_ALERT, "FAIL"),  # disabled, no channel
    ("ML-TRAIN-063", SBX_TEMPLATE, "FAIL"),
    ("ML-TRAIN-066", SBX_REPO, "FAIL"),
    ("ML-TRAIN-067", SBX_REPO, "FAIL"),
    # hardened resources
    ("ML-DATA-054", TRAINING_DATA, "PASS"),
    ("ML-DATA-051", TRAINING_DATA, "PASS"),
    ("ML-DATA-052", TRAINING_DATA, "PASS"),
    ("ML-DATA-062", TRAINING_DATA, "PASS"),
    ("ML-TRAIN-059", ANALYST_WB, "PASS"),  # v2 shape
    ("ML-TRAIN-060", ANALYST_WB, "PASS"),
    ("ML-TRAIN-061", ANALYST_WB, "PASS"),
    ("ML-TRAIN-062", ANALYST_WB, "PASS"),
    ("ML-TRAIN-059", LEGACY_WB, "PASS"),  # v1 shape
    ("ML-TRAIN-060", LEGACY_WB, "PASS"),
    ("ML-DEPLOY-051", CHURN_EP, "PASS"),
    ("ML-DEPLOY-053", CHURN_EP, "PASS"),
    ("ML-DEPLOY-054", CHURN_EP, "PASS"),
    ("ML-DEPLOY-055", CHURN_EP, "PASS"),
    ("ML-MON-055", CHURN_EP, "PASS"),
    ("ML-STORE-052", PROD_KEY, "PASS"),
    ("ML-STORE-053", PROD_KEY, "PASS"),
    ("ML-TRAIN-055", PROD_JOB, "PASS"),
    ("ML-TRAIN-053", PROD_JOB, "PASS"),
    ("ML-TRAIN-065", PROD_JOB, "PASS"),
    ("ML-DEPLOY-058", PROD_MODEL, "PASS"),
    ("ML-TRAIN-068", PROD_PROJECT, "PASS"),
    ("ML-MON-051", PROD_PROJECT, "PASS"),  # inherited from the organisation
    ("ML-MON-051", SBX_PROJECT, "PASS"),  # inherited from the organisation
    ("ML-MON-052", PROD_PROJECT, "PASS"),  # inherited from the folder
    ("ML-MON-053", ORG_SINK, "PASS"),
    ("ML-MON-057", PROD_PROJECT, "PASS"),  # organisation sink with includeChildren
    ("ML-MON-057", SBX_PROJECT, "PASS"),  # own sink disabled, but the organisation's covers it
    ("ML-TRAIN-063", PROD_TEMPLATE, "PASS"),
    ("ML-TRAIN-069", PROD_KEY_FILE, "PASS"),  # 90-day key
    ("ML-MON-058", PROD_PROJECT, "PASS"),  # organisation + folder
    ("ML-MON-059", PROD_ALERT, "PASS"),
    ("ML-MON-054", PROD_AUDIT_LOG_BUCKET, "PASS"),
    ("ML-DATA-067", SCRATCH, "PASS"),  # Google default encryption
    ("ML-DATA-067", TRAINING_DATA, "PASS"),  # CMEK
    ("ML-DEPLOY-061", CHURN_EP, "PASS"),  # production, two replicas
    ("ML-DEPLOY-061", DEMO_EP, "NOT_APPLICABLE"),  # sandbox: availability not judged
]


@pytest.mark.parametrize(("control_id", "resource_id", "expected"), WEEK_ONE_VERDICTS)
def test_week_one_verdicts(
    collected: Any, control_id: str, resource_id: str, expected: str
) -> None:
    assert verdict(control_id, collected(1)[resource_id]) == expected


def test_every_gcp_control_speaks_about_the_sample(collected: Any) -> None:
    """The demo shows each GCP control on at least one resource, and the planted estate makes
    most of them FAIL somewhere."""
    docs = list(collected(1).values())
    silent, failing = [], set()
    for control_id, control in gcp_controls().items():
        verdicts = [
            verdict(control_id, d) for d in docs if d.resource_type in control.resource_types
        ]
        if not {"PASS", "FAIL"} & set(verdicts):
            silent.append(control_id)
        if "FAIL" in verdicts:
            failing.add(control_id)
    assert silent == []
    assert len(failing) >= 40


def test_secrets_are_redacted_and_hostile_labels_kept_verbatim(collected: Any) -> None:
    docs = collected(1)
    job = docs[SBX_JOB].data
    env = job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"]
    assert "Sandb0x-Passw0rd!" not in json.dumps(job)
    assert env[0]["value"].startswith("[REDACTED sha256:")
    assert job["labels"]["cost-center"] == "=cmd|' /C calc'!A0"
    assert docs[SCRATCH].data["labels"]["owner"] == "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    ("control_id", "resource_id", "before", "after", "week"),
    [
        ("ML-DATA-054", SCRATCH, "FAIL", "PASS", 5),
        ("ML-TRAIN-059", ANALYST_WB, "PASS", "FAIL", 9),
        ("ML-STORE-052", SBX_KEY, "FAIL", "PASS", 11),
    ],
)
def test_weekly_changes_move_verdicts(
    collected: Any, control_id: str, resource_id: str, before: str, after: str, week: int
) -> None:
    assert verdict(control_id, collected(week - 1)[resource_id]) == before
    assert verdict(control_id, collected(week)[resource_id]) == after


def test_new_endpoint_appears_with_its_own_findings(collected: Any) -> None:
    assert gcp_estate.FRAUD_ENDPOINT not in collected(6)
    endpoint = collected(7)[gcp_estate.FRAUD_ENDPOINT]
    assert verdict("ML-DEPLOY-051", endpoint) == "PASS"
    assert verdict("ML-DEPLOY-052", endpoint) == "PASS"
    assert verdict("ML-DEPLOY-054", endpoint) == "NOT_APPLICABLE"  # capture off is fine
    assert verdict("ML-MON-055", endpoint) == "FAIL"


def test_without_the_organisation_sink_projects_fail_ml_mon_057(tmp_path: Path) -> None:
    """Remove the organisation's aggregated sink: ML-MON-053 then has no LogSink to say anything
    about for the sandbox except its disabled one, and ML-MON-057 fails the sandbox project (its
    own sink is disabled) and the production project (only _Required/_Default)."""
    path = tmp_path / "no-org-sink.ndjson"
    with gcp_estate.sample_path().open(encoding="utf-8") as source:
        path.write_text("".join(line for line in source if ORG_SINK not in line))
    sink = MemorySink()
    GcpExportCollector(path).collect(sink)
    assert sink.errors == []
    docs = {doc.resource_id: doc for doc in sink.docs}
    assert ORG_SINK not in docs
    assert verdict("ML-MON-057", docs[SBX_PROJECT]) == "FAIL"
    assert verdict("ML-MON-057", docs[PROD_PROJECT]) == "FAIL"
    sources = {s["source"] for s in docs[SBX_PROJECT].data["effectiveLogSinks"]}
    assert sources == {f"projects/{SBX}"}


@pytest.mark.parametrize(
    ("image", "trusted"),
    [
        ("europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest", True),
        ("gcr.io/cloud-aiplatform/training/tf-cpu.2-12.py310:latest", True),
        ("us.gcr.io/cloud-aiplatform/prediction/xgboost-cpu.1-7:latest", True),
        ("europe-west4-docker.pkg.dev/acme-ml-prod/serving/churn:3", True),
        ("docker.io/library/python:3.11", False),
        ("gcr.io/some-public-project/image:1", False),
    ],
)
def test_vertex_prebuilt_containers_are_trusted_by_default(image: str, trusted: bool) -> None:
    model = gcp_controls()["ML-DEPLOY-058"]
    training = gcp_controls()["ML-TRAIN-065"]
    assert model.rule is not None and training.rule is not None
    assert holds(model.rule, {"containerSpec": {"imageUri": image}}) is trusted
    job = {"jobSpec": {"workerPoolSpecs": [{"containerSpec": {"imageUri": image}}]}}
    assert holds(training.rule, job) is trusted


def test_residency_is_manual_until_the_organisation_approves_regions() -> None:
    """Without approved_regions the residency controls ask their question instead of judging."""
    shipped = {c.id: c for c in load_catalog().controls}
    for control_id in ("ML-DATA-062", "ML-DEPLOY-057", "ML-STORE-055"):
        (param,) = shipped[control_id].unset_params
        assert param.name == "approved_regions" and "approved" in (param.question or "")
        assert not gcp_controls()[control_id].unset_params


# ---------------------------------------------------------------- the same estate, listed live


@pytest.fixture(scope="module")
def asset_records() -> list[dict[str, Any]]:
    """The demo's week-1 estate, served by the local AssetService."""
    return [json.loads(line) for line in gcp_estate.sample_path().read_text().splitlines()]


def test_listing_the_demo_estate_live_gives_the_documents_of_its_export(
    asset_endpoint: str,
) -> None:
    from auditor.collect.gcp.live import GcpAssetCollector

    live, offline = MemorySink(), MemorySink()
    GcpAssetCollector(
        "organizations/410000000001",  # the demo organisation: every project, folder and asset
        endpoint=asset_endpoint,
        salt=b"s",
        sleep=lambda _seconds: None,
    ).collect(live)
    GcpExportCollector(gcp_estate.sample_path(), salt=b"s").collect(offline)
    assert live.errors == []
    assert sorted(d.sha256 for d in live.docs) == sorted(d.sha256 for d in offline.docs)
    assert len(live.docs) == 56
