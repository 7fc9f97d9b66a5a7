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

REDACTED_KEY = "_redacted"
MARKER_PREFIX = "[REDACTED sha256:"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
    r"credential|auth|session[_-]?key|client[_-]?secret|\bpwd\b|(^|[_-])key$)",
    re.IGNORECASE,
)
# Keys that contain "key" but hold identifiers, not secrets.
_NOT_SECRET_KEY = re.compile(r"(kms|key[_-]?id$|keyname|key[_-]?arn|public[_-]?key)", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"((?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"
    r"|\bsk_live_[A-Za-z0-9]{16,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"
    r"|://[^/\s:@]+:[^/\s@]+@"
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,})"
)
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
    }
)


# Literal fragments without which neither a settings container nor a credential-looking value
# can be present. Substring tests on the document's compact JSON run at C speed, so the many
# documents that hold neither skip the regexes and the tree walk (half of an import's time else).
_CONTAINER_HINTS = (*(f'"{name}":' for name in sorted(_SETTINGS_CONTAINERS)), '"value":')
_VALUE_HINTS = (
    "AKIA", "ASIA", "PRIVATE KEY", "gh", "xox", "sk_live_", "AIza", "Bearer",
)  # fmt: skip


def _may_look_secret(text: str) -> bool:
    """False only when `_SECRET_VALUE` cannot match `text`."""
    if any(hint in text for hint in _VALUE_HINTS):
        return True
    return "://" in text and "@" in text


class Redactor:
    """Redacts secrets in a document. One salt per store keeps hashes comparable over time."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def marker(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return f"{MARKER_PREFIX}{digest}]"

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A redacted copy of `data`, with `_redacted` listing the paths that were replaced."""
        text = json.dumps(data, default=str, separators=(",", ":"))
        containers = any(hint in text.lower() for hint in _CONTAINER_HINTS)
        values = _may_look_secret(text) and _SECRET_VALUE.search(text) is not None
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
        if isinstance(node, Mapping):
            # GCP style: {"name": "DB_PASSWORD", "value": "..."} pairs
            if "value" in node and isinstance(node.get("name"), str) and len(node) <= 3:
                value = node["value"]
                if isinstance(value, str) and self.secret(node["name"], value, key_counts=True):
                    self.paths.append(f"{path}.{node['name']}" if path else node["name"])
                    return {**node, "value": self.redactor.marker(value)}
            out: dict[str, Any] = {}
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                settings = str(key).lower() in _SETTINGS_CONTAINERS
                if isinstance(value, str):
                    if self.secret(str(key), value, key_counts=in_settings or settings):
                        self.paths.append(child)
                        out[key] = self.redactor.marker(value)
                    else:
                        out[key] = value
                else:
                    out[key] = self.node(value, child, in_settings=settings)
            return out
        if isinstance(node, list | tuple):
            out_list = []
            for index, item in enumerate(node):
                child = f"{path}[{index}]"
                if isinstance(item, str) and self.secret("", item, key_counts=False):
                    self.paths.append(child)
                    out_list.append(self.redactor.marker(item))
                else:
                    out_list.append(self.node(item, child, in_settings=in_settings))
            return out_list
        return node

    def secret(self, key: str, value: str, *, key_counts: bool) -> bool:
        if not key_counts and not self.check_values:
            return False
        if not value or value.startswith(MARKER_PREFIX) or _SECRET_REFERENCE.match(value):
            return False
        if self.check_values and _may_look_secret(value) and _SECRET_VALUE.search(value):
            return True
        return key_counts and bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)
