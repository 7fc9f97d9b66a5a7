"""Secrets are replaced before storage; identifiers and tags are left alone."""

from __future__ import annotations

import json

from auditor.collect.redact import MARKER_PREFIX, REDACTED_KEY, Redactor

SECRET = "hunter2-very-secret"


def test_credentials_in_settings_are_replaced_by_a_salted_marker() -> None:
    doc = {
        "TrainingJobName": "fraud-train",
        "HyperParameters": {"epochs": "10", "db_password": SECRET},
        "Environment": {"API_TOKEN": SECRET, "MODE": "train"},
    }
    out = Redactor(b"salt").redact(doc)
    assert SECRET not in json.dumps(out)
    assert out["HyperParameters"]["epochs"] == "10"
    assert out["Environment"]["MODE"] == "train"
    assert out["HyperParameters"]["db_password"].startswith(MARKER_PREFIX)
    assert out[REDACTED_KEY] == ["Environment.API_TOKEN", "HyperParameters.db_password"]


def test_values_that_look_like_credentials_are_replaced_anywhere() -> None:
    doc = {
        "Description": "uses AKIAABCDEFGHIJKLMNOP for uploads",
        "Script": "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
        "Args": ["--url", "https://admin:pa55@db.internal/x"],
    }
    out = Redactor(b"salt").redact(doc)
    assert "AKIAABCDEFGHIJKLMNOP" not in json.dumps(out)
    assert "pa55" not in json.dumps(out)
    assert sorted(out[REDACTED_KEY]) == ["Args[1]", "Description", "Script"]


def test_gcp_env_pairs_are_redacted_by_name() -> None:
    doc = {
        "containerSpec": {
            "env": [{"name": "DB_PASSWORD", "value": SECRET}, {"name": "A", "value": "b"}]
        }
    }
    out = Redactor(b"salt").redact(doc)
    env = out["containerSpec"]["env"]
    assert env[0]["value"].startswith(MARKER_PREFIX) and env[1]["value"] == "b"
    assert out[REDACTED_KEY] == ["containerSpec.env[0].DB_PASSWORD"]


def test_identifiers_and_tags_are_not_secrets() -> None:
    doc = {
        "KmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/1234",
        "Tags": [{"Key": "team", "Value": "fraud-ml"}],
        "Environment": {"KMS_KEY_ID": "alias/x", "PUBLIC_KEY": "ssh-ed25519 AAAA"},
    }
    out = Redactor(b"salt").redact(doc)
    assert out == doc and REDACTED_KEY not in out


def test_marker_is_stable_per_salt_and_changes_with_the_value() -> None:
    one, two = Redactor(b"store-a"), Redactor(b"store-b")
    doc = {"Environment": {"PASSWORD": SECRET}}
    assert one.redact(doc) == one.redact(doc)
    assert one.redact(doc) != two.redact(doc)
    changed = one.redact({"Environment": {"PASSWORD": SECRET + "!"}})
    assert changed["Environment"]["PASSWORD"] != one.redact(doc)["Environment"]["PASSWORD"]


def test_redacting_twice_changes_nothing() -> None:
    redactor = Redactor(b"salt")
    once = redactor.redact({"Environment": {"PASSWORD": SECRET}})
    assert redactor.redact(once) == once


def test_references_to_a_secret_store_are_kept() -> None:
    doc = {
        "Environment": {
            "DB_PASSWORD_SECRET": "projects/acme/secrets/db-password/versions/latest",
            "API_KEY_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf",
        }
    }
    assert Redactor(b"salt").redact(doc) == doc


def test_secrets_inside_strings_are_replaced_and_the_rest_kept() -> None:
    script = (
        "export DB_PASSWORD=pw-one\naws configure set aws_secret_access_key sk/two\n"
        "TOKENIZER_PARALLELISM=false\nMAX_TOKENS=512\nexport PATH=$PATH:/opt\n"
        "db:\n  password: pw-three\n"
    )
    doc = {
        "Script": script,
        "Conn": "Server=db;User ID=sa;Password=pw-four;Encrypt=true",
        "Url": "postgres://app:pw-five@db/x",
        "Policy": '{"Action": "secretsmanager:GetSecretValue", "Bool": {"aws:SecureTransport": "false"}}',
        "Ref": "DB_PASSWORD=$FROM_SECRETS_MANAGER",
    }
    out = Redactor(b"salt").redact(doc)
    text = json.dumps(out)
    for secret in ("pw-one", "sk/two", "pw-three", "pw-four", "pw-five"):
        assert secret not in text
    assert "TOKENIZER_PARALLELISM=false" in out["Script"] and "MAX_TOKENS=512" in out["Script"]
    assert out["Conn"].endswith(";Encrypt=true") and out["Conn"].startswith("Server=db;User ID=sa;")
    assert out["Url"].startswith("postgres://app:" + MARKER_PREFIX)
    assert out["Policy"] == doc["Policy"] and out["Ref"] == doc["Ref"]
    assert out[REDACTED_KEY] == ["Conn", "Script", "Url"]


def test_tags_and_labels_keyed_as_secrets_are_redacted() -> None:
    doc = {
        "Tags": [{"Key": "db_password", "Value": "tag-secret"}, {"Key": "team", "Value": "ml"}],
        "TagSet": [{"Key": "password", "Value": "s3-secret"}],
        "labels": {"password": "label-secret", "env": "prod"},
    }
    out = Redactor(b"salt").redact(doc)
    text = json.dumps(out)
    assert not {"tag-secret", "s3-secret", "label-secret"} & {s for s in text.split('"')}
    assert out["Tags"][1] == {"Key": "team", "Value": "ml"} and out["labels"]["env"] == "prod"
    assert out[REDACTED_KEY] == ["TagSet[0].password", "Tags[0].db_password", "labels.password"]
