"""GCP asset types as data, and the pure normaliser from Cloud Asset records to evidence documents.

Cloud Asset Inventory records reach us in two spellings: `gcloud asset export` NDJSON and the
library's `Asset.to_dict` use proto field names for the envelope (`asset_type`, `iam_policy`,
`update_time`, `audit_configs`), `gcloud asset list --format=json` uses JSON names (`assetType`,
`iamPolicy`, `updateTime`, `auditConfigs`). `resource.data` is a Struct and keeps the API's own
camelCase in both. `parse_record` folds both into one `AssetRecord`; `build_document` turns a
record into the `EvidenceDoc` the rules read (the shapes are the declarations below, and the
module docstrings of `auditor.collect.gcp.assembler` and `.live`). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.models import EvidenceDoc

RESOURCE = "RESOURCE"
IAM_POLICY = "IAM_POLICY"
CRM = "cloudresourcemanager.googleapis.com"
PROJECT_TYPE = f"{CRM}/Project"
FOLDER_TYPE = f"{CRM}/Folder"
ORGANIZATION_TYPE = f"{CRM}/Organization"
NOTEBOOK_INSTANCE_TYPE = "notebooks.googleapis.com/Instance"
LOG_SINK_TYPE = "logging.googleapis.com/LogSink"
EFFECTIVE_FIELDS = ("effectiveAuditConfigs", "effectiveAuditLogTypes", "effectiveIamBindings")
LOG_SINKS_FIELD = "effectiveLogSinks"
ENCRYPTION_FIELD = "encryptionAtRest"
_BOTH = (RESOURCE, IAM_POLICY)
_RESOURCE_ONLY = (RESOURCE,)

DataPath = tuple[str, ...]  # keys into resource.data


@dataclass(frozen=True)
class Encryption:
    """Where a data-holding type names its Cloud KMS key, as paths into resource.data. Google
    encrypts all of them at rest by default; the key name, when set, says the customer manages the
    key. `cmek_flags` are settings whose value `CMEK` says so even when no key is named."""

    key_paths: tuple[DataPath, ...]
    cmek_flags: tuple[DataPath, ...] = ()


@dataclass(frozen=True)
class ShapeVersion:
    """A type served in two API shapes: `field` says which, by whether `marker` is in the data."""

    field: str
    marker: str
    with_marker: str
    without_marker: str


@dataclass(frozen=True)
class AssetTypeSpec:
    """One Cloud Asset type the collector lists, which content types it asks for, and the fields
    its documents derive from resource.data (run by `derived_fields`, never by type checks)."""

    asset_type: str
    description: str
    content_types: tuple[str, ...] = _BOTH
    # a node of the resource hierarchy: the short-name prefix ("projects", "folders", ...); its
    # IAM policy is inherited downwards and its documents carry EFFECTIVE_FIELDS
    container: str | None = None
    # the data key that names this container as the account of the assets under it
    # (a project's ID for its number); None for a container: it is its own account
    account_field: str | None = None
    # the data key whose value names the resource in reports (else the last part of its name)
    label_field: str | None = None
    # its documents carry LOG_SINKS_FIELD: the sinks that route its logs
    log_sinks: bool = False
    encryption: Encryption | None = None
    shape_version: ShapeVersion | None = None

    @property
    def hierarchy(self) -> bool:
        """Projects, folders and organisations: their IAM policies are inherited downwards."""
        return self.container is not None


_KMS = Encryption((("encryptionSpec", "kmsKeyName"),))

ASSET_TYPES: tuple[AssetTypeSpec, ...] = (
    AssetTypeSpec("aiplatform.googleapis.com/Endpoint", "Vertex AI online prediction endpoint"),
    AssetTypeSpec(
        "aiplatform.googleapis.com/Model",
        "Vertex AI model registry entry",
        _RESOURCE_ONLY,
        encryption=_KMS,
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/Dataset", "Vertex AI managed dataset", encryption=_KMS
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/CustomJob", "Vertex AI custom training job", _RESOURCE_ONLY
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/TrainingPipeline", "Vertex AI training pipeline", _RESOURCE_ONLY
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/PipelineJob", "Vertex AI pipeline run", _RESOURCE_ONLY
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/BatchPredictionJob", "Vertex AI batch prediction", _RESOURCE_ONLY
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/Featurestore", "Vertex AI feature store", encryption=_KMS
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/NotebookRuntime", "Colab Enterprise runtime", _RESOURCE_ONLY
    ),
    AssetTypeSpec(
        "aiplatform.googleapis.com/NotebookRuntimeTemplate", "Colab Enterprise runtime template"
    ),
    AssetTypeSpec(
        NOTEBOOK_INSTANCE_TYPE,
        "Vertex AI Workbench instance (v1 and v2 shapes)",
        # v1 names its key at the top; v2 under gceSetup.bootDisk. A v1 instance that says CMEK
        # but names no key is CUSTOMER_MANAGED with kmsKeyName null: the evidence contradicts
        # itself, and the rules can see that.
        encryption=Encryption(
            key_paths=(("kmsKey",), ("gceSetup", "bootDisk", "kmsKey")),
            cmek_flags=(("diskEncryption",), ("gceSetup", "bootDisk", "diskEncryption")),
        ),
        shape_version=ShapeVersion("workbenchVersion", "gceSetup", "v2", "v1"),
    ),
    AssetTypeSpec(
        "storage.googleapis.com/Bucket",
        "Cloud Storage bucket",
        encryption=Encryption((("encryption", "defaultKmsKeyName"),)),
    ),
    AssetTypeSpec(
        "bigquery.googleapis.com/Dataset",
        "BigQuery dataset",
        encryption=Encryption((("defaultEncryptionConfiguration", "kmsKeyName"),)),
    ),
    AssetTypeSpec(
        "bigquery.googleapis.com/Table",
        "BigQuery table",
        encryption=Encryption((("encryptionConfiguration", "kmsKeyName"),)),
    ),
    AssetTypeSpec("cloudkms.googleapis.com/CryptoKey", "Cloud KMS key"),
    AssetTypeSpec(
        "artifactregistry.googleapis.com/Repository",
        "Artifact Registry repository",
        encryption=Encryption((("kmsKeyName",),)),
    ),
    AssetTypeSpec(
        PROJECT_TYPE,
        "Project, with inherited audit-log config and IAM bindings",
        container="projects",
        account_field="projectId",
        label_field="projectId",
        log_sinks=True,
    ),
    AssetTypeSpec(
        FOLDER_TYPE,
        "Folder, with inherited audit-log config and IAM bindings",
        container="folders",
        label_field="displayName",
    ),
    AssetTypeSpec(
        ORGANIZATION_TYPE,
        "Organization, with its audit-log config and IAM bindings",
        container="organizations",
        label_field="displayName",
    ),
    AssetTypeSpec(LOG_SINK_TYPE, "Cloud Logging sink", _RESOURCE_ONLY),
    AssetTypeSpec("logging.googleapis.com/LogBucket", "Cloud Logging bucket", _RESOURCE_ONLY),
    AssetTypeSpec(
        "iam.googleapis.com/ServiceAccountKey",
        "Service account key (user- and system-managed)",
        _RESOURCE_ONLY,
    ),
    AssetTypeSpec(
        "monitoring.googleapis.com/AlertPolicy", "Cloud Monitoring alert policy", _RESOURCE_ONLY
    ),
)
SPECS: Mapping[str, AssetTypeSpec] = {spec.asset_type: spec for spec in ASSET_TYPES}
HIERARCHY_TYPES = frozenset(spec.asset_type for spec in ASSET_TYPES if spec.hierarchy)
# Where each data-holding type names its Cloud KMS key (read from the declarations above).
ENCRYPTION_KEY_PATHS: Mapping[str, tuple[DataPath, ...]] = {
    spec.asset_type: spec.encryption.key_paths for spec in ASSET_TYPES if spec.encryption
}
_CONTAINER_TYPES = {spec.container: spec.asset_type for spec in ASSET_TYPES if spec.container}


def spec_of(asset_type: str) -> AssetTypeSpec:
    """The declaration of a type; a type nobody declared derives nothing."""
    return SPECS.get(asset_type) or AssetTypeSpec(asset_type, "", ())


def resource_types() -> frozenset[str]:
    """Every resource type the GCP collectors produce."""
    return frozenset(SPECS)


def types_with(content_type: str) -> tuple[str, ...]:
    return tuple(s.asset_type for s in ASSET_TYPES if content_type in s.content_types)


# ---------------------------------------------------------------- records


class MalformedRecord(ValueError):
    """A record that is not a Cloud Asset record; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """One asset's envelope in a single spelling. A record may carry the resource, the policy,
    or both (after `merge`). `iam_policy` is already normalised to camelCase."""

    name: str
    asset_type: str
    resource: Mapping[str, Any] | None  # {"data": {...}, "location": ..., "parent": ...}
    iam_policy: Mapping[str, Any] | None
    ancestors: tuple[str, ...]
    update_time: str | None

    @property
    def short_name(self) -> str:
        """`projects/123` for `//cloudresourcemanager.googleapis.com/projects/123`."""
        return self.name.split("/", 3)[-1] if self.name.startswith("//") else self.name

    def merge(self, other: AssetRecord) -> AssetRecord:
        """Join the RESOURCE and IAM_POLICY records of the same asset."""
        primary, secondary = (self, other) if self.resource is not None else (other, self)
        return AssetRecord(
            name=primary.name,
            asset_type=primary.asset_type,
            resource=primary.resource if primary.resource is not None else secondary.resource,
            iam_policy=primary.iam_policy
            if primary.iam_policy is not None
            else secondary.iam_policy,
            ancestors=primary.ancestors or secondary.ancestors,
            update_time=primary.update_time or secondary.update_time,
        )


def _pick(raw: Mapping[str, Any], snake: str, camel: str) -> Any:
    value = raw.get(snake)
    return raw.get(camel) if value is None else value


def parse_record(raw: Any) -> AssetRecord:
    """Fold one record of either spelling into an AssetRecord; MalformedRecord if it is not one."""
    if not isinstance(raw, dict):
        raise MalformedRecord(f"expected a JSON object, got {_json_type(raw)}")
    name = raw.get("name")
    asset_type = _pick(raw, "asset_type", "assetType")
    if not isinstance(name, str) or not name:
        raise MalformedRecord("field 'name': expected a non-empty string")
    if not isinstance(asset_type, str) or not asset_type:
        raise MalformedRecord("field 'asset_type': expected a non-empty string")
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise MalformedRecord(f"field 'resource': expected an object, got {_json_type(resource)}")
    if resource is not None:
        data = resource.get("data")
        if data is not None and not isinstance(data, dict):
            raise MalformedRecord(
                f"field 'resource.data': expected an object, got {_json_type(data)}"
            )
    policy = _pick(raw, "iam_policy", "iamPolicy")
    ancestors = raw.get("ancestors") or []
    if not isinstance(ancestors, list) or not all(isinstance(a, str) for a in ancestors):
        raise MalformedRecord("field 'ancestors': expected a list of strings")
    update_time = _pick(raw, "update_time", "updateTime")
    if update_time is not None and not isinstance(update_time, str):
        raise MalformedRecord("field 'update_time': expected an RFC 3339 string")
    return AssetRecord(
        name=name,
        asset_type=asset_type,
        resource=resource or None,
        iam_policy=normalise_policy(policy) if policy else None,
        ancestors=tuple(ancestors),
        update_time=update_time,
    )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


_LOG_TYPES = {0: "LOG_TYPE_UNSPECIFIED", 1: "ADMIN_READ", 2: "DATA_WRITE", 3: "DATA_READ"}


def normalise_policy(raw: Any) -> dict[str, Any]:
    """An IAM Policy in either spelling -> the camelCase shape of the spec (bindings always a
    list; auditConfigs and condition only when set)."""
    if not isinstance(raw, dict):
        raise MalformedRecord(f"field 'iam_policy': expected an object, got {_json_type(raw)}")
    policy: dict[str, Any] = {}
    if raw.get("version"):
        policy["version"] = int(raw["version"])
    if raw.get("etag"):
        policy["etag"] = raw["etag"]
    bindings = []
    for binding in raw.get("bindings") or ():
        if not isinstance(binding, dict):
            raise MalformedRecord("field 'iam_policy.bindings': expected objects")
        item: dict[str, Any] = {
            "role": binding.get("role", ""),
            "members": list(binding.get("members") or ()),
        }
        condition = binding.get("condition")
        if isinstance(condition, dict) and any(condition.values()):
            item["condition"] = {k: v for k, v in condition.items() if v}
        bindings.append(item)
    policy["bindings"] = bindings
    audit_configs = []
    for config in _pick(raw, "audit_configs", "auditConfigs") or ():
        if not isinstance(config, dict):
            raise MalformedRecord("field 'iam_policy.audit_configs': expected objects")
        logs = []
        for log in _pick(config, "audit_log_configs", "auditLogConfigs") or ():
            log_type = _pick(log, "log_type", "logType")
            entry: dict[str, Any] = {"logType": _LOG_TYPES.get(log_type, log_type)}
            exempted = _pick(log, "exempted_members", "exemptedMembers")
            if exempted:
                entry["exemptedMembers"] = list(exempted)
            logs.append(entry)
        audit_configs.append({"service": config.get("service", ""), "auditLogConfigs": logs})
    if audit_configs:
        policy["auditConfigs"] = audit_configs
    return policy


# ---------------------------------------------------------------- hierarchy


class Hierarchy:
    """Projects, folders and organisations seen in a scope: their IAM policies (for inheritance),
    the project number -> project ID map (for `account`) and the log sinks each container owns
    (for `effectiveLogSinks`). Small: one entry per container, a few sinks per container."""

    def __init__(self) -> None:
        self.records: dict[str, AssetRecord] = {}  # short name ("folders/45") -> record
        self.policies_known: set[str] = set()  # short names whose IAM policy is known (maybe none)
        self.project_ids: dict[str, str] = {}  # project number -> project ID
        self.sinks: dict[str, list[dict[str, Any]]] = {}  # owner ("folders/45") -> sink entries
        self.sinks_known: set[str] = set()  # owners outside the scope whose sinks were fetched

    def add(self, record: AssetRecord) -> None:
        key = record.short_name
        existing = self.records.get(key)
        merged = existing.merge(record) if existing else record
        self.records[key] = merged
        if record.iam_policy is not None:
            self.policies_known.add(key)
        data = (merged.resource or {}).get("data") or {}
        account_field = spec_of(merged.asset_type).account_field
        if account_field and data.get(account_field):
            number = str(data.get("projectNumber") or key.split("/", 1)[-1])
            self.project_ids[number] = str(data[account_field])

    def mark_policy_known(self, short_name: str, policy: Mapping[str, Any] | None) -> None:
        """An ancestor fetched from outside the scope: its policy (None = it has none)."""
        self.policies_known.add(short_name)
        if policy is not None:
            existing = self.records.get(short_name)
            name = f"//{CRM}/{short_name}"
            record = AssetRecord(name, _container_type(short_name), None, policy, (), None)
            self.records[short_name] = existing.merge(record) if existing else record

    def missing_ancestors(self, record: AssetRecord, *, iam_collected: bool) -> list[str]:
        """Ancestors (and itself) whose IAM policy is unknown."""
        chain = _chain(record)
        if not iam_collected:
            return chain
        return [a for a in chain if a not in self.policies_known and a not in self.records]

    def effective(self, record: AssetRecord) -> dict[str, Any]:
        """The effective audit-log config and IAM bindings: own policy first, then ancestors."""
        audit_configs: list[dict[str, Any]] = []
        bindings: list[dict[str, Any]] = []
        log_types: dict[str, set[str]] = {}
        for source in _chain(record):
            found = self.records.get(source)
            policy = found.iam_policy if found else None
            if source == record.short_name and record.iam_policy is not None:
                policy = record.iam_policy
            if not policy:
                continue
            for config in policy.get("auditConfigs", ()):
                audit_configs.append({**config, "source": source})
                types = log_types.setdefault(config["service"], set())
                types.update(log["logType"] for log in config["auditLogConfigs"])
            bindings.extend({**binding, "source": source} for binding in policy["bindings"])
        return {
            "effectiveAuditConfigs": audit_configs,
            "effectiveAuditLogTypes": {svc: sorted(t) for svc, t in sorted(log_types.items())},
            "effectiveIamBindings": bindings,
        }

    def add_sink(self, record: AssetRecord) -> None:
        """Index a LogSink RESOURCE record under the project/folder/organisation that owns it."""
        owner = sink_owner(record)
        if owner is None or record.resource is None:
            return
        entry = sink_entry(record, owner)
        entries = self.sinks.setdefault(owner, [])
        if entry not in entries:  # the same sink listed twice (overlapping listings)
            entries.append(entry)

    def mark_sinks_known(self, owner: str) -> None:
        """An ancestor outside the scope whose sinks were fetched (added with `add_sink`)."""
        self.sinks_known.add(owner)

    def missing_sink_owners(self, record: AssetRecord) -> list[str]:
        """Ancestor folders/organisation whose sinks are unknown: neither in the scope (a
        RESOURCE record was listed/imported, so its sinks were too) nor fetched."""
        return [
            a
            for a in _chain(record)[1:]
            if a not in self.sinks_known
            and (a not in self.records or self.records[a].resource is None)
        ]

    def effective_log_sinks(self, record: AssetRecord) -> list[dict[str, Any]]:
        """The sinks that route a project's logs: its own (any), then those of its ancestors,
        nearest first, that have includeChildren."""
        chain = _chain(record)
        own_keys = [chain[0]]
        data = (record.resource or {}).get("data") or {}
        if data.get("projectId") and chain[0].startswith("projects/"):
            own_keys.append(f"projects/{data['projectId']}")  # a sink named by project ID
        found = [dict(entry) for key in own_keys for entry in self.sinks.get(key, ())]
        for ancestor in chain[1:]:
            found.extend(
                dict(entry) for entry in self.sinks.get(ancestor, ()) if entry["includeChildren"]
            )
        return found

    def account_of(self, record: AssetRecord) -> str:
        """Project ID of the asset's project (number if the project is unknown)."""
        spec = spec_of(record.asset_type)
        if spec.container and not spec.account_field:
            return record.short_name
        for ancestor in record.ancestors:
            if ancestor.startswith("projects/"):
                number = ancestor.split("/", 1)[1]
                return self.project_ids.get(number, number)
        parts = record.name.split("/")
        if "projects" in parts[:-1]:
            project = parts[parts.index("projects") + 1]
            return self.project_ids.get(project, project)
        return ""


def _chain(record: AssetRecord) -> list[str]:
    chain = list(record.ancestors)
    if not chain or chain[0] != record.short_name:
        chain.insert(0, record.short_name)
    return chain


def sink_owner(record: AssetRecord) -> str | None:
    """`projects/123`, `folders/45` or `organizations/678` owning a LogSink: the parent in its
    full name (`//logging.googleapis.com/organizations/678/sinks/org-audit`), else ancestors[0].
    None for sinks of other parents (billingAccounts/...)."""
    parts = record.name.split("/")
    if len(parts) >= 7 and parts[-2] == "sinks":
        owner = f"{parts[-4]}/{parts[-3]}"
        if parts[-4] in ("projects", "folders", "organizations"):
            if parts[-4] == "projects" and record.ancestors and not parts[-3].isdigit():
                first = record.ancestors[0]
                return first if first.startswith("projects/") else owner
            return owner
        return None
    if record.ancestors and record.ancestors[0].split("/", 1)[0] in (
        "projects",
        "folders",
        "organizations",
    ):
        return record.ancestors[0]
    return None


def sink_entry(record: AssetRecord, owner: str) -> dict[str, Any]:
    """One `effectiveLogSinks` entry. Cloud Asset omits false/empty fields, so defaults are
    filled in: no filter routes every log entry."""
    data = (record.resource or {}).get("data") or {}
    return {
        "name": str(data.get("name") or record.name.rsplit("/", 1)[-1]),
        "destination": data.get("destination"),
        "filter": str(data.get("filter") or ""),
        "disabled": bool(data.get("disabled", False)),
        "includeChildren": bool(data.get("includeChildren", False)),
        "source": owner,
    }


def _container_type(short_name: str) -> str:
    return _CONTAINER_TYPES.get(short_name.split("/", 1)[0], ORGANIZATION_TYPE)


# ---------------------------------------------------------------- documents


def build_document(
    record: AssetRecord,
    hierarchy: Hierarchy,
    *,
    iam_collected: bool,
    effective: Mapping[str, Any] | None = None,
) -> EvidenceDoc:
    """The evidence document of one asset (before redaction).

    `iam_collected` False means IAM policies could not be collected for this type: `iamPolicy`
    is then absent rather than null. `effective` (hierarchy types only) holds the inherited
    settings (and, for projects, `effectiveLogSinks`); a key left out of it is absent.
    """
    resource = record.resource or {}
    data: dict[str, Any] = dict(resource.get("data") or {})
    location = resource.get("location") or None
    data["assetType"] = record.asset_type
    data["ancestors"] = list(record.ancestors)
    data["location"] = location
    data["updateTime"] = record.update_time
    if iam_collected:
        data["iamPolicy"] = dict(record.iam_policy) if record.iam_policy is not None else None
    spec = spec_of(record.asset_type)
    data.update(derived_fields(spec, data))
    if effective is not None:
        data.update(effective)
    return EvidenceDoc(
        provider="gcp",
        account=hierarchy.account_of(record),
        region=str(location) if location else "global",
        resource_type=record.asset_type,
        resource_id=record.name,
        name=_short_label(record, spec, data),
        data=data,
    )


def derived_fields(spec: AssetTypeSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a type's declaration derives from its resource.data, in declaration order."""
    derived: dict[str, Any] = {}
    if spec.shape_version:
        shape = spec.shape_version
        derived[shape.field] = shape.with_marker if shape.marker in data else shape.without_marker
    if spec.encryption:
        derived[ENCRYPTION_FIELD] = encryption_at_rest(spec.encryption, data)
    return derived


def _at(data: Mapping[str, Any], path: DataPath) -> Any:
    value: Any = data
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def encryption_at_rest(encryption: Encryption, data: Mapping[str, Any]) -> dict[str, Any]:
    """How a data-holding resource is encrypted at rest: `CUSTOMER_MANAGED` with the key its own
    configuration names, or `GOOGLE_DEFAULT` (Google encrypts every such resource at rest; the
    configuration then names no key)."""
    key = next((str(v) for v in (_at(data, p) for p in encryption.key_paths) if v), None)
    says_cmek = any(_at(data, path) == "CMEK" for path in encryption.cmek_flags)
    managed = "CUSTOMER_MANAGED" if key or says_cmek else "GOOGLE_DEFAULT"
    return {"keyManagement": managed, "kmsKeyName": key}


def _short_label(record: AssetRecord, spec: AssetTypeSpec, data: Mapping[str, Any]) -> str:
    if spec.label_field and data.get(spec.label_field):
        return str(data[spec.label_field])
    return record.name.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class HierarchyDocument:
    """A project/folder/organisation document and why any derived key was left out."""

    doc: EvidenceDoc
    # ancestors whose IAM policy is unknown: EFFECTIVE_FIELDS absent
    missing_policies: list[str]
    # projects: ancestors whose sinks are unknown: effectiveLogSinks absent
    missing_sinks: list[str]
    # projects: the LogSink assets could not be collected: effectiveLogSinks absent
    sinks_unknown: bool


def hierarchy_documents(
    hierarchy: Hierarchy,
    *,
    iam_collected: bool,
    sinks_collected: bool = True,
    wanted: Iterable[str] = HIERARCHY_TYPES,
) -> Iterable[HierarchyDocument]:
    """Documents of the projects/folders/organisations that have a RESOURCE record, each with what
    could not be derived. `sinks_collected` False: the LogSink listing failed, so no project gets
    `effectiveLogSinks` (call this after every LogSink record went through `Hierarchy.add_sink`)."""
    wanted_types = frozenset(wanted)
    for record in hierarchy.records.values():
        if record.resource is None or record.asset_type not in wanted_types:
            continue
        missing = hierarchy.missing_ancestors(record, iam_collected=iam_collected)
        effective: dict[str, Any] = {} if missing else hierarchy.effective(record)
        missing_sinks: list[str] = []
        is_project = spec_of(record.asset_type).log_sinks
        if is_project and sinks_collected:
            missing_sinks = hierarchy.missing_sink_owners(record)
            if not missing_sinks:
                effective[LOG_SINKS_FIELD] = hierarchy.effective_log_sinks(record)
        doc = build_document(
            record, hierarchy, iam_collected=iam_collected, effective=effective or None
        )
        yield HierarchyDocument(doc, missing, missing_sinks, is_project and not sinks_collected)


def integral_floats_to_int(value: Any) -> Any:
    """Struct values arrive over gRPC as doubles; JSON exports print 5.0 as 5. Make them agree so
    equal content hashes equally."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_floats_to_int(v) for v in value]
    return value
