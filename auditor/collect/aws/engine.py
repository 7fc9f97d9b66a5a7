"""One generic engine that turns declared AWS resource types into evidence documents.

Resource types are data (see `specs.py`): a list call, per-item calls joined under fixed keys,
an ID template. The engine does the I/O: it paginates, fans the per-item calls out over a bounded
thread pool, shares results that are the same for a whole account or region (a managed policy, the
KMS alias list), records every call, and turns every failed call into a `CollectionError` so the
run continues and the controls that needed the evidence become ERROR rather than PASS or FAIL.

Expressions in declarations are JMESPath over the item being built, which also carries
`_account`, `_region`, `_regions`, `_partition` (and `_parent` inside a nested join, `_documents`
for account-level documents built from other types).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import queue
import random
import re
import threading
import time
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit
from xml.sax.saxutils import escape as xml_escape

import jmespath
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from auditor.models import CollectionError, EvidenceDoc, EvidenceSink, isoformat

PROVIDER = "aws"
GLOBAL_REGION = "global"

Transform = Callable[[Any], Any]


class Scope(StrEnum):
    """Where a resource type lives, which decides how often it is listed."""

    REGIONAL = "regional"  # listed in every audited region
    GLOBAL = "global"  # listed once per account (S3 buckets, IAM roles)
    REGION_DOCUMENT = "region_document"  # one document per audited region (GuardDuty, Macie)
    ACCOUNT_DOCUMENT = "account_document"  # one document per account (AWS::::Account)


@dataclass(frozen=True)
class Call:
    """One API operation and how to build its parameters from the item being described."""

    operation: str  # API name as the service model spells it: "GetBucketEncryption"
    params: Mapping[str, str] = field(default_factory=dict)  # API parameter -> JMESPath
    constants: Mapping[str, Any] = field(default_factory=dict)  # fixed API parameters
    result: str | None = None  # JMESPath into the response; None: the whole response
    paginate: bool = False  # follow the paginator; list results of all pages are concatenated
    page_size: int | None = None  # the largest page the API allows: fewer calls
    absent: Mapping[str, str] = field(default_factory=dict)  # error code -> message regex ("" any)
    service: str | None = None  # another service than the resource type's (s3control)
    region: str | None = None  # JMESPath naming the region to call (S3: the bucket's region)
    share: str | None = None  # "account" | "region": same answer for all items, called once
    # Response members the API always returns that its botocore model does not mark required
    # (KMS GetKeyRotationStatus's KeyRotationEnabled): a 2xx answer without one is malformed.
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Join:
    """Related evidence put under `key` (or merged into the document when `key` is None).

    A part that is not configured (the call answered with an `absent` code) becomes
    `absent_value`; a part whose call failed is left out and recorded as a CollectionError
    with `field=key`, so rules reading it give ERROR.
    """

    key: str | None
    call: Call
    when: str | None = None  # JMESPath; falsy: no call, the key gets `absent_value`
    absent_value: Any = None
    transform: Transform | None = None
    each: tuple[Join, ...] = ()  # joins applied to every element of a list result
    item_key: str | None = None  # wrap scalar list elements as {item_key: value}
    keep: tuple[str, ...] | None = None  # fields kept on each element after `each`
    match: tuple[str, str] | None = None  # (element field, item field): pick from a shared list


@dataclass(frozen=True)
class ResourceSpec:
    """A resource type as data: how to list it, what to join, how to name it."""

    resource_type: str  # CloudFormation type name: "AWS::S3::Bucket"
    service: str  # boto3 service name
    id: str  # template: "arn:{_partition}:s3:::{Name}", {} hold JMESPath
    name: str  # JMESPath giving the display name
    scope: Scope = Scope.REGIONAL
    list: Call | None = None  # None for REGION_DOCUMENT / ACCOUNT_DOCUMENT
    item_key: str | None = None  # list results are scalars: wrap as {item_key: value}
    list_filter: str | None = None  # JMESPath over a list item; falsy items are skipped
    joins: tuple[Join, ...] = ()
    derive: Mapping[str, str] = field(default_factory=dict)  # key -> JMESPath after joins
    region_of: str | None = None  # JMESPath giving the document's region (S3 buckets)
    after: Mapping[str, str] = field(default_factory=dict)  # type -> key derived from its docs
    # Security settings the describe call always returns. A response without one (an API or an
    # intermediary that drops it) is incomplete evidence: an error for that field, not a verdict.
    required: tuple[str, ...] = ()

    def operations(self) -> Iterator[tuple[str, str]]:
        """Every (service, operation) this type can call: what the IAM policy must allow."""
        if self.list is not None:
            yield (self.list.service or self.service, self.list.operation)
        stack = list(self.joins)
        while stack:
            join = stack.pop()
            yield (join.call.service or self.service, join.call.operation)
            stack.extend(join.each)


@dataclass(frozen=True)
class CallRecord:
    """One API call (one page of a paginated call) as the call log keeps it."""

    account: str
    region: str
    service: str
    operation: str
    ok: bool
    error_code: str | None
    duration_ms: float
    attempts: int
    absent: bool = False  # failed with an "absent is evidence" code: not configured, not an error


@dataclass(frozen=True)
class Target:
    """One account to audit: its ID and a boto3 session holding its credentials."""

    account: str
    session: Any  # boto3.Session
    partition: str = "aws"


class CallFailed(Exception):
    """A call that failed after botocore's retries, with the code we record."""

    def __init__(self, service: str, operation: str, region: str, code: str, message: str):
        super().__init__(f"{service}:{operation} {code}: {message}")
        self.service = service
        self.operation = operation
        self.region = region
        self.code = code
        self.message = message


class _Absent(Exception):
    """The call said "not configured": evidence, not an error."""


class _JoinFailed(Exception):
    """A join could not be completed; the error has already been reported."""


@dataclass
class _Context:
    target: Target
    region: str  # the region being collected ("global" for global types' documents)
    call_region: str  # the region whose endpoint list calls use
    regions: tuple[str, ...]

    def meta(self) -> dict[str, Any]:
        return {
            "_account": self.target.account,
            "_region": self.region,
            "_regions": list(self.regions),
            "_partition": self.target.partition,
        }


# ---------------------------------------------------------------- helpers


@lru_cache(maxsize=1024)
def _expr(text: str) -> Any:
    return jmespath.compile(text)


def search(expression: str, data: Any) -> Any:
    return _expr(expression).search(data)


_TEMPLATE = re.compile(r"\{([^{}]+)\}")


def render(template: str, data: Mapping[str, Any]) -> str | None:
    """Fill `{jmespath}` placeholders; None when one of them has no value."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = search(match.group(1), data)
        if value is None or value == "":
            missing = True
            return ""
        return str(value)

    text = _TEMPLATE.sub(fill, template)
    return None if missing else text


def plain(value: Any) -> Any:
    """JSON-ready copy of a boto3 response: datetimes as ISO strings, metadata removed."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return isoformat(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "read"):  # a streaming body: never expected in describe calls
        return None
    return value


_HTML_TAG = re.compile(r"<[^>]+>")
_NOT_IMPLEMENTED = re.compile(r"not (yet )?(been )?implemented", re.IGNORECASE)


def classify(error: Exception) -> tuple[str, str]:
    """(code, message) for a failed call, in the words an auditor can act on."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        meta = error.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        code = str(err.get("Code") or status or "Unknown")
        message = " ".join(_HTML_TAG.sub(" ", str(err.get("Message") or "")).split())[:500]
        if status == 501 or _NOT_IMPLEMENTED.search(message) or code in {"NotImplemented", "501"}:
            return "NotImplemented", message or "the service does not implement this operation"
        if code.isdigit():
            code = f"HTTP{code}"
        return code, message
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return "Timeout", str(error)
    if isinstance(error, EndpointConnectionError):
        return "EndpointConnectionError", str(error)
    if isinstance(error, BotoCoreError):
        return type(error).__name__, str(error)
    return type(error).__name__, str(error)


def _absent(call: Call, code: str, message: str) -> bool:
    if code not in call.absent:
        return False
    pattern = call.absent[code]
    return not pattern or re.search(pattern, message) is not None


def _snake(operation: str) -> str:
    """boto3's method name for an API operation (ListMFADevices -> list_mfa_devices)."""
    return str(xform_name(operation))


def allow_local_s3control(client: Any) -> Any:
    """Let an s3control client reach an IP-literal or localhost endpoint (a local server).

    botocore's endpoint rules put the account ID in front of the host even for a custom
    endpoint; `123456789012.127.0.0.1` cannot resolve, so such requests go to the literal host
    (the account is also in the `x-amz-account-id` header). Real AWS hosts are left alone.
    """
    client.meta.events.register_first("before-send.s3-control", _ip_endpoint_account_label)
    return client


def _ip_endpoint_account_label(request: Any, **_: Any) -> None:
    """s3control puts the account ID in front of the host; an IP-literal or localhost endpoint
    (a local test server) cannot carry a host label, so send the request to the literal host."""
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    label, _dot, rest = host.partition(".")
    if not (label.isdigit() and len(label) == 12 and rest):
        return
    try:
        ipaddress.ip_address(rest)
    except ValueError:
        if rest != "localhost":
            return
    netloc = rest + (f":{parts.port}" if parts.port else "")
    request.url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def retry_settings(session: Any, max_attempts: int) -> Any:
    """Our retry defaults (adaptive, `max_attempts`) for what botocore's own settings leave
    open: `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` in the environment and `retry_mode` /
    `max_attempts` in the profile's config file win, and botocore reads them itself."""
    botocore_session = getattr(session, "_session", session)  # a boto3 or a botocore session
    try:
        scoped = botocore_session.get_scoped_config() if botocore_session else {}
    except ProfileNotFound:
        scoped = {}
    retries: dict[str, Any] = {}
    if not os.environ.get("AWS_RETRY_MODE") and "retry_mode" not in scoped:
        retries["mode"] = "adaptive"
    if not os.environ.get("AWS_MAX_ATTEMPTS") and "max_attempts" not in scoped:
        retries["max_attempts"] = max_attempts
    return retries


def service_groups(specs: Sequence[ResourceSpec]) -> dict[str, tuple[ResourceSpec, ...]]:
    """Declarations grouped by service, the grain of a work unit. A type built from other
    types' documents (`after`) is grouped with them, so one unit sees all it needs; the
    group's name joins its services ("cloudtrail+s3control")."""
    group_of: dict[str, str] = {}
    members: dict[str, list[ResourceSpec]] = {}
    for spec in specs:
        group_of[spec.resource_type] = spec.service
        members.setdefault(spec.service, []).append(spec)
    for spec in specs:
        for other in spec.after:
            mine, theirs = group_of[spec.resource_type], group_of.get(other)
            if theirs is None or theirs == mine:
                continue
            merged = "+".join(sorted(set(mine.split("+")) | set(theirs.split("+"))))
            joined = members.pop(mine) + members.pop(theirs)
            members[merged] = joined
            for member in joined:
                group_of[member.resource_type] = merged
    order = {spec.resource_type: n for n, spec in enumerate(specs)}
    return {
        name: tuple(sorted(group, key=lambda s: order[s.resource_type]))
        for name, group in sorted(members.items())
    }


# ---------------------------------------------------------------- response validation

MALFORMED = "MalformedResponse"
DEADLINE = "DeadlineExceeded"
MAX_BACKOFF_S = 20.0  # the longest pause before retrying a malformed answer (botocore's cap)
# Keys an error body carries: a 200 answer holding one the operation's output does not define
# is an error page or a proxy's reply, not the operation's answer.
_ERROR_KEYS = frozenset({"message", "Message", "__type", "code", "Code", "errorMessage", "error"})


class DeadlineExceeded(BotoCoreError):
    """The run's deadline passed before this call could be sent."""

    fmt = "the collection deadline of {seconds:g} s passed before this call could be made"


def enforce_deadline(client: Any, deadline: float, seconds: float) -> Any:
    """Refuse every send (first attempt or retry) once the monotonic `deadline` has passed.

    Raised from `before-send`, the error goes through botocore's retry decision as a
    non-retryable exception, so a call stalling on every attempt stops at the deadline instead
    of spending its remaining attempts; the engine records it as a CollectionError.
    """

    def check(**_: Any) -> None:
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(seconds=seconds)

    client.meta.events.register_first("before-send", check)
    return client


def validate_responses(
    client: Any,
    max_attempts: int | None = None,
    required: Mapping[str, Iterable[str]] | None = None,
) -> Any:
    """Make every 2xx answer of `client` prove it is its operation's answer before it is used.

    botocore reads a body shorter than its Content-Length without complaint and turns JSON it
    cannot decode into `{"message": body}`, which then parses as an answer with every member
    missing: a rotated key reads as unrotated, a key list as empty. Three botocore events fix
    that: `before-parse` checks the raw bytes against Content-Length, the protocol's parser and
    the operation's output shape, and when they do not fit has the parser read a
    `MalformedResponse` error instead (marked in the parsed answer); `needs-retry` retries a
    marked answer with backoff like any transient fault; `after-call` raises the last one as a
    ClientError, which the engine records as a CollectionError (controls ERROR, not PASS/FAIL).
    Members the local botocore does not know are tolerated beside known ones: AWS adds response
    fields, and an older botocore must not turn every such call into an error. `required`
    names, per operation, members the declarations (`Call.required`) add to the model's.
    """
    retries = client.meta.config.retries or {}
    total = max_attempts if max_attempts is not None else retries.get("max_attempts", 4)
    total = int(retries.get("total_max_attempts", total + 1))
    events = client.meta.events
    declared = {op: tuple(members) for op, members in (required or {}).items()}
    events.register_first("before-parse", functools.partial(_check_response, declared))
    events.register_first("needs-retry", functools.partial(_retry_malformed, total))
    events.register_first("after-call", _raise_malformed)
    return client


_MARK = "__auditor_malformed__"


def _check_response(
    declared: Mapping[str, tuple[str, ...]],
    operation_model: Any,
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    **_: Any,
) -> None:
    if response_dict.get("status_code", 500) >= 300:
        return
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray):
        return  # streaming output: not used by the collectors
    problem = response_problem(
        operation_model, response_dict, declared.get(operation_model.name, ())
    )
    if problem is None:
        return
    # the parser reads an error in the protocol's own format instead of the broken body
    protocol = operation_model.service_model.resolved_protocol
    response_dict["status_code"] = 500
    response_dict["body"] = _error_body(protocol, MALFORMED, problem)
    customized_response_dict[_MARK] = problem


def _retry_malformed(total: int, response: Any = None, attempts: int = 1, **_: Any) -> float | None:
    if response is None or not isinstance(response[1], Mapping) or _MARK not in response[1]:
        return None
    if attempts >= total:
        return None
    return random.random() * min(MAX_BACKOFF_S, 2 ** (attempts - 1))


def _raise_malformed(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    problem = parsed.pop(_MARK, None)
    if problem is None:
        return
    parsed.setdefault("Error", {}).update({"Code": MALFORMED, "Message": problem})
    parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = http_response.status_code
    raise ClientError(parsed, model.name)  # type: ignore[arg-type]


# Members an output shape marks required that the moto server the test suite runs against
# omits (AWS itself returns them). Not enforced, so that a run against moto is not all errors;
# no control reads them. Every other required member is.
_OMITTED_BY_TEST_SERVER: Mapping[str, frozenset[str]] = {
    "DescribeModelPackage": frozenset({"ModelPackageName"}),
    "DescribeModelPackageGroup": frozenset({"CreatedBy"}),
}


def response_problem(
    operation_model: Any, response_dict: Mapping[str, Any], declared: Iterable[str] = ()
) -> str | None:
    """Why a 2xx response is not a valid answer of `operation_model`, or None when it is.
    `declared`: members beyond the model's required ones that the answer must carry."""
    from botocore.parsers import ResponseParserError, create_parser

    body = bytes(response_dict.get("body") or b"")
    name = operation_model.name
    length = response_dict.get("headers", {}).get("content-length")
    if operation_model.http.get("method") == "HEAD":
        length = None  # a HEAD answer states the length of a body it does not send
    if length is not None and str(length).strip().isdigit() and int(length) != len(body):
        return f"{name}: the body is {len(body)} bytes but Content-Length says {int(length)}"
    protocol = operation_model.service_model.resolved_protocol
    shape = operation_model.output_shape
    raw: Any = None
    if protocol in ("json", "rest-json") and body.strip():
        try:
            raw = json.loads(body)
        except ValueError as error:
            return f"{name}: the body is not JSON ({error})"
        if not isinstance(raw, dict):
            return f"{name}: the body is JSON {type(raw).__name__}, not an object"
    try:
        parsed = create_parser(protocol).parse(dict(response_dict), shape)
    except (ResponseParserError, ValueError, TypeError, AttributeError) as error:
        return f"{name}: the body cannot be parsed ({type(error).__name__}: {error})"
    if shape is None:
        return None
    body_members = [m for m in shape.members.values() if not m.serialization.get("location")]
    if not body.strip() and body_members and name.startswith(("Get", "Describe", "List")):
        # a read call with members to answer never answers with nothing at all
        return f"{name}: the body is empty"
    if raw == {} and name.startswith("Describe") and shape.members:
        # a Describe call answers for a resource that exists; Get/List may answer "nothing"
        return f"{name}: the body is an empty object"
    if isinstance(raw, dict) and raw and not shape.serialization.get("payload"):
        known = {
            m.serialization.get("name", key)
            for key, m in shape.members.items()
            if not m.serialization.get("location")
        }
        unknown = sorted(set(raw) - known)
        if unknown and not set(raw) & known:
            return f"{name}: the body has none of the operation's members, only {unknown}"
        if set(unknown) & _ERROR_KEYS:
            return f"{name}: the body carries error members {unknown}"
    # Every required member missing: not this operation's answer (an empty or foreign body).
    # One missing: a partial answer (an intermediary dropped it, a body cut at an element
    # boundary) that would read as a setting switched off.
    required = list(shape.required_members)
    if required and not any(m in parsed for m in required):
        return f"{name}: the response lacks every required member ({', '.join(required)})"
    omitted = _OMITTED_BY_TEST_SERVER.get(name, frozenset())
    missing = [m for m in (*required, *declared) if m not in parsed and m not in omitted]
    if missing:
        return f"{name}: the response lacks the required member(s) {', '.join(missing)}"
    return _broken_document(name, parsed)


_DOCUMENT_MEMBERS = frozenset({"Policy", "PolicyDocument", "AssumeRolePolicyDocument", "Document"})
# Documents in the IAM policy grammar, where `Statement` is required: S3 returns a bucket
# policy as the raw body, so any 200 body (a proxy's `{"message": ...}`) would parse as one.
_POLICY_MEMBERS = frozenset({"Policy", "PolicyDocument", "AssumeRolePolicyDocument"})


def _broken_document(name: str, parsed: Mapping[str, Any], depth: int = 0) -> str | None:
    """A policy document (JSON text, URL-encoded by IAM) that does not decode was cut short,
    and one without a `Statement` is not a policy: read as a policy either would look empty,
    and a control (or its applicability) would flip."""
    for key, value in parsed.items():
        if key in _DOCUMENT_MEMBERS and isinstance(value, str):
            text = value.strip()
            if text.startswith("%7B"):
                text = unquote(text)
            policy = key in _POLICY_MEMBERS
            if not text.startswith("{") and not policy:
                continue
            try:
                document = json.loads(text)
            except ValueError as error:
                return f"{name}: the {key} document is not valid JSON ({error})"
            if policy and not (isinstance(document, dict) and "Statement" in document):
                return f"{name}: the {key} document is not a policy (it has no Statement)"
        elif isinstance(value, Mapping) and depth < 1:
            problem = _broken_document(name, value, depth + 1)
            if problem:
                return problem
    return None


def _error_body(protocol: str, code: str, message: str) -> bytes:
    if protocol in ("json", "rest-json"):
        return json.dumps({"__type": code, "message": message}).encode()
    text = xml_escape(message)
    if protocol == "ec2":
        inner = f"<Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors>"
        return f"<Response>{inner}</Response>".encode()
    if protocol == "query":
        error = f"<Error><Code>{code}</Code><Message>{text}</Message></Error>"
        return f"<ErrorResponse>{error}</ErrorResponse>".encode()
    return f"<Error><Code>{code}</Code><Message>{text}</Message></Error>".encode()


# ---------------------------------------------------------------- the engine


class _Shared:
    """Single-flight cache: the first caller computes, the others wait for its answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Any, tuple[threading.Event, list[Any]]] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = (threading.Event(), [])
                self._entries[key] = entry
        event, box = entry
        if owner:
            try:
                box.append((True, compute()))
            except BaseException as error:  # re-raised to every waiter
                box.append((False, error))
            event.set()
        else:
            event.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


class ClientCache:
    """Clients shared by the engines of one process: the work units of a run that land on the
    same worker. Making a botocore client costs more CPU than a small unit's calls (measured:
    a fifth of a unit run's CPU), and a client is thread-safe once made. Bounded (least
    recently used first out) so a worker that sees hundreds of accounts keeps its memory."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._clients: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # sessions are not thread-safe while making clients

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = make()
                self._clients[key] = client
                while len(self._clients) > self.size:
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(key)
            return client

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()


class Engine:
    """Runs resource declarations against accounts and regions, streaming into a sink."""

    def __init__(
        self,
        specs: Sequence[ResourceSpec],
        *,
        max_workers: int = 16,
        max_attempts: int = 5,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        page_size: int | None = None,
        redact: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
        deadline_seconds: float | None = None,
        started: float | None = None,
        clients: ClientCache | None = None,
        clients_key: Hashable = None,
    ) -> None:
        """`clients`: a cache shared with other engines of this process, under `clients_key`
        (what makes their targets' sessions the same: the run, the account's access)."""
        self.specs = tuple(specs)
        self._started = started  # monotonic start of the whole run (scope calls included)
        # the run ends its remaining calls in CollectionErrors once this many seconds have passed
        self.deadline_seconds = deadline_seconds
        self._deadline = float("inf")
        self.max_workers = max(1, max_workers)
        self.max_attempts = max_attempts
        self.page_size = page_size  # overrides the resource list calls' page size (tests)
        self.redact = redact or (lambda data: dict(data))
        self.config = Config(  # retries: per session, see `retry_settings`
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, self.max_workers),
            user_agent_extra="auditor",
        )
        self._timeouts = (connect_timeout, read_timeout)
        self.call_log: list[CallRecord] = []
        self._log_lock = threading.Lock()
        self._clients = clients if clients is not None else ClientCache(size=1 << 16)
        self._clients_key = clients_key
        self._shared = _Shared()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[Future[None], tuple[Any, ...]] = {}  # task -> its arguments
        self._abandoned = 0  # tasks still running when the deadline's grace ran out
        self.deadline_grace_s = 1.0  # how long past the deadline in-flight calls may finish
        self._retained: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._failed_types: set[tuple[str, str]] = set()  # (account, type) with any error
        self._required = declared_required(self.specs)
        # a shared client checks the members its maker's declarations require: part of its key
        self._required_keys = {
            service: tuple(sorted(operations.items()))
            for service, operations in self._required.items()
        }

    # ------------------------------------------------------------ public

    def run(
        self,
        targets: Sequence[Target],
        regions: Sequence[str],
        sink: EvidenceSink,
        *,
        only_region: str | None = None,
    ) -> dict[str, Any]:
        """Collect every declared type in every target and region; returns statistics.

        `only_region` (a work unit's): collect that region's documents only ("global": the
        account-level types), while declarations still see every audited region."""
        started = time.monotonic()
        if self.deadline_seconds is not None:
            self._deadline = (self._started or started) + self.deadline_seconds
        counts: Counter[str] = Counter()
        errors = 0
        regions = tuple(regions)
        retain = {t for spec in self.specs for t in spec.after}
        self._retain_types = retain
        first = [s for s in self.specs if not s.after]
        later = [s for s in self.specs if s.after]
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="auditor-aws")
        self._pool = pool
        try:
            for phase in (first, later):
                for target in targets:
                    for spec in phase:
                        for ctx in self._contexts(spec, target, regions):
                            if only_region is None or ctx.region == only_region:
                                self._submit(self._collect_type, spec, ctx)
                for message in self._drain():
                    if isinstance(message, EvidenceDoc):
                        sink.add(message)
                        counts[message.resource_type] += 1
                    else:
                        sink.add_error(message)
                        errors += 1
        finally:
            # calls abandoned at the deadline finish (or time out) in the background
            pool.shutdown(wait=not self._abandoned, cancel_futures=True)
            self._pool = None
        log = list(self.call_log)
        by_operation = Counter(f"{r.service}:{r.operation}" for r in log)
        return {
            "calls": len(log),
            "api_requests": sum(r.attempts for r in log),
            "failed_calls": sum(1 for r in log if not r.ok and not r.absent),
            "deadline_exceeded": sum(1 for r in log if r.error_code == "DeadlineExceeded"),
            "abandoned_tasks": self._abandoned,
            "calls_by_operation": dict(sorted(by_operation.items())),
            "documents": dict(sorted(counts.items())),
            "errors": errors,
            "duration_s": round(time.monotonic() - started, 3),
            "max_workers": self.max_workers,
        }

    # ------------------------------------------------------------ scheduling

    def _contexts(
        self, spec: ResourceSpec, target: Target, regions: tuple[str, ...]
    ) -> Iterable[_Context]:
        if spec.scope in (Scope.REGIONAL, Scope.REGION_DOCUMENT):
            return [_Context(target, r, r, regions) for r in regions]
        return [_Context(target, GLOBAL_REGION, regions[0], regions)]

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._pool is not None
        with self._pending_lock:  # a task may submit more (items of a listed type)
            future = self._pool.submit(self._guard, fn, *args)
            self._inflight[future] = args

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as error:  # a bug must not hang or kill the run: record it
            spec = next((a for a in args if isinstance(a, ResourceSpec)), None)
            ctx = next((a for a in args if isinstance(a, _Context)), None)
            self._queue.put(
                CollectionError(
                    provider=PROVIDER,
                    account=ctx.target.account if ctx else "",
                    region=ctx.region if ctx else "",
                    service=spec.service if spec else "",
                    operation="engine",
                    error_code="EngineError",
                    message=f"{type(error).__name__}: {error}; "
                    + " | ".join(traceback.format_exception(error)[-2:]).strip(),
                    resource_type=spec.resource_type if spec else None,
                )
            )

    def _queued(self) -> Iterator[Any]:
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _drain(self) -> Iterator[Any]:
        """Hand on what the tasks produce until every task (and those they submitted) is done,
        waiting with `concurrent.futures.wait`; past the deadline and its grace, `_abandon`."""
        while True:
            yield from self._queued()
            with self._pending_lock:
                pending = set(self._inflight)
            if not pending:
                yield from self._queued()  # the last task's messages
                return
            timeout = None
            if self._deadline != float("inf"):
                timeout = max(0.05, self._deadline + self.deadline_grace_s - time.monotonic())
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                yield from self._abandon()
                return
            with self._pending_lock:
                for future in done:
                    self._inflight.pop(future, None)

    def _abandon(self) -> Iterator[Any]:
        """Past the deadline and its grace: what is still queued is handed on, every task still
        running or waiting becomes a DeadlineExceeded CollectionError, and the run moves on."""
        with self._pending_lock:
            tasks = [args for future, args in self._inflight.items() if not future.done()]
            self._inflight.clear()
            self._abandoned += len(tasks)
        yield from self._queued()
        seconds = self.deadline_seconds or 0
        for args in tasks:
            spec = next(a for a in args if isinstance(a, ResourceSpec))
            ctx = next(a for a in args if isinstance(a, _Context))
            item = next((a for a in args if isinstance(a, dict)), None)
            resource_id = None
            if item is not None:
                resource_id = render(spec.id, {**plain(item), **ctx.meta()}) or None
            failed = CallFailed(
                spec.service,
                "collect",
                ctx.region,
                DEADLINE,
                f"still collecting when the collection deadline of {seconds:g} s passed; abandoned",
            )
            yield self._collection_error(spec, ctx, failed, resource_id, None)

    # ------------------------------------------------------------ per type

    def _collect_type(self, spec: ResourceSpec, ctx: _Context) -> None:
        if not self._supported(spec, ctx):
            return
        if spec.list is None:
            self._collect_item(spec, ctx, {})
            return
        try:
            pages = self._pages(spec.list, spec.service, ctx, ctx.meta(), ctx.call_region)
            for items in pages:
                for raw in items or []:
                    item = {spec.item_key: raw} if spec.item_key else dict(raw)
                    if spec.list_filter and not search(spec.list_filter, {**item, **ctx.meta()}):
                        continue
                    if spec.joins:
                        self._submit(self._collect_item, spec, ctx, item)
                    else:
                        self._collect_item(spec, ctx, item)
        except CallFailed as failed:
            self._error(spec, ctx, failed, resource_id=None, field=None)

    def _supported(self, spec: ResourceSpec, ctx: _Context) -> bool:
        """Operations missing from the installed botocore are a collection error, not silence."""
        for service, operation in spec.operations():
            client = self._client(ctx.target, service, ctx.call_region)
            if operation not in client.meta.service_model.operation_names:
                failed = CallFailed(
                    service,
                    operation,
                    ctx.region,
                    "UnsupportedByClient",
                    f"botocore {client.meta.service_model.api_version} has no {operation}",
                )
                self._error(spec, ctx, failed, resource_id=None, field=None)
                return False
        return True

    def _collect_item(self, spec: ResourceSpec, ctx: _Context, item: dict[str, Any]) -> None:
        doc = plain(item)
        meta = ctx.meta()
        if spec.after:
            meta["_documents"] = {
                t: self._retained.get((ctx.target.account, t), []) for t in spec.after
            }
        resource_id = render(spec.id, {**doc, **meta}) or str(search(spec.name, doc) or "")
        failures: list[CallFailed] = []
        for join in spec.joins:
            try:
                self._apply(join, spec, ctx, doc, meta, resource_id, join.key)
            except _JoinFailed as failed:
                if join.key is None:
                    return  # the describe call itself failed: no document, the error says so
                # a keyed part that failed stays absent; the error names it as the field
                if isinstance(failed.__cause__, CallFailed):
                    failures.append(failed.__cause__)
        for key, expression in spec.derive.items():
            value = search(expression, {**doc, **meta})
            if value is None and failures:
                # derived from a part that failed: absent too, and said so
                self._queue.put(self._collection_error(spec, ctx, failures[0], resource_id, key))
                continue
            doc[key] = plain(value)
        for resource_type, key in spec.after.items():
            if (ctx.target.account, resource_type) in self._failed_types:
                doc.pop(key, None)
                self._queue.put(
                    self._collection_error(
                        spec,
                        ctx,
                        CallFailed(
                            spec.service,
                            "collect",
                            ctx.region,
                            "IncompleteEvidence",
                            f"some {resource_type} evidence in this account failed to collect",
                        ),
                        resource_id,
                        key,
                    )
                )
        for key in spec.required:
            if key not in doc:
                describe = spec.joins[0].call.operation if spec.joins else "describe"
                self._queue.put(
                    self._collection_error(
                        spec,
                        ctx,
                        CallFailed(
                            spec.service,
                            describe,
                            ctx.region,
                            "IncompleteResponse",
                            f"the {describe} response has no {key}, which the API always "
                            "returns; the setting cannot be judged from this evidence",
                        ),
                        resource_id,
                        key,
                    )
                )
        region = (search(spec.region_of, doc) if spec.region_of else None) or ctx.region
        doc.setdefault("Region", region)
        resource_id = render(spec.id, {**doc, **meta}) or resource_id
        name = search(spec.name, {**doc, **meta})
        if spec.resource_type in self._retain_types:
            with self._log_lock:
                self._retained.setdefault((ctx.target.account, spec.resource_type), []).append(doc)
        self._queue.put(
            EvidenceDoc(
                provider=PROVIDER,
                account=ctx.target.account,
                region=str(region),
                resource_type=spec.resource_type,
                resource_id=resource_id,
                name=str(name if name is not None else resource_id),
                data=self.redact(doc),
            )
        )

    # ------------------------------------------------------------ joins

    def _apply(
        self,
        join: Join,
        spec: ResourceSpec,
        ctx: _Context,
        doc: dict[str, Any],
        meta: dict[str, Any],
        resource_id: str,
        field_name: str | None,
    ) -> None:
        """Run one join into `doc`; raises _JoinFailed after reporting the error."""
        scope = {**doc, **meta}
        value: Any
        if join.when and not search(join.when, scope):
            value = plain(join.absent_value)
        else:
            try:
                value = self._join_value(join, spec, ctx, scope)
            except _Absent:
                value = plain(join.absent_value)
            except CallFailed as failed:
                self._error(spec, ctx, failed, resource_id, field_name)
                raise _JoinFailed from failed
            else:
                if join.each and isinstance(value, list):
                    value = [self._each(join, spec, ctx, doc, meta, resource_id, v) for v in value]
                    if join.keep is not None:
                        value = [{k: v.get(k) for k in join.keep} for v in value]
                if join.transform is not None:
                    value = join.transform(value)  # transforms accept None (nothing returned)
        if join.key is None:
            if isinstance(value, Mapping):
                doc.update(value)
        else:
            doc[join.key] = value

    def _each(
        self,
        join: Join,
        spec: ResourceSpec,
        ctx: _Context,
        parent: dict[str, Any],
        meta: dict[str, Any],
        resource_id: str,
        element: Any,
    ) -> dict[str, Any]:
        item = {join.item_key: element} if join.item_key else dict(element)
        inner_meta = {**meta, "_parent": parent}
        for sub in join.each:
            # a failure anywhere inside makes the whole top-level key incomplete
            self._apply(sub, spec, ctx, item, inner_meta, resource_id, join.key)
        return item

    def _join_value(
        self, join: Join, spec: ResourceSpec, ctx: _Context, scope: dict[str, Any]
    ) -> Any:
        call = join.call
        service = call.service or spec.service
        region = (search(call.region, scope) if call.region else None) or ctx.call_region
        params = {name: search(path, scope) for name, path in call.params.items()}
        if call.share:
            key = (
                ctx.target.account,
                region if call.share == "region" else None,
                service,
                call.operation,
                tuple(sorted((k, repr(v)) for k, v in {**params, **call.constants}.items())),
            )
            value = self._shared.get(key, lambda: self._fetch(call, service, ctx, params, region))
            if join.match is not None:
                element_field, item_field = join.match
                index = self._shared.get(
                    (key, element_field), lambda: _index(value or [], element_field)
                )
                return [dict(e) for e in index.get(search(item_field, scope), [])]
            return value
        return self._fetch(call, service, ctx, params, region)

    def _fetch(
        self, call: Call, service: str, ctx: _Context, params: dict[str, Any], region: str
    ) -> Any:
        if call.paginate:
            collected: list[Any] = []
            for items in self._pages(call, service, ctx, params, region, resolved=True):
                if isinstance(items, list):
                    collected.extend(items)
                elif items is not None:
                    return items
            return collected
        response = self._invoke(ctx, service, region, call, params)
        return plain(search(call.result, response) if call.result else response)

    # ------------------------------------------------------------ calls

    def _pages(
        self,
        call: Call,
        service: str,
        ctx: _Context,
        scope: Mapping[str, Any],
        region: str,
        *,
        resolved: bool = False,
    ) -> Iterator[Any]:
        """Yields the `result` of each page; one call-log entry per page."""
        params = dict(scope) if resolved else {k: search(p, scope) for k, p in call.params.items()}
        client = self._client(ctx.target, service, region)
        snake = _snake(call.operation)
        if not client.can_paginate(snake):
            response = self._invoke(ctx, service, region, call, params)
            yield plain(search(call.result, response) if call.result else response)
            return
        # the override (tests) applies to resource list calls only: joins keep the API minimums
        page_size = (self.page_size if not resolved else None) or call.page_size
        config = {"PageSize": page_size} if page_size else {}
        kwargs = {**{k: v for k, v in params.items() if v is not None}, **call.constants}
        iterator = iter(client.get_paginator(snake).paginate(**kwargs, PaginationConfig=config))
        while True:
            begun = time.monotonic()
            try:
                self._check_deadline()
                page = next(iterator)
            except StopIteration:
                return
            except Exception as error:
                self._failed(ctx, service, region, call, begun, error)
            self._succeeded(ctx, service, region, call, begun, page)
            yield plain(search(call.result, page) if call.result else page)

    def _invoke(
        self, ctx: _Context, service: str, region: str, call: Call, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        client = self._client(ctx.target, service, region)
        kwargs = {**{k: v for k, v in params.items() if v is not None}, **call.constants}
        begun = time.monotonic()
        try:
            self._check_deadline()
            response: dict[str, Any] = getattr(client, _snake(call.operation))(**kwargs)
        except Exception as error:
            self._failed(ctx, service, region, call, begun, error)
        self._succeeded(ctx, service, region, call, begun, response)
        return response

    def _check_deadline(self) -> None:
        if time.monotonic() >= self._deadline:
            raise DeadlineExceeded(seconds=self.deadline_seconds or 0)

    def _succeeded(
        self,
        ctx: _Context,
        service: str,
        region: str,
        call: Call,
        begun: float,
        response: Mapping[str, Any],
    ) -> None:
        attempts = response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        self._record(ctx, service, region, call, begun, None, attempts)

    def _failed(
        self, ctx: _Context, service: str, region: str, call: Call, begun: float, error: Exception
    ) -> NoReturn:
        """Log the failed call; "absent is evidence" codes become _Absent, the rest CallFailed."""
        self._record(ctx, service, region, call, begun, error, 0)
        code, message = classify(error)
        if _absent(call, code, message):
            raise _Absent from error
        raise CallFailed(service, call.operation, region, code, message) from error

    def _record(
        self,
        ctx: _Context,
        service: str,
        region: str,
        call: Call,
        begun: float,
        error: Exception | None,
        attempts: int,
    ) -> None:
        code, message = classify(error) if error is not None else (None, "")
        if isinstance(error, ClientError):
            attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        elif error is not None:
            attempts = max(attempts, 1)
        record = CallRecord(
            account=ctx.target.account,
            region=region,
            service=service,
            operation=call.operation,
            ok=error is None,
            error_code=code,
            duration_ms=round((time.monotonic() - begun) * 1000, 2),
            attempts=attempts,
            absent=code is not None and _absent(call, code, message),
        )
        with self._log_lock:
            self.call_log.append(record)

    def _client(self, target: Target, service: str, region: str) -> Any:
        key = (
            self._clients_key,
            target.account,
            service,
            region,
            self.max_attempts,
            self._timeouts,
            self.deadline_seconds,
            self._required_keys.get(service),
        )
        return self._clients.get(key, lambda: self._make_client(target, service, region))

    def _make_client(self, target: Target, service: str, region: str) -> Any:
        config = self.config.merge(
            Config(retries=retry_settings(target.session, self.max_attempts))
        )
        client = target.session.client(service, region_name=region, config=config)
        if service == "s3control":
            allow_local_s3control(client)
        validate_responses(client, self.max_attempts, self._required.get(service))
        if self.deadline_seconds is not None:
            enforce_deadline(client, self._deadline, self.deadline_seconds)
        return client

    # ------------------------------------------------------------ errors

    def _error(
        self,
        spec: ResourceSpec,
        ctx: _Context,
        failed: CallFailed,
        resource_id: str | None,
        field: str | None,
    ) -> None:
        with self._log_lock:
            self._failed_types.add((ctx.target.account, spec.resource_type))
        self._queue.put(self._collection_error(spec, ctx, failed, resource_id, field))

    @staticmethod
    def _collection_error(
        spec: ResourceSpec,
        ctx: _Context,
        failed: CallFailed,
        resource_id: str | None,
        field: str | None,
    ) -> CollectionError:
        return CollectionError(
            provider=PROVIDER,
            account=ctx.target.account,
            region=ctx.region,
            service=failed.service,
            operation=failed.operation,
            error_code=failed.code,
            message=failed.message,
            resource_type=spec.resource_type,
            resource_id=resource_id,
            field=field,
        )


def _index(elements: Iterable[Any], key: str) -> dict[Any, list[Any]]:
    index: dict[Any, list[Any]] = {}
    for element in elements:
        if isinstance(element, Mapping):
            index.setdefault(element.get(key), []).append(element)
    return index


def declared_required(specs: Iterable[ResourceSpec]) -> dict[str, dict[str, tuple[str, ...]]]:
    """service -> operation -> the response members its `Call.required` declares."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for spec in specs:
        stack: list[Join] = list(spec.joins)
        calls = [spec.list] if spec.list is not None else []
        while stack:
            join = stack.pop()
            calls.append(join.call)
            stack.extend(join.each)
        for call in calls:
            if call.required:
                members = out.setdefault(call.service or spec.service, {})
                members[call.operation] = tuple(
                    dict.fromkeys((*members.get(call.operation, ()), *call.required))
                )
    return out


def declared_operations(specs: Iterable[ResourceSpec]) -> frozenset[tuple[str, str]]:
    """(service, operation) pairs the engine can call for these declarations."""
    return frozenset(op for spec in specs for op in spec.operations())
