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


# One pass of C-speed JSON encoding plus a regex tells whether a document can hold a secret at all;
# most cannot, and they skip the tree walk (half of a large import's time otherwise).
_MAYBE_SECRET = re.compile(
    r'"(?:' + "|".join(sorted(_SETTINGS_CONTAINERS)) + r')"\s*:|"value"\s*:', re.IGNORECASE
)


class Redactor:
    """Redacts secrets in a document. One salt per store keeps hashes comparable over time."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def marker(self, value: str) -> str:
        digest = hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return f"{MARKER_PREFIX}{digest}]"

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A redacted copy of `data`, with `_redacted` listing the paths that were replaced."""
        text = json.dumps(data, default=str)
        if not _MAYBE_SECRET.search(text) and not _SECRET_VALUE.search(text):
            return dict(data)
        paths: list[str] = []
        result = self._walk(data, "", paths, in_settings=False)
        assert isinstance(result, dict)
        if paths:
            result[REDACTED_KEY] = sorted(set(paths))
        return result

    def _walk(self, node: Any, path: str, paths: list[str], *, in_settings: bool) -> Any:
        if isinstance(node, Mapping):
            # GCP style: {"name": "DB_PASSWORD", "value": "..."} pairs
            if "value" in node and isinstance(node.get("name"), str) and len(node) <= 3:
                value = node["value"]
                if isinstance(value, str) and self._is_secret(node["name"], value):
                    paths.append(f"{path}.{node['name']}" if path else node["name"])
                    return {**node, "value": self.marker(value)}
            out: dict[str, Any] = {}
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                settings = str(key).lower() in _SETTINGS_CONTAINERS
                if isinstance(value, str):
                    if self._is_secret(str(key), value, key_counts=in_settings or settings):
                        paths.append(child)
                        out[key] = self.marker(value)
                    else:
                        out[key] = value
                else:
                    out[key] = self._walk(value, child, paths, in_settings=settings)
            return out
        if isinstance(node, list | tuple):
            out_list = []
            for index, item in enumerate(node):
                child = f"{path}[{index}]"
                if isinstance(item, str) and _SECRET_VALUE.search(item):
                    paths.append(child)
                    out_list.append(self.marker(item))
                else:
                    out_list.append(self._walk(item, child, paths, in_settings=in_settings))
            return out_list
        return node

    @staticmethod
    def _is_secret(key: str, value: str, *, key_counts: bool = True) -> bool:
        if value.startswith(MARKER_PREFIX) or not value or _SECRET_REFERENCE.match(value):
            return False
        if _SECRET_VALUE.search(value):
            return True
        return key_counts and bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)
