"""A local Cloud Asset `AssetService` on 127.0.0.1 for tests and bench.

A real grpc.server with a generic handler using the proto-plus types' own serialize/deserialize,
so the real `AssetServiceClient` talks to it unchanged. It serves assets given as export-style
records (one record may carry `resource`, `iam_policy`, or both), honours parent scope,
asset_types, content_type, page_size and page_token, and injects faults on request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import asset_v1
from google.protobuf import json_format

Asset = asset_v1.Asset


@dataclass
class Fault:
    """Abort matching calls with `code`, `times` times (then the call succeeds)."""

    code: grpc.StatusCode
    times: int = 1
    match: Callable[[asset_v1.ListAssetsRequest], bool] = lambda _request: True
    message: str = "injected fault"


@dataclass
class _Entry:
    asset_type: str
    name: str
    ancestors: frozenset[str]
    resource_view: Any  # Asset pb with resource only, or None
    iam_view: Any  # Asset pb with iam_policy only, or None


@dataclass
class FakeAssetService:
    """In-memory Cloud Asset Inventory. `calls` logs every request (parent, types, content type,
    page token) in order."""

    entries: list[_Entry] = field(default_factory=list)
    project_numbers: dict[str, str] = field(default_factory=dict)  # project ID -> number
    faults: list[Fault] = field(default_factory=list)
    deny_types: set[str] = field(default_factory=set)  # PERMISSION_DENIED if requested
    deny_parents: set[str] = field(default_factory=set)
    calls: list[tuple[str, tuple[str, ...], str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _index_cache: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> FakeAssetService:
        """Records in export spelling (`gcloud asset export` lines); RESOURCE and IAM_POLICY
        records of the same name are merged, as the server holds one asset per name."""
        merged: dict[str, dict[str, Any]] = {}
        for record in records:
            target = merged.setdefault(record["name"], {})
            for key, value in record.items():
                target.setdefault(key, value)
        service = cls()
        for record in merged.values():
            service.add_asset(
                json_format.ParseDict(record, Asset.pb()(), ignore_unknown_fields=True)
            )
        return service

    def clear(self) -> None:
        """Faults, denials and the call log cleared; the assets stay."""
        with self._lock:
            self.faults.clear()
            self.deny_types.clear()
            self.deny_parents.clear()
            self.calls.clear()

    def add_asset(self, pb: Any) -> None:
        """Add one asset (a google.cloud.asset.v1.Asset protobuf message)."""
        resource_view = iam_view = None
        if pb.HasField("resource"):
            resource_view = type(pb)()
            resource_view.CopyFrom(pb)
            resource_view.ClearField("iam_policy")
            if pb.asset_type == "cloudresourcemanager.googleapis.com/Project":
                data = pb.resource.data
                if "projectId" in data.fields and "projectNumber" in data.fields:
                    number = data.fields["projectNumber"].string_value
                    self.project_numbers[data.fields["projectId"].string_value] = number
        if pb.HasField("iam_policy"):
            iam_view = type(pb)()
            iam_view.CopyFrom(pb)
            iam_view.ClearField("resource")
        self.entries.append(
            _Entry(pb.asset_type, pb.name, frozenset(pb.ancestors), resource_view, iam_view)
        )
        self._index_cache.clear()

    # -- the RPC
    def list_assets(
        self, request: asset_v1.ListAssetsRequest, context: grpc.ServicerContext
    ) -> Any:
        types = tuple(request.asset_types)
        content = asset_v1.ContentType(request.content_type).name
        with self._lock:
            self.calls.append((request.parent, types, content, request.page_token))
            for fault in self.faults:
                if fault.times > 0 and fault.match(request):
                    fault.times -= 1
                    context.abort(fault.code, fault.message)
        if request.parent in self.deny_parents or set(types) & self.deny_types:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"The caller does not have permission cloudasset.assets.list on {request.parent}",
            )
        views = self._select(request.parent, types, content)
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = views[start : start + size]
        response = asset_v1.ListAssetsResponse.pb()()
        response.assets.extend(page)
        if start + size < len(views):
            response.next_page_token = str(start + size)
        return asset_v1.ListAssetsResponse.wrap(response)

    def _select(self, parent: str, types: tuple[str, ...], content: str) -> list[Any]:
        key = (parent, types, content)
        cached = self._index_cache.get(key)
        if cached is not None:
            return cached
        scope = parent
        if parent.startswith("projects/") and not parent.split("/", 1)[1].isdigit():
            number = self.project_numbers.get(parent.split("/", 1)[1])
            scope = f"projects/{number}" if number else parent
        wanted = set(types)
        selected = []
        for entry in self.entries:
            if wanted and entry.asset_type not in wanted:
                continue
            if scope not in entry.ancestors:
                continue
            view = entry.resource_view if content == "RESOURCE" else entry.iam_view
            if view is not None:
                selected.append(view)
        self._index_cache[key] = selected
        return selected


def handler(service: FakeAssetService) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "google.cloud.asset.v1.AssetService",
        {
            "ListAssets": grpc.unary_unary_rpc_method_handler(
                service.list_assets,
                request_deserializer=asset_v1.ListAssetsRequest.deserialize,
                response_serializer=asset_v1.ListAssetsResponse.serialize,
            )
        },
    )


@contextmanager
def serve(service: FakeAssetService, workers: int = 4) -> Iterator[str]:
    """Run the service on 127.0.0.1; yields the endpoint `127.0.0.1:PORT`."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )
    server.add_generic_rpc_handlers((handler(service),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
