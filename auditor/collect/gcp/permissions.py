"""The read-only IAM roles and permissions the GCP collectors need, derived from the declarations.

Cloud Asset Inventory checks `cloudasset.assets.listResource` / `listIamPolicy` on the scope, plus
a per-asset-type permission that `roles/cloudasset.viewer` grants (`cloudasset.assets.list<Type>`
would be too fine-grained to list: the predefined role is the supported way).
"""

from __future__ import annotations

from typing import Any

from auditor.collect.gcp.assets import ASSET_TYPES, IAM_POLICY, RESOURCE

_CONTENT_PERMISSIONS = {
    RESOURCE: "cloudasset.assets.listResource",
    IAM_POLICY: "cloudasset.assets.listIamPolicy",
}
_SCOPE_KINDS = {
    "projects": "the project (projects/ID)",
    "folders": "the folder (folders/N)",
    "organizations": "the organization (organizations/N)",
}


def gcp_permissions() -> dict[str, Any]:
    """Per scope kind: where to grant, which roles, which permissions, and why."""
    content_types = sorted({c for spec in ASSET_TYPES for c in spec.content_types})
    permissions = sorted(_CONTENT_PERMISSIONS[c] for c in content_types)
    scopes = {}
    for kind, where in _SCOPE_KINDS.items():
        inherited = (
            "cloudasset.assets.listIamPolicy on every ancestor folder and the organization "
            "(roles/cloudasset.viewer there) to compute inherited audit-log config and IAM "
            "bindings; without it those settings are recorded as collection errors"
        )
        scopes[kind] = {
            "grant_on": where,
            "roles": ["roles/cloudasset.viewer"],
            "permissions": permissions,
            "ancestors": inherited if kind != "organizations" else None,
        }
    return {
        "provider": "gcp",
        "api": "cloudasset.googleapis.com (enable it in the project that owns the quota)",
        "scopes": scopes,
        "impersonation": {
            "roles": ["roles/iam.serviceAccountTokenCreator"],
            "permissions": ["iam.serviceAccounts.getAccessToken"],
            "grant_on": "the service account to impersonate, for the identity running auditor",
        },
        "quota": "ListAssets: 100 requests per minute per project (the collector paces and backs off)",
        "asset_types": [
            {"asset_type": s.asset_type, "content_types": list(s.content_types)}
            for s in ASSET_TYPES
        ],
    }
