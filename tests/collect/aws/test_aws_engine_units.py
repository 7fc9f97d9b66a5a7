"""Pure parts of the engine: error classification, templates, JSON, transforms, sharing."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from auditor.collect.aws.engine import _Shared, classify, plain, render
from auditor.collect.aws.specs import decoded_lifecycle, event_selectors, policy_document


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "ListThings",
    )


def test_classify_names_the_fault() -> None:
    assert classify(_client_error("AccessDenied", "no", 403)) == ("AccessDenied", "no")
    assert classify(_client_error("501", "", 501))[0] == "NotImplemented"
    assert (
        classify(_client_error("InternalFailure", "The x action is not yet implemented", 500))[0]
        == "NotImplemented"
    )
    code, message = classify(
        _client_error("500", "<html><h1>Internal Server Error</h1></html>", 500)
    )
    assert code == "HTTP500" and message == "Internal Server Error"
    assert (
        classify(EndpointConnectionError(endpoint_url="http://x"))[0] == "EndpointConnectionError"
    )
    assert classify(ReadTimeoutError(endpoint_url="http://x"))[0] == "Timeout"


def test_render_fills_jmespath_or_gives_none() -> None:
    assert render("arn:{_partition}:s3:::{Name}", {"Name": "b", "_partition": "aws"}) == (
        "arn:aws:s3:::b"
    )
    assert render("{logGroupArn || arn}", {"arn": "a:*"}) == "a:*"
    assert render("arn:{Missing}", {}) is None


def test_plain_makes_json_ready_copies() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = {"A": moment, "ResponseMetadata": {"x": 1}, "L": [{"B": moment}], "C": b"\x00"}
    assert plain(raw) == {
        "A": "2026-01-02T03:04:05Z",
        "L": [{"B": "2026-01-02T03:04:05Z"}],
        "C": "AA==",
    }


def test_policy_statement_is_always_a_list() -> None:
    single = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow"}}'
    assert policy_document(single)["Statement"] == [{"Effect": "Allow"}]
    encoded = "%7B%22Statement%22%3A%5B%5D%7D"
    assert policy_document(encoded) == {"Statement": []}
    assert policy_document("not json") == "not json"


def test_lifecycle_content_decoded_and_selectors_complete() -> None:
    content = base64.b64encode(b"echo hi").decode()
    decoded = decoded_lifecycle({"OnStart": [{"Content": content}], "Name": "x"})
    assert decoded == {"OnStart": [{"Content": "echo hi"}], "Name": "x"}
    assert decoded_lifecycle({"OnCreate": [{"Content": "%%%"}]})["OnCreate"][0]["Content"] == "%%%"
    assert event_selectors({"TrailARN": "t", "EventSelectors": []}) == {
        "EventSelectors": [],
        "AdvancedEventSelectors": [],
    }


def test_shared_results_are_computed_once_under_concurrency() -> None:
    shared = _Shared()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(shared.get("k", compute))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8 and len(calls) == 1
