"""Evidence collectors: the only code that talks to clouds, one package per provider.

`auditor.collect.aws` and `auditor.collect.gcp` each declare the resource types they produce;
`resource_types()` is their union, which the catalog uses to reject controls that name a type no
collector produces. The entry points the pipeline uses are exported here and imported on first
use, so loading the catalog never loads boto3 or the Google client libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.collect.aws.permissions import aws_permissions_policy
    from auditor.collect.aws.scope import AwsCollector
    from auditor.collect.gcp.export import GcpExportCollector
    from auditor.collect.gcp.live import GcpAssetCollector
    from auditor.collect.gcp.permissions import gcp_permissions

# Declaration modules, each exposing `resource_types() -> frozenset[str]`.
PROVIDER_MODULES: dict[str, str] = {
    "aws": "auditor.collect.aws.specs",
    "gcp": "auditor.collect.gcp.assets",
}

# Entry point -> the module defining it (loaded lazily by `__getattr__`).
_ENTRY_POINTS: dict[str, str] = {
    "AwsCollector": "auditor.collect.aws.scope",
    "GcpAssetCollector": "auditor.collect.gcp.live",
    "GcpExportCollector": "auditor.collect.gcp.export",
    "aws_permissions_policy": "auditor.collect.aws.permissions",
    "gcp_permissions": "auditor.collect.gcp.permissions",
}

__all__ = [
    "AwsCollector",
    "GcpAssetCollector",
    "GcpExportCollector",
    "aws_permissions_policy",
    "gcp_permissions",
    "resource_types",
]


def resource_types(provider: str | None = None) -> frozenset[str]:
    """Every resource type a collector can produce (for one provider, or all)."""
    names = [provider] if provider else list(PROVIDER_MODULES)
    found: set[str] = set()
    for name in names:
        module = importlib.import_module(PROVIDER_MODULES[name])
        found |= module.resource_types()
    return frozenset(found)


def __getattr__(name: str) -> Any:
    if name in _ENTRY_POINTS:
        return getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
