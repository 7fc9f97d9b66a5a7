"""Framework scope along the ML lineage (pure: no I/O, no clock).

Real audits scope each framework to the systems that hold its data: PCI DSS to the cardholder
data environment, HIPAA to systems with ePHI, GDPR to personal data. auditor.yaml's `scope:`
names the data directly (tags/labels, accounts, projects, folders, regions); this module carries
that scope along the lineage the evidence documents show:

    data store (S3/GCS bucket or prefix, BigQuery dataset/table, Vertex dataset)
      -> job that reads it (SageMaker training/processing, Vertex custom job, training pipeline,
         pipeline job, batch prediction)
      -> what the job writes (output location; the bucket holding it)
      -> model whose artifacts lie there (ModelDataUrl, Vertex artifactUri)
      -> endpoint config / endpoint serving the model -> data-capture and request-logging
         destinations

plus the KMS keys, execution roles, service accounts and container images those use. A location
carries scope by prefix: a job writing `s3://artifacts/fraud/` puts in scope the model reading
`s3://artifacts/fraud/model.tar.gz`, not every reader of the `artifacts` bucket.

Account- and project-wide resources (the account document, CloudTrail, GuardDuty, Macie, log
groups, projects, folders, log sinks) are in a framework's scope when their account or project
holds any in-scope resource: an account-wide control protects what the account holds.

A resource no framework's selectors or lineage reach is *unclassified*; `unclassified:` decides
it (in scope by default: an assessor widens scope until the data is shown to be elsewhere).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.models import (
    EvidenceDoc,
    FrameworkScope,
    LineageEdge,
    ScopeDecision,
    ScopeDefinition,
    ScopeResult,
    ScopeSelector,
    neutralise_text,
)

NO_SCOPE_REASON = "no scope was defined: every resource is in scope"

DATA_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "storage.googleapis.com/Bucket",
        "bigquery.googleapis.com/Dataset",
        "bigquery.googleapis.com/Table",
        "aiplatform.googleapis.com/Dataset",
        "aiplatform.googleapis.com/Featurestore",
    }
)
PIPELINE_TYPES = frozenset(
    {
        "AWS::SageMaker::TrainingJob",
        "AWS::SageMaker::ProcessingJob",
        "aiplatform.googleapis.com/CustomJob",
        "aiplatform.googleapis.com/TrainingPipeline",
        "aiplatform.googleapis.com/PipelineJob",
        "aiplatform.googleapis.com/BatchPredictionJob",
    }
)
MODEL_TYPES = frozenset(
    {
        "AWS::SageMaker::Model",
        "AWS::SageMaker::ModelPackage",
        "AWS::Bedrock::CustomModel",
        "aiplatform.googleapis.com/Model",
    }
)
ENDPOINT_TYPES = frozenset(
    {
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
        "aiplatform.googleapis.com/Endpoint",
    }
)
DEPENDENCY_TYPES = frozenset(
    {
        "AWS::KMS::Key",
        "AWS::IAM::Role",
        "AWS::ECR::Repository",
        "cloudkms.googleapis.com/CryptoKey",
        "artifactregistry.googleapis.com/Repository",
        "iam.googleapis.com/ServiceAccount",
    }
)
HIERARCHY_TYPES = frozenset(
    {
        "cloudresourcemanager.googleapis.com/Project",
        "cloudresourcemanager.googleapis.com/Folder",
        "cloudresourcemanager.googleapis.com/Organization",
    }
)
ACCOUNT_TYPES = HIERARCHY_TYPES | frozenset(
    {
        "AWS::::Account",
        "AWS::CloudTrail::Trail",
        "AWS::GuardDuty::Detector",
        "AWS::Macie::Session",
        "AWS::ECR::RegistryScanningConfiguration",
        "AWS::Bedrock::ModelInvocationLoggingConfiguration",
        "AWS::Logs::LogGroup",
        "logging.googleapis.com/LogSink",
        "logging.googleapis.com/LogBucket",
    }
)

# Where each job type writes; every other data URI in its document is read.
_OUTPUT_PATHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "AWS::SageMaker::TrainingJob": (
        ("OutputDataConfig", "S3OutputPath"),
        ("ModelArtifacts", "S3ModelArtifacts"),
        ("CheckpointConfig", "S3Uri"),
        ("DebugHookConfig", "S3OutputPath"),
    ),
    "AWS::SageMaker::ProcessingJob": (("ProcessingOutputConfig",),),
    "aiplatform.googleapis.com/CustomJob": (("jobSpec", "baseOutputDirectory"),),
    "aiplatform.googleapis.com/TrainingPipeline": (
        ("inputDataConfig", "gcsDestination"),
        ("inputDataConfig", "bigqueryDestination"),
        ("trainingTaskInputs", "baseOutputDirectory"),
    ),
    "aiplatform.googleapis.com/PipelineJob": (("runtimeConfig", "gcsOutputDirectory"),),
    "aiplatform.googleapis.com/BatchPredictionJob": (("outputConfig",), ("outputInfo",)),
    "AWS::SageMaker::EndpointConfig": (
        ("DataCaptureConfig", "DestinationS3Uri"),
        ("AsyncInferenceConfig",),
    ),
    "AWS::SageMaker::Endpoint": (
        ("DataCaptureConfig", "DestinationS3Uri"),
        ("EndpointConfig", "DataCaptureConfig", "DestinationS3Uri"),
        ("EndpointConfig", "AsyncInferenceConfig"),
    ),
    "aiplatform.googleapis.com/Endpoint": (("predictRequestResponseLoggingConfig",),),
}
# Documents whose data URIs are read (the rest of the document, outside _OUTPUT_PATHS).
_READER_TYPES = PIPELINE_TYPES | MODEL_TYPES | frozenset({"aiplatform.googleapis.com/Dataset"})

_URI = re.compile(r"\b(s3|gs|bq)://([^\s'\",;]+)")
_TYPE_WORDS: Mapping[str, str] = {
    "AWS::S3::Bucket": "S3 bucket",
    "storage.googleapis.com/Bucket": "GCS bucket",
    "bigquery.googleapis.com/Dataset": "BigQuery dataset",
    "bigquery.googleapis.com/Table": "BigQuery table",
    "aiplatform.googleapis.com/Dataset": "Vertex dataset",
    "AWS::SageMaker::TrainingJob": "training job",
    "AWS::SageMaker::ProcessingJob": "processing job",
    "aiplatform.googleapis.com/CustomJob": "Vertex custom job",
    "aiplatform.googleapis.com/TrainingPipeline": "Vertex training pipeline",
    "aiplatform.googleapis.com/PipelineJob": "Vertex pipeline job",
    "aiplatform.googleapis.com/BatchPredictionJob": "Vertex batch prediction",
    "AWS::SageMaker::Model": "SageMaker model",
    "AWS::SageMaker::ModelPackage": "model package",
    "aiplatform.googleapis.com/Model": "Vertex model",
    "AWS::SageMaker::EndpointConfig": "endpoint config",
    "AWS::SageMaker::Endpoint": "SageMaker endpoint",
    "aiplatform.googleapis.com/Endpoint": "Vertex endpoint",
    "AWS::KMS::Key": "KMS key",
    "AWS::IAM::Role": "IAM role",
    "AWS::ECR::Repository": "ECR repository",
    "cloudkms.googleapis.com/CryptoKey": "Cloud KMS key",
    "artifactregistry.googleapis.com/Repository": "Artifact Registry repository",
    "iam.googleapis.com/ServiceAccount": "service account",
}


def role_of(resource_type: str) -> str:
    """How the system description groups a resource type."""
    if resource_type in DATA_TYPES:
        return "data"
    if resource_type in PIPELINE_TYPES:
        return "pipeline"
    if resource_type in MODEL_TYPES:
        return "model"
    if resource_type in ENDPOINT_TYPES:
        return "endpoint"
    if resource_type in DEPENDENCY_TYPES:
        return "dependency"
    if resource_type in ACCOUNT_TYPES:
        return "account"
    return "other"


def describe(doc: EvidenceDoc) -> str:
    """`training job fraud-xgb`: a resource as a reason names it."""
    words = _TYPE_WORDS.get(doc.resource_type)
    if words is None:
        words = re.split(r"::|/", doc.resource_type)[-1]
    return f"{words} {display_name(doc)}"


def display_name(doc: EvidenceDoc) -> str:
    """Vertex resources are numbered; their displayName is what people call them."""
    label = doc.data.get("displayName") if doc.provider == "gcp" else None
    return label if isinstance(label, str) and label else doc.name


# ---------------------------------------------------------------- locations


def canonical_uri(scheme: str, rest: str) -> str:
    """`bq://p.d.t` -> `bq://p/d/t/`; object prefixes end in `/` so `churn/` is not `churn-old/`;
    a wildcard cuts the prefix where it starts."""
    rest = rest.rstrip(".)]}")
    if scheme == "bq":
        rest = "/".join(part for part in re.split(r"[.:/]", rest) if part)
    wildcard = min((i for i in (rest.find("*"), rest.find("?")) if i >= 0), default=-1)
    if wildcard >= 0:
        return f"{scheme}://{rest[:wildcard]}"
    last = rest.rstrip("/").rsplit("/", 1)[-1]
    if rest.endswith("/") or (scheme != "bq" and "." in last and "/" in rest):
        return f"{scheme}://{rest}"  # a prefix already, or an object (model.tar.gz)
    return f"{scheme}://{rest}/"


def overlaps(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _store_keys(uri: str) -> list[tuple[str, ...]]:
    """Index keys of the stores that may hold a location, most specific first."""
    scheme, _, rest = uri.partition("://")
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return []
    if scheme == "bq":
        keys: list[tuple[str, ...]] = []
        if len(parts) >= 3:
            keys.append(("bq", parts[0], parts[1], parts[2]))
        if len(parts) >= 2:
            keys.append(("bq", parts[0], parts[1]))
        return keys
    return [(scheme, parts[0])]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, iteratively (documents are plain dicts and lists)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            yield item
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _uris(value: Any) -> list[str]:
    found: list[str] = []
    for text in _strings(value):
        if "://" in text:
            found.extend(canonical_uri(m.group(1), m.group(2)) for m in _URI.finditer(text))
    return list(dict.fromkeys(found))


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _store_location(doc: EvidenceDoc) -> tuple[str | None, list[tuple[str, ...]]]:
    """The prefix a data store holds and its index keys."""
    data = doc.data
    if doc.resource_type == "AWS::S3::Bucket":
        name = str(data.get("Name") or doc.name)
        return f"s3://{name}/", [("s3", name)]
    if doc.resource_type == "storage.googleapis.com/Bucket":
        name = str(data.get("name") or doc.name)
        return f"gs://{name}/", [("gs", name)]
    if doc.resource_type.startswith("bigquery.googleapis.com/"):
        parts = doc.resource_id.split("/")
        try:
            project = parts[parts.index("projects") + 1]
            dataset = parts[parts.index("datasets") + 1]
        except (ValueError, IndexError):
            return None, []
        if doc.resource_type.endswith("/Table") and "tables" in parts:
            table = parts[parts.index("tables") + 1]
            return f"bq://{project}/{dataset}/{table}/", [("bq", project, dataset, table)]
        return f"bq://{project}/{dataset}/", [("bq", project, dataset)]
    return None, []


def _tags(doc: EvidenceDoc) -> dict[str, str]:
    """AWS tag lists (Key/Value, TagKey/TagValue, maps) and GCP labels alike."""
    data = doc.data
    out: dict[str, str] = {}
    for key in ("Tags", "TagsList", "TagList", "tags", "labels"):
        raw = data.get(key)
        if isinstance(raw, Mapping):
            out.update({str(k): str(v) for k, v in raw.items()})
        elif isinstance(raw, list):
            for item in raw:
                if isinstance(item, Mapping):
                    k = item.get("Key", item.get("TagKey", item.get("key")))
                    v = item.get("Value", item.get("TagValue", item.get("value")))
                    if k is not None:
                        out[str(k)] = "" if v is None else str(v)
    return out


def _ancestors(doc: EvidenceDoc) -> tuple[str, ...]:
    raw = doc.data.get("ancestors") if doc.provider == "gcp" else None
    return tuple(str(a) for a in raw) if isinstance(raw, list) else ()


def _hierarchy_name(doc: EvidenceDoc) -> str:
    """`projects/123` of a project document (its resource name without the service)."""
    return doc.resource_id.removeprefix("//cloudresourcemanager.googleapis.com/")


# ---------------------------------------------------------------- the lineage graph


@dataclass
class _Node:
    doc: EvidenceDoc
    role: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    location: str | None = None  # data stores: the prefix they hold
    consumers: list[tuple[str, str]] = field(default_factory=list)  # (resource id, relation)
    dependencies: list[tuple[str, str]] | None = None  # (resource id, value); found on demand


class LineageGraph:
    """Documents indexed for lineage: locations, readers, references, dependencies."""

    def __init__(self, documents: Iterable[EvidenceDoc]) -> None:
        self.nodes: dict[str, _Node] = {}
        self.stores: dict[tuple[str, ...], str] = {}
        self.readers: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self.edges: list[LineageEdge] = []
        self.ou_of_account: dict[str, set[str]] = {}
        self.dependency_keys: dict[str, str] = {}
        self.images: dict[str, str] = {}
        by_name: dict[tuple[str, ...], str] = {}
        docs = list(documents)
        for doc in docs:
            node = _Node(doc, role_of(doc.resource_type))
            self.nodes[doc.resource_id] = node
            location, keys = _store_location(doc)
            if location is not None:
                node.location = location
                for key in keys:
                    self.stores[key] = doc.resource_id
            self._index_dependency(doc, self.dependency_keys, self.images)
            self._index_name(doc, by_name)
            if doc.resource_type == "AWS::::Account":
                for field_name in ("OrganizationalUnitId", "OrganizationalUnits", "ParentIds"):
                    self.ou_of_account.setdefault(doc.account, set()).update(
                        _strings(doc.data.get(field_name))
                    )
        for node in self.nodes.values():
            self._link(node, by_name)

    # -- indexes

    @staticmethod
    def _index_dependency(doc: EvidenceDoc, keys: dict[str, str], images: dict[str, str]) -> None:
        data, rid = doc.data, doc.resource_id
        kind = doc.resource_type
        if kind == "AWS::KMS::Key":
            for value in (data.get("Arn"), data.get("KeyArn"), data.get("KeyId")):
                if value:
                    keys[str(value)] = rid
            for alias in data.get("Aliases") or ():
                keys[str(alias)] = rid
                keys[f"arn:aws:kms:{doc.region}:{doc.account}:{alias}"] = rid
        elif kind == "AWS::IAM::Role":
            keys[str(data.get("Arn") or rid)] = rid
        elif kind == "AWS::ECR::Repository" and data.get("repositoryUri"):
            images[str(data["repositoryUri"])] = rid
        elif kind == "cloudkms.googleapis.com/CryptoKey":
            keys[rid.removeprefix("//cloudkms.googleapis.com/")] = rid
        elif kind == "iam.googleapis.com/ServiceAccount" and data.get("email"):
            keys[str(data["email"])] = rid
        elif kind == "artifactregistry.googleapis.com/Repository":
            parts = rid.split("/")
            try:
                project = parts[parts.index("projects") + 1]
                location = parts[parts.index("locations") + 1]
                repository = parts[parts.index("repositories") + 1]
            except (ValueError, IndexError):
                return
            images[f"{location}-docker.pkg.dev/{project}/{repository}"] = rid

    @staticmethod
    def _index_name(doc: EvidenceDoc, by_name: dict[tuple[str, ...], str]) -> None:
        data = doc.data
        if doc.resource_type == "AWS::SageMaker::Model" and data.get("ModelName"):
            by_name[("sm-model", doc.account, doc.region, str(data["ModelName"]))] = doc.resource_id
        elif doc.resource_type == "AWS::SageMaker::EndpointConfig":
            name = data.get("EndpointConfigName") or doc.name
            by_name[("sm-config", doc.account, doc.region, str(name))] = doc.resource_id
        elif doc.resource_type.startswith("aiplatform.googleapis.com/"):
            by_name[("vertex", doc.resource_id.removeprefix("//aiplatform.googleapis.com/"))] = (
                doc.resource_id
            )

    # -- edges

    def _edge(self, source: str, target: str, relation: str, detail: str) -> None:
        self.edges.append(LineageEdge(source, target, relation, detail))

    def _link(self, node: _Node, by_name: Mapping[tuple[str, ...], str]) -> None:
        doc, data = node.doc, node.doc.data
        kind = doc.resource_type
        paths = _OUTPUT_PATHS.get(kind, ())
        if paths:
            node.outputs = list(dict.fromkeys(u for path in paths for u in _uris(_dig(data, path))))
        if kind in _READER_TYPES:
            outputs = set(node.outputs)
            node.inputs = [u for u in _uris(data) if u not in outputs]
        rid = doc.resource_id
        for uri in node.inputs:
            for key in _store_keys(uri):
                self.readers.setdefault(key, []).append((rid, uri))
            store = self.store_of(uri)
            if store is not None and store != rid:
                self._edge(store, rid, "reads", uri)
        for uri in node.outputs:
            store = self.store_of(uri)
            if store is not None:
                relation = "captures" if node.role == "endpoint" else "writes"
                self._edge(rid, store, relation, uri)
        # references by name: model -> endpoint config -> endpoint; Vertex model -> endpoint
        refs: list[tuple[str | None, str]] = []
        if kind == "AWS::SageMaker::EndpointConfig":
            for variant in data.get("ProductionVariants") or ():
                name = variant.get("ModelName") if isinstance(variant, Mapping) else None
                refs.append(
                    (by_name.get(("sm-model", doc.account, doc.region, str(name))), "serves")
                )
        elif kind == "AWS::SageMaker::Endpoint":
            name = data.get("EndpointConfigName")
            refs.append((by_name.get(("sm-config", doc.account, doc.region, str(name))), "deploys"))
        elif kind.startswith("aiplatform.googleapis.com/"):
            for deployed in data.get("deployedModels") or ():
                if isinstance(deployed, Mapping) and kind.endswith("/Endpoint"):
                    refs.append((by_name.get(("vertex", str(deployed.get("model")))), "serves"))
            if isinstance(data.get("model"), str):
                refs.append((by_name.get(("vertex", data["model"])), "serves"))
            if isinstance(data.get("trainingPipeline"), str):
                refs.append((by_name.get(("vertex", data["trainingPipeline"])), "trains"))
            dataset_id = _dig(data, ("inputDataConfig", "datasetId"))
            name = str(data.get("name") or "")
            if dataset_id and "/locations/" in name:
                prefix = name.rsplit("/", 2)[0]
                refs.append((by_name.get(("vertex", f"{prefix}/datasets/{dataset_id}")), "reads"))
        for source, relation in refs:
            if source is not None and source in self.nodes:
                self.nodes[source].consumers.append((rid, relation))
                self._edge(source, rid, relation, self.nodes[source].doc.name)

    def dependencies(self, rid: str) -> list[tuple[str, str]]:
        """The keys, roles, service accounts and image repositories a resource's document names
        (scanned on first use: only in-scope resources need it, and it reads every string)."""
        node = self.nodes[rid]
        if node.dependencies is None:
            node.dependencies = []
            if node.role != "account":
                self._scan_dependencies(node, self.dependency_keys, self.images)
        return node.dependencies

    def _scan_dependencies(
        self, node: _Node, keys: Mapping[str, str], images: Mapping[str, str]
    ) -> None:
        rid = node.doc.resource_id
        seen: set[str] = set()
        assert node.dependencies is not None
        for text in _strings(node.doc.data):
            target = keys.get(text)
            if target is None and images and "/" in text:
                target = _image_repository(text, images)
            if target is not None and target != rid and target not in seen:
                seen.add(target)
                node.dependencies.append((target, text))
                self._edge(target, rid, "uses", text)

    def store_of(self, uri: str) -> str | None:
        return next((self.stores[k] for k in _store_keys(uri) if k in self.stores), None)


def _image_repository(image: str, images: Mapping[str, str]) -> str | None:
    """The ECR or Artifact Registry repository of an image reference, by dict lookups only:
    `acct.dkr.ecr.region.amazonaws.com/team/repo:tag` -> that repository URI;
    `region-docker.pkg.dev/project/repo/image@sha256:..` -> its first three parts."""
    base = image.split("@", 1)[0]
    head, _, last = base.rpartition("/")
    if head and ":" in last:
        base = f"{head}/{last.split(':', 1)[0]}"
    found = images.get(base)
    if found is None:
        found = images.get("/".join(base.split("/", 3)[:3]))
    return found


# ---------------------------------------------------------------- selectors


def matches(selector: ScopeSelector, doc: EvidenceDoc, graph: LineageGraph) -> bool:
    """Every key the selector sets must match the resource."""
    if selector.tag_key is not None:
        tags = _tags(doc)
        if selector.tag_key not in tags:
            return False
        if selector.tag_values and tags[selector.tag_key] not in selector.tag_values:
            return False
    if selector.accounts and not (doc.provider == "aws" and doc.account in selector.accounts):
        return False
    if selector.organizational_units and not (
        doc.provider == "aws"
        and graph.ou_of_account.get(doc.account, set()) & set(selector.organizational_units)
    ):
        return False
    ancestors = _ancestors(doc)
    if selector.projects and not (
        doc.provider == "gcp"
        and (
            doc.account in selector.projects
            or any(f"projects/{p}" in ancestors for p in selector.projects)
        )
    ):
        return False
    if selector.folders and not any(f"folders/{f}" in ancestors for f in selector.folders):
        return False
    return not (
        selector.regions and doc.region.lower() not in {r.lower() for r in selector.regions}
    )


def _first_match(
    selectors: Sequence[ScopeSelector], doc: EvidenceDoc, graph: LineageGraph
) -> ScopeSelector | None:
    return next((s for s in selectors if matches(s, doc, graph)), None)


# ---------------------------------------------------------------- propagation


@dataclass
class _Reached:
    phrase: str  # "trained on s3://claims-phi/train/"
    origin: str  # resource id of the directly selected resource
    selector: str  # "tag data-class=phi"
    parent: str | None  # the resource it came from; None when directly selected


def _propagate(
    graph: LineageGraph,
    direct: Mapping[str, ScopeSelector],
    excluded: Mapping[str, ScopeSelector],
) -> dict[str, _Reached]:
    """Breadth first from the directly selected resources, so each keeps its nearest reason."""
    reached: dict[str, _Reached] = {}
    queue: deque[str] = deque()
    for rid, selector in direct.items():
        reached[rid] = _Reached(selector.describe(), rid, selector.describe(), None)
        queue.append(rid)

    def add(rid: str, phrase: str, parent: str) -> None:
        if rid in reached or rid in excluded or rid not in graph.nodes:
            return
        origin = reached[parent]
        reached[rid] = _Reached(phrase, origin.origin, origin.selector, parent)
        queue.append(rid)

    def taint(location: str, source: str) -> None:
        """Everything reading `location` (a prefix `source` holds or wrote) joins the scope."""
        for key in _store_keys(location):
            for reader, uri in graph.readers.get(key, ()):
                if reader != source and overlaps(uri, location):
                    add(reader, _read_phrase(graph.nodes[reader].doc, uri), source)

    while queue:
        rid = queue.popleft()
        node = graph.nodes[rid]
        if node.location is not None and rid in direct:
            taint(node.location, rid)
        for uri in node.outputs:
            store = graph.store_of(uri)
            if store is not None:
                what = "captured requests" if node.role == "endpoint" else "output"
                add(store, f"holds {what} of {describe(node.doc)} at {uri}", rid)
            taint(uri, rid)
        for consumer, relation in node.consumers:
            add(consumer, _consumer_phrase(relation, node.doc), rid)
    return reached


def _read_phrase(doc: EvidenceDoc, uri: str) -> str:
    if doc.resource_type in MODEL_TYPES:
        return f"model artifacts at {uri}"
    if doc.resource_type in (
        "AWS::SageMaker::ProcessingJob",
        "aiplatform.googleapis.com/PipelineJob",
    ):
        return f"processes {uri}"
    if doc.resource_type == "aiplatform.googleapis.com/BatchPredictionJob":
        return f"scores {uri}"
    if doc.resource_type == "aiplatform.googleapis.com/Dataset":
        return f"imports {uri}"
    return f"trained on {uri}"


def _consumer_phrase(relation: str, source: EvidenceDoc) -> str:
    if relation == "serves":
        return f"serves {describe(source)}"
    if relation == "deploys":
        return f"deploys {describe(source)}"
    if relation == "trains":
        return f"trained by {describe(source)}"
    return f"trained on {describe(source)}"


def _reason_text(label: str, reached: _Reached, graph: LineageGraph) -> str:
    if reached.parent is None:
        return f"in {label} scope: {reached.selector}"
    if reached.parent == reached.origin:
        return f"in {label} scope: {reached.phrase} ({reached.selector})"
    origin = describe(graph.nodes[reached.origin].doc)
    return f"in {label} scope: {reached.phrase} (lineage from {origin}: {reached.selector})"


# ---------------------------------------------------------------- the entry point


def compute_scope(
    documents: Iterable[EvidenceDoc],
    definition: ScopeDefinition | Mapping[str, Any] | None,
    frameworks: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
) -> ScopeResult:
    """Each framework's scope over `documents` (both providers' snapshots together), with the
    lineage graph. `definition` None (no `scope:` in auditor.yaml) puts every resource in every
    scope; plain data shaped like the YAML is accepted too."""
    if isinstance(definition, Mapping):
        definition = ScopeDefinition.from_dict(definition)
    graph = LineageGraph(documents)
    names = dict(labels or {})
    if definition is None:
        scopes = tuple(
            FrameworkScope(
                fw,
                False,
                tuple(_decision(fw, n.doc, True, NO_SCOPE_REASON) for n in graph.nodes.values()),
            )
            for fw in frameworks
        )
        return ScopeResult(
            defined=False, frameworks=scopes, edges=tuple(dict.fromkeys(graph.edges))
        )

    direct: dict[str, dict[str, ScopeSelector]] = {}
    excluded: dict[str, dict[str, ScopeSelector]] = {}
    reached: dict[str, dict[str, _Reached]] = {}
    for fw in frameworks:
        spec = definition.frameworks.get(fw)
        if spec is None:
            continue
        direct[fw], excluded[fw] = {}, {}
        for rid, node in graph.nodes.items():
            out = _first_match(spec.exclude, node.doc, graph)
            if out is not None:
                excluded[fw][rid] = out
                continue
            chosen = _first_match(spec.include, node.doc, graph)
            if chosen is not None:
                direct[fw][rid] = chosen
        reached[fw] = _propagate(graph, direct[fw], excluded[fw])
    classified_by: dict[str, list[str]] = {}
    for fw in reached:
        for rid in [*reached[fw], *excluded[fw]]:
            classified_by.setdefault(rid, []).append(fw)

    framework_scopes: list[FrameworkScope] = []
    for fw in frameworks:
        label = names.get(fw, fw)
        if fw not in reached:
            decisions = tuple(
                _decision(
                    fw, n.doc, True, f"no scope was defined for {label}: every resource is in scope"
                )
                for n in graph.nodes.values()
            )
            framework_scopes.append(FrameworkScope(fw, False, decisions))
            continue
        framework_scopes.append(
            FrameworkScope(
                fw,
                True,
                _framework_decisions(
                    fw, label, graph, reached[fw], excluded[fw], classified_by, names, definition
                ),
            )
        )
    return ScopeResult(
        defined=True,
        frameworks=tuple(framework_scopes),
        edges=tuple(dict.fromkeys(graph.edges)),  # with the "uses" edges of in-scope resources
        unclassified_in_scope=definition.unclassified_in_scope,
    )


_ROLE_ORDER = {"data": 0, "pipeline": 1, "model": 2, "endpoint": 3, "other": 4, "dependency": 5}


def _decision(fw: str, doc: EvidenceDoc, in_scope: bool, reason: str) -> ScopeDecision:
    return ScopeDecision(
        framework=fw,
        resource_id=doc.resource_id,
        in_scope=in_scope,
        reason=reason,
        resource_type=doc.resource_type,
        name=display_name(doc),
        role=role_of(doc.resource_type),
        provider=doc.provider,
        account=doc.account,
    )


def _framework_decisions(
    fw: str,
    label: str,
    graph: LineageGraph,
    reached: Mapping[str, _Reached],
    excluded: Mapping[str, ScopeSelector],
    classified_by: Mapping[str, list[str]],
    names: Mapping[str, str],
    definition: ScopeDefinition,
) -> tuple[ScopeDecision, ...]:
    decided: dict[str, tuple[bool, str]] = {}
    for rid, hit in reached.items():
        decided[rid] = (True, _reason_text(label, hit, graph))
    # what in-scope resources use: keys, roles, service accounts, images (no further spread)
    for rid in list(decided):
        node = graph.nodes[rid]
        for target, value in graph.dependencies(rid):
            if target in decided or target in excluded:
                continue
            decided[target] = (
                True,
                f"in {label} scope: used by {describe(node.doc)} ({value}), which is in scope",
            )
    for rid, node in graph.nodes.items():
        if rid in decided or node.role == "account":
            continue
        if rid in excluded:
            decided[rid] = (False, f"out of {label} scope: excluded by {excluded[rid].describe()}")
        elif rid in classified_by:
            others = ", ".join(names.get(o, o) for o in classified_by[rid])
            decided[rid] = (False, f"out of {label} scope: classified for {others} only")
        elif definition.unclassified_in_scope:
            decided[rid] = (
                True,
                f"in {label} scope: unclassified (no scope selector or lineage reaches it; "
                "unclassified: in_scope)",
            )
        else:
            decided[rid] = (
                False,
                f"out of {label} scope: unclassified (no scope selector or lineage reaches it; "
                "unclassified: out_of_scope)",
            )
    # account- and project-wide resources follow what their account/project holds
    holders: dict[str, list[Any]] = {}  # owner -> [count, best example]
    for rid, (inside, _) in decided.items():
        node = graph.nodes[rid]
        if not inside or node.role == "account":
            continue
        rank = _ROLE_ORDER.get(node.role, 9)
        for owner in {node.doc.account, *_ancestors(node.doc)}:
            entry = holders.get(owner)
            if entry is None:
                holders[owner] = [1, rid, rank]
            else:
                entry[0] += 1
                if rank < entry[2]:
                    entry[1], entry[2] = rid, rank
    for rid, node in graph.nodes.items():
        if rid in decided:
            continue
        doc = node.doc
        if rid in excluded:
            decided[rid] = (False, f"out of {label} scope: excluded by {excluded[rid].describe()}")
            continue
        if doc.resource_type in HIERARCHY_TYPES:
            candidates = [_hierarchy_name(doc), doc.account]
        else:  # an organisation's log sink has no project: its ancestors say where it applies
            candidates = [doc.account, *_ancestors(doc)]
        holder = next((c for c in candidates if c and c in holders), None)
        held = holders.get(holder) if holder is not None else None
        shown = holder or next((c for c in candidates if c), "")
        if doc.provider == "aws":
            where = f"account {shown}"
        else:
            where = shown if "/" in shown else f"project {shown}"
        if held:
            example = describe(graph.nodes[held[1]].doc)
            more = f" and {held[0] - 1} more" if held[0] > 1 else ""
            decided[rid] = (
                True,
                f"in {label} scope: account-wide control; {where} holds in-scope resources "
                f"({example}{more})",
            )
        else:
            decided[rid] = (
                False,
                f"out of {label} scope: account-wide control; {where} holds no in-scope resource",
            )
    return tuple(_decision(fw, node.doc, *decided[rid]) for rid, node in graph.nodes.items())


# ---------------------------------------------------------------- Graphviz


def _dot_text(text: str) -> str:
    text = neutralise_text(text)  # evidence names: no bidi reordering or terminal escapes
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_SHAPES = {
    "data": "cylinder",
    "pipeline": "box",
    "model": "component",
    "endpoint": "doubleoctagon",
    "dependency": "note",
}


def scope_dot(result: ScopeResult, labels: Mapping[str, str] | None = None) -> str:
    """The lineage graph as Graphviz text: resources that take part in lineage or are in a
    defined scope (account-wide resources left out), each labelled with the frameworks
    holding it; edges labelled with how data flows."""
    names = dict(labels or {})
    holders: dict[str, list[str]] = {}
    info: dict[str, ScopeDecision] = {}
    for scope in result.frameworks:
        for decision in scope.decisions:
            info.setdefault(decision.resource_id, decision)
            if decision.in_scope and (scope.defined or not result.defined):
                holders.setdefault(decision.resource_id, []).append(
                    names.get(scope.framework, scope.framework)
                )
    linked = {e.source for e in result.edges} | {e.target for e in result.edges}
    shown = [
        rid
        for rid, d in info.items()
        if d.role != "account" and (rid in linked or (result.defined and rid in holders))
    ]
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    ids = {rid: f"n{i}" for i, rid in enumerate(shown)}
    for rid in shown:
        d = info[rid]
        scopes = ", ".join(holders.get(rid, [])) or "out of scope"
        label = f"{d.name}\n{d.resource_type}\n[{scopes}]"
        shape = _DOT_SHAPES.get(d.role, "ellipse")
        style = ', style=filled, fillcolor="#fde2e2"' if result.defined and rid in holders else ""
        lines.append(
            f"  {ids[rid]} [label={_dot_text(label)}, shape={shape}, "
            f"tooltip={_dot_text(rid)}{style}];"
        )
    for edge in result.edges:
        if edge.source in ids and edge.target in ids:
            lines.append(
                f"  {ids[edge.source]} -> {ids[edge.target]} [label={_dot_text(edge.relation)}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"
