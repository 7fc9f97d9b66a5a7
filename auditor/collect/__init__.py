"""Evidence collectors: the only code that talks to clouds.

Each provider module declares the resource types it produces; `resource_types()` is their union,
which the catalog uses to reject controls that name a type no collector produces.
"""

from __future__ import annotations

import importlib

# Provider modules, each exposing `resource_types() -> frozenset[str]`.
PROVIDER_MODULES: dict[str, str] = {
    "aws": "auditor.collect.aws_specs",
    "gcp": "auditor.collect.gcp_assets",
}


def resource_types(provider: str | None = None) -> frozenset[str]:
    """Every resource type a collector can produce (for one provider, or all)."""
    names = [provider] if provider else list(PROVIDER_MODULES)
    found: set[str] = set()
    for name in names:
        module = importlib.import_module(PROVIDER_MODULES[name])
        found |= module.resource_types()
    return frozenset(found)
