"""Secrets found in evidence are replaced before anything is stored.

Environment variables, hyper-parameters and similar key/value settings are where people put
credentials. A value is redacted when its key names a secret (password, secret, token, key, ...)
or the value itself looks like one (AWS access key IDs, private keys, bearer tokens, URLs with a
password). It becomes `[REDACTED sha256:<16 hex>]`: a salted hash, so a changed secret shows as a
changed document without the value ever being written. The paths redacted are listed under the
document's `_redacted` key, which the "no plaintext secrets" controls fail on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from auditor.models import REDACTED_KEY

MARKER_PREFIX = "[REDACTED sha256:"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
    r"credential|auth|session[_-]?key|client[_-]?secret|\bpwd\b|(^|[_-])key$)",
    re.IGNORECASE,
)
# Keys that contain "key" but hold identifiers, not secrets.
_NOT_SECRET_KEY = re.compile(
    r"(kms|key[_-]?id$|keyname|key[_-]?arn|public[_-]?key|[_-]?(name|arn|id|file|path|ref|url|"
    r"length|expiry|ttl|type|version)$|^(passthrough|pass_through|token_?(limit|count)))",
    re.IGNORECASE,
)
# Credentials recognised by their own format, wherever they appear inside a string. Each match
# is one span to replace; group "v" (when present) is the part that is secret.
_SECRET_VALUE = re.compile(
    r"((?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{22,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\b[sr]k_live_[A-Za-z0-9]{16,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"
    r"|://[^/\s:@]+:[^/\s@]+@"
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,})"
)
_SPANS = re.compile(
    r"(?P<pem>-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$))"
    r"|(?<![A-Z0-9])(?P<akid>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])"
    r"|(?P<token>\bgh[pousr]_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{22,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}|\b[sr]k_live_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{35})"
    r"|://[^/\s:@]+:(?P<urlpass>[^/\s@]+)@"
    r"|\bBearer\s+(?P<bearer>[A-Za-z0-9._~+/-]{16,})",
    re.DOTALL,
)
# `KEY=VALUE`, `export KEY="VALUE"`, `KEY: VALUE`, `Password=...;` in connection strings, and the
# AWS CLI's `aws configure set aws_secret_access_key VALUE`: the key names a secret as a whole
# word part (DB_PASSWORD, clientSecret, aws_secret_access_key; not TOKENIZER or bypass).
_SECRET_WORDS = (
    r"(?:[A-Za-z0-9]*(?:password|passwd|passphrase|secret)[A-Za-z0-9]*"
    r"|pass|pwd|token|apikey|auth|credentials?)"
)
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<key>(?:[A-Za-z0-9]+[_.-])*" + _SECRET_WORDS + r"(?:[_.-][A-Za-z0-9]+)*"
    r"|(?:[A-Za-z0-9]+[_.-])*(?:api|access|secret|private|session|client|auth)[_.-]?key"
    r"(?:[_.-][A-Za-z0-9]+)*)"
    r"(?P<sep>[\"']?[ \t]*(?::=|=|:(?=[ \t]))[ \t]*|(?<=secret_access_key)[ \t]+)"
    r"(?P<q>[\"'])?(?P<v>(?(q)[^\"'\n]+|[^\s;&,\"'<>)]+))",
    re.IGNORECASE,
)
# Assignment values that are not secrets: variables, placeholders, markers, booleans.
_NOT_A_VALUE = re.compile(
    r"^(\$|\[REDACTED|<|\*+$|%\(|\{\{|(true|false|none|null|yes|no|required|optional)$)",
    re.IGNORECASE,
)
# A secret word shortly before an assignment's separator: without one, no assignment can match.
_HINT_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "credential")
_AFTER_WORD = re.compile(r"[a-z0-9_.-]{0,40}[\"']?[ \t]*(?:=|:[ \t])")

# Values that point at a secret store are references, not secrets.
_SECRET_REFERENCE = re.compile(
    r"^(projects/[^/]+/secrets/|arn:aws[a-z-]*:(secretsmanager|ssm|kms):|\{\{resolve:)"
)
# Mapping keys whose children are name -> value settings.
_SETTINGS_CONTAINERS = frozenset(
    {
        "environment",
        "hyperparameters",
        "env",
        "environmentvariables",
        "statichyperparameters",
        "tags",
        "labels",
        "tagset",
        "usertags",
        "resourcetags",
    }
)
# Key/value pair objects: [{"Key": "password", "Value": ...}] (AWS tags), {"name", "value"} (GCP).
_PAIR_NAMES = ("name", "Name", "Key", "key", "TagKey")
_PAIR_VALUES = ("value", "Value", "TagValue")


# Literal fragments without which neither a settings container nor a credential-looking value
# can be present. Substring tests on the document's compact JSON run at C speed, so the many
# documents that hold neither skip the regexes and the tree walk (half of an import's time else).
_CONTAINER_HINTS = (
    *(f'"{name}":' for name in sorted(_SETTINGS_CONTAINERS)),
    '"value":',
    '"tagvalue":',
)
_VALUE_HINTS = (
    "AKIA", "ASIA", "PRIVATE KEY", "gh", "xox", "sk_live_", "AIza", "Bearer",
)  # fmt: skip


# Literal fragments of `_SECRET_KEY` (lower-case): a settings key or pair name can only name a
# secret when one of them occurs in the document's text. A name ending in "key" ends right before
# its closing quote. Labels such as {"team": "ml"} then skip the tree walk (a third of an
# import's documents). Non-ASCII text is JSON-escaped (`\u`): case folding could make such a name
# match the pattern without the fragment, so it is always walked.
_KEY_NAME_HINTS = (
    "pass", "secret", "token", "credential", "auth", "pwd", "\\u",
    "apikey", "api_key", "api-key", "accesskey", "access_key", "access-key",
    "privatekey", "private_key", "private-key", "sessionkey", "session_key", "session-key",
    '"key"', '_key"', '-key"',
)  # fmt: skip


def _may_name_secret(lower: str) -> bool:
    """False only when no key or pair name in the document's lower-cased JSON text can match
    `_SECRET_KEY`."""
    return any(hint in lower for hint in _KEY_NAME_HINTS)


def _may_look_secret(text: str) -> bool:
    """False only when `_SECRET_VALUE` cannot match `text`."""
    if any(hint in text for hint in _VALUE_HINTS):
        return True
    return "://" in text and "@" in text


def _may_assign(text: str) -> bool:
    """False only when `_ASSIGNMENT` cannot match `text`: no secret word shortly before an
    assignment's separator. Plain `find` calls and an anchored match keep this linear."""
    return _may_assign_lower(text.lower())


def _may_assign_lower(lower: str) -> bool:
    """`_may_assign` of an already lower-cased text."""
    if "secret_access_key" in lower:
        return True
    for word in _HINT_WORDS:
        start = lower.find(word)
        while start != -1:
            if _AFTER_WORD.match(lower, start + len(word)):
                return True
            start = lower.find(word, start + 1)
    return False


def secret_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every secret inside `text`: provider formats, private keys, URL
    passwords, and the values of assignments whose key names a secret."""
    spans: list[tuple[int, int]] = []
    if _may_look_secret(text):
        for match in _SPANS.finditer(text):
            group = next(g for g in match.groupdict() if match.group(g) is not None)
            spans.append(match.span(group))
    if _may_assign(text):
        for match in _ASSIGNMENT.finditer(text):
            key, value = match.group("key"), match.group("v")
            if _NOT_SECRET_KEY.search(key) or _NOT_A_VALUE.match(value):
                continue
            if _SECRET_REFERENCE.match(value):
                continue
            spans.append(match.span("v"))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Redacts secrets in a document. One salt per store keeps hashes comparable over time."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def marker(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return f"{MARKER_PREFIX}{digest}]"

    def scrub(self, text: str) -> str:
        """`text` with every secret span replaced by its marker (the rest kept readable)."""
        spans = secret_spans(text)
        for start, end in reversed(spans):
            text = text[:start] + self.marker(text[start:end]) + text[end:]
        return text

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A redacted copy of `data`, with `_redacted` listing the paths that were replaced."""
        text = json.dumps(data, default=str, separators=(",", ":"))
        lower = text.lower()  # once: the hints are lower-case
        containers = any(hint in lower for hint in _CONTAINER_HINTS) and _may_name_secret(lower)
        values = (_may_look_secret(text) and _SECRET_VALUE.search(text) is not None) or (
            _may_assign_lower(lower)
        )
        if not containers and not values:
            return dict(data)
        paths: list[str] = []
        walk = _Walk(self, paths, check_values=values)
        result = walk.node(data, "", in_settings=False)
        assert isinstance(result, dict)
        if paths:
            result[REDACTED_KEY] = sorted(set(paths))
        return result


class _Walk:
    """One document's tree walk. `check_values` is False when the whole document's text holds
    no credential-looking value, so only settings keys need testing."""

    def __init__(self, redactor: Redactor, paths: list[str], *, check_values: bool) -> None:
        self.redactor = redactor
        self.paths = paths
        self.check_values = check_values

    def node(self, node: Any, path: str, *, in_settings: bool) -> Any:
        # (exact type checks first: the ABC checks cost more than the rest of a visit)
        if type(node) is dict or isinstance(node, Mapping):
            pair = self.pair(node, path)
            if pair is not None:
                return pair
            if "value" in node or "Value" in node or "TagValue" in node:  # _PAIR_VALUES
                in_settings = False  # a pair's own "Key"/"Value" fields are not setting names
            check_values = self.check_values
            out: dict[str, Any] = {}
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                settings = str(key).lower() in _SETTINGS_CONTAINERS
                if isinstance(value, str):
                    counts = in_settings or settings
                    if counts or check_values:
                        value = self.string(str(key), value, child, counts)
                    out[key] = value  # else: nothing in it can be redacted
                else:
                    out[key] = self.node(value, child, in_settings=settings)
            return out
        if type(node) is list or isinstance(node, list | tuple):
            out_list = []
            for index, item in enumerate(node):
                if isinstance(item, str):
                    if self.check_values:
                        item = self.string("", item, f"{path}[{index}]", False)
                    out_list.append(item)
                else:
                    out_list.append(self.node(item, f"{path}[{index}]", in_settings=in_settings))
            return out_list
        return node

    def pair(self, node: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        """{"name": "DB_PASSWORD", "value": ...} (GCP env) or {"Key": "password", "Value": ...}
        (AWS tags): the value is a secret when the name says so."""
        if len(node) > 3:
            return None
        value_key = next((k for k in _PAIR_VALUES if k in node), None)
        if value_key is None:
            return None
        name_key = next((k for k in _PAIR_NAMES if isinstance(node.get(k), str)), None)
        if name_key is None:
            return None
        name, value = node[name_key], node[value_key]
        if not isinstance(value, str) or not self.keyed(name, value):
            return None
        self.paths.append(f"{path}.{name}" if path else name)
        return {**node, value_key: self.redactor.marker(value)}

    def keyed(self, key: str, value: str) -> bool:
        if not value or value.startswith(MARKER_PREFIX) or _SECRET_REFERENCE.match(value):
            return False
        return bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)

    def string(self, key: str, value: str, path: str, key_counts: bool) -> str:
        """A whole value when its settings key names a secret, else the secrets inside it."""
        if key_counts and self.keyed(key, value):
            self.paths.append(path)
            return self.redactor.marker(value)
        if not self.check_values or not value or value.startswith(MARKER_PREFIX):
            return value
        if _SECRET_REFERENCE.match(value):
            return value
        scrubbed = self.redactor.scrub(value)
        if scrubbed != value:
            self.paths.append(path)
        return scrubbed
