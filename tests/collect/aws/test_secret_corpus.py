"""Secrets planted in an AWS estate never reach anything the tool writes.

Each form a person leaves in ML configuration is planted in moto (lifecycle scripts, container
environments, hyper-parameters, tags); the real CLI collects, evaluates and reports (HTML, PDF,
CSV, JSON) at -vv; then every byte written is searched for every planted secret: store objects
gunzipped, Parquet decoded, findings, report files with the PDF's text and attachments, and the
captured logs and console output. The controls that read the redaction marks FAIL.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from aws_estate import ACCOUNT, Proxy, bedrock_guardrails, no_monitoring_schedules, reset
from pypdf import PdfReader

from auditor.cli import run

ROOT = Path(__file__).resolve().parents[3]
RECORDS = ROOT / "build" / "reliability"
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402  (a script, not a package)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm-exec"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/train:1"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCplantedPEMbody"
SA_KEY_BODY = "MIIEsaKEYplantedGCPserviceAccountPrivateKeyBodyZZ"
WHERE = {
    "export DB_PASSWORD=": "notebook lifecycle script (base64)",
    "aws configure set aws_secret_access_key": "notebook lifecycle script (base64)",
    "AKIA access key": "notebook lifecycle script (base64)",
    "PEM private key block": "notebook lifecycle script (base64)",
    "YAML password:": "notebook lifecycle script (base64)",
    "connection string Password=": "model container environment",
    "URL with credentials": "model container environment",
    "GitHub token": "model container environment (git URL)",
    "hyper-parameter connection string": "training-job hyper-parameters (JDBC URL)",
    "Slack token": "training-job environment",
    "Stripe key": "training-job environment",
    "GCP service-account key": "training-job environment (service-account JSON)",
    "S3 tag password": "S3 bucket tag `password`",
    "SageMaker tag db_password": "SageMaker model tag `db_password`",
}
SECRETS = {
    "export DB_PASSWORD=": "LcDbPw-9f8e7d6c",
    "aws configure set aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYplanted01",
    "AKIA access key": "AKIAZQPLANTED1234567",
    "PEM private key block": PEM_BODY,
    "YAML password:": "YamlPw-9090ffee",
    "connection string Password=": "ConnPw-4455aabb",
    "URL with credentials": "UrlPw-7788bbcc",
    "GitHub token": "ghp_" + "Pl4nted" * 5 + "x",
    "hyper-parameter connection string": "HpPw-1212ccdd",
    "Slack token": "xoxb-123456789012-plantedSlackTok",
    "Stripe key": "sk_live_" + "PlantedStripe123456",
    "GCP service-account key": SA_KEY_BODY,
    "S3 tag password": "S3TagPw-3434ddee",
    "SageMaker tag db_password": "SmTagPw-5656eeff",
}
S = SECRETS


def _plant() -> None:
    iam = boto3.client("iam")
    iam.create_role(
        RoleName="sm-exec",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    script = (
        "#!/bin/bash\nset -e\n"
        f"export DB_PASSWORD={S['export DB_PASSWORD=']}\n"
        f"aws configure set aws_secret_access_key {S['aws configure set aws_secret_access_key']}\n"
        f"export AWS_ACCESS_KEY_ID={S['AKIA access key']}\n"
        "cat > /home/ec2-user/app.yaml <<EOF\ndb:\n"
        f"  password: {S['YAML password:']}\n  user: app\nEOF\n"
        "cat > /home/ec2-user/key.pem <<EOF\n-----BEGIN RSA PRIVATE KEY-----\n"
        f"{PEM_BODY}\n-----END RSA PRIVATE KEY-----\nEOF\n"
    )
    sm = boto3.client("sagemaker")
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="nb-setup",
        OnStart=[{"Content": base64.b64encode(script.encode()).decode()}],
    )
    sm.create_notebook_instance(
        NotebookInstanceName="research",
        InstanceType="ml.t3.medium",
        RoleArn=ROLE,
        LifecycleConfigName="nb-setup",
    )
    service_account = json.dumps(
        {
            "type": "service_account",
            "private_key_id": "0123abcd",
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{SA_KEY_BODY}\n-----END PRIVATE KEY-----\n",
            "client_email": "trainer@acme.iam.gserviceaccount.com",
        }
    )
    sm.create_model(
        ModelName="churn",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "Environment": {
                "DB_CONN": f"Server=db;User ID=sa;Password={S['connection string Password=']};",
                "DATABASE_URL": f"postgres://app:{S['URL with credentials']}@db.internal/x",
                "GIT_REMOTE": f"https://{S['GitHub token']}@github.invalid/acme/x.git",
                "LOG_LEVEL": "info",
            },
        },
        Tags=[{"Key": "db_password", "Value": S["SageMaker tag db_password"]}],
    )
    sm.create_training_job(
        TrainingJobName="churn-train",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={
            "epochs": "10",
            "jdbc": f"jdbc:sqlserver://db;user=sa;password={S['hyper-parameter connection string']}",
        },
        OutputDataConfig={"S3OutputPath": "s3://out/x"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Environment={
            "NOTIFY": f"slack {S['Slack token']}",
            "BILLING": f"key {S['Stripe key']}",
            "SA_JSON": service_account,
        },
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ml-secrets")
    s3.put_bucket_tagging(
        Bucket="ml-secrets",
        Tagging={"TagSet": [{"Key": "password", "Value": S["S3 tag password"]}]},
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture()
def planted(proxy: Proxy, capsys: pytest.CaptureFixture[str]) -> Iterator[_Records]:
    """The estate, planted before the tool's logs are captured (planting logs its own calls)."""
    reset(proxy)
    _plant()
    proxy.rules += [bedrock_guardrails, no_monitoring_schedules]  # what moto lacks
    capsys.readouterr()
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _record(corpus: dict[str, str]) -> None:
    """What was planted and searched, for docs/RELIABILITY.md; it must show this run's forms."""
    searched = set()
    for name in corpus:
        if name.startswith("store/objects/"):
            searched.add("store objects (gunzipped)" if "gunzipped" in name else "store objects")
        elif name.endswith("(decoded)"):
            searched.add("Parquet change sets (decoded)")
        elif " attachment " in name:
            searched.add("PDF attachments")
        elif name.endswith("(text)"):
            searched.add("PDF text")
        elif name.startswith(("console", "logs")):
            searched.add("console output and logs (-vv)")
        elif name.endswith((".html", ".pdf", ".json", ".csv")):
            searched.add(f"{name.rsplit('.', 1)[1]} files")
    RECORDS.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"form": form, "where": WHERE[form], "searched": sorted(searched)})
        for form in SECRETS
    ]
    (RECORDS / "secrets.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert reliability_report.section_current(reliability_report.render_secrets()), (
        "docs/RELIABILITY.md is not current: run python scripts/reliability_report.py"
    )


def _written(folder: Path) -> dict[str, str]:
    """Every file under `folder` as text, decoded the way a reader would decode it."""
    texts: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = str(path.relative_to(folder))
        texts[name] = data.decode("latin-1")  # the raw bytes, too
        if path.suffix == ".gz":
            texts[name + " (gunzipped)"] = gzip.decompress(data).decode("utf-8", "replace")
        elif path.suffix == ".parquet":
            table = pq.read_table(io.BytesIO(data))
            texts[name + " (decoded)"] = json.dumps(table.to_pylist(), default=str)
        elif path.suffix == ".pdf":
            reader = PdfReader(io.BytesIO(data))
            texts[name + " (text)"] = "\n".join(page.extract_text() or "" for page in reader.pages)
            for attachment, contents in reader.attachments.items():
                for index, blob in enumerate(contents):
                    texts[f"{name} attachment {attachment}[{index}]"] = blob.decode(
                        "utf-8", "replace"
                    )
    return texts


@pytest.mark.slow
def test_no_planted_secret_reaches_anything_the_tool_writes(
    planted: _Records, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = planted
    store, out, reports = tmp_path / "store", tmp_path / "out", tmp_path / "reports"
    base = ["--store", str(store), "-vv"]
    assert run([*base, "collect", "aws", "--regions", "us-east-1"]) == 0
    assert run([*base, "evaluate", "--out", str(out), "--format", "findings"]) == 0
    code = run(
        [*base, "report", "--from", "2019-01-01", "--to", "2099-12-31",
         "--formats", "html,pdf", "--out", str(reports)]
    )  # fmt: skip
    assert code == 0
    console = capsys.readouterr()
    corpus = _written(tmp_path)
    corpus["console stdout"], corpus["console stderr"] = console.out, console.err
    corpus["logs"] = "\n".join(logs.lines)
    assert any(".pdf (text)" in name for name in corpus) and any("attachment" in n for n in corpus)
    assert logs.lines  # the logs really were captured
    leaks = {
        (form, name)
        for form, secret in SECRETS.items()
        for name, text in corpus.items()
        if secret in text
    }
    assert not leaks, sorted(leaks)
    _record(corpus)

    findings = json.loads((out / "findings.json").read_text())["findings"]
    status = {(f["control_id"], f["resource_id"].rsplit("/", 1)[-1]): f for f in findings}
    assert status[("ML-TRAIN-013", "research")]["status"] == "FAIL"  # the lifecycle script
    failing = {
        f["resource_id"].rsplit("/", 1)[-1]
        for f in findings
        if f["status"] == "FAIL" and "plaintext secrets" in f["reason"]
    }
    assert failing >= {"research", "churn", "churn-train"}
    # tags keyed as secrets fail the tag control on the bucket and the model that carry them
    tagged = {
        f["resource_id"]
        for f in findings
        if f["control_id"] == "ML-GOV-016" and f["status"] == "FAIL"
    }
    assert "arn:aws:s3:::ml-secrets" in tagged and any(r.endswith(":model/churn") for r in tagged)
    [notebook] = [f for f in findings if f["control_id"] == "ML-TRAIN-013"]
    assert "LifecycleConfig.OnStart[0].Content" in notebook["reason"]
