"""The redactor's text pre-filters only skip work: with them and without them (every document
walked), every document comes out the same. Property-tested over documents built from names
that do and do not name secrets, in every case, with non-ASCII look-alikes that case folding
maps onto ASCII (the long s, the Kelvin sign)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.collect import redact
from auditor.collect.redact import Redactor

NAMES = [
    "team", "env", "labels", "tags", "Tags", "TagSet", "environment", "hyperparameters",
    "password", "DB_PASSWORD", "db-passwd", "\u017fecret", "api_key", "apiKey", "x-key", "KEY",
    "kmsKeyName", "token_limit", "auth", "OAuthClient", "session_key", "pwd", "Key", "Value",
    "name", "value", "TagKey", "TagValue", "clientSecret", "private-key", "\u212a", "monkey",
]  # fmt: skip
VALUES = st.sampled_from(
    ["ml", "prod", "hunter2", "AKIAABCDEFGHIJKLMNOP", "x=1", "password=abc", "", "é", "[REDACTED"]
)
KEYS = st.sampled_from(NAMES)
LEAVES = VALUES | st.integers(0, 3) | st.none()
DOCS = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(KEYS, children, max_size=4)
        | st.builds(lambda k, v: {"Key": k, "Value": v}, KEYS, VALUES)
        | st.builds(lambda k, v: {"name": k, "value": v}, KEYS, VALUES)
    ),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(doc=st.dictionaries(KEYS, DOCS, max_size=5))
def test_the_pre_filters_change_no_document(doc: dict[str, Any]) -> None:
    filtered = Redactor(b"salt").redact(doc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redact, "_may_name_secret", lambda lower: True)
        patch.setattr(redact, "_CONTAINER_HINTS", ('"',))
        walked = Redactor(b"salt").redact(doc)
    assert filtered == walked


def test_a_label_that_cannot_name_a_secret_is_not_walked() -> None:
    """The point of the pre-filter: labels such as {"team": "ml"} cost no tree walk."""
    calls: list[int] = []
    original = redact._Walk.node

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redact._Walk, "node", counting)
        out = Redactor(b"s").redact({"name": "b", "labels": {"team": "ml", "env": "prod"}})
        assert out == {"name": "b", "labels": {"team": "ml", "env": "prod"}} and not calls
        out = Redactor(b"s").redact({"name": "b", "labels": {"team": "ml", "password": "pw"}})
        assert calls and out["_redacted"] == ["labels.password"]
