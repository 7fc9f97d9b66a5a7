"""A fault-injecting gRPC proxy on 127.0.0.1 in front of the local Cloud Asset AssetService.

A real `grpc.server` whose generic handler forwards every call's raw request bytes to the
upstream service (serializers None: bytes in, bytes out) and hands back its raw answer, unless a
rule says otherwise. A rule sees the call (method and the decoded ListAssetsRequest) and returns
None (next rule) or a `GrpcFault`: a status (RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL,
PERMISSION_DENIED ...), the call cancelled by the server (the stream reset under the client), a
stall before forwarding, or the upstream answer's bytes cut short or corrupted.

Protobuf carries no integrity of its own: on the wire gRPC's length-prefixed frames (and TLS)
make a cut or damaged message a failed call. A proxy re-frames what it sends, so `cut_short` and
`corrupt` only ever send bytes that do not decode as the method's response (a cut that happens to
fall on a field boundary would be a well-formed shorter answer, which no client can tell apart
from a real one). The real `AssetServiceClient` talks to the proxy unchanged.

Self-contained on purpose: it shares nothing with the HTTP proxy in `fault_proxy.py`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import asset_v1

LIST_ASSETS = "/google.cloud.asset.v1.AssetService/ListAssets"


@dataclass(frozen=True)
class Call:
    """What a rule sees of one call."""

    method: str
    parent: str = ""
    asset_types: tuple[str, ...] = ()
    content_type: str = ""  # RESOURCE | IAM_POLICY
    page_token: str = ""


@dataclass(frozen=True)
class GrpcFault:
    """Something other than the upstream's answer. `kind` names it in counts and records."""

    kind: str
    code: grpc.StatusCode | None = None  # abort with this status
    message: str = "injected fault"
    cancel: bool = False  # the server cancels the call: the client sees its stream reset
    stall_s: float = 0.0  # sleep before anything else
    mangle: Callable[[bytes], bytes] | None = None  # the upstream answer's bytes, changed


Rule = Callable[[Call], "GrpcFault | None"]


@dataclass
class GrpcProxy:
    endpoint: str
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.faults.clear()
            self.calls.clear()


# ---------------------------------------------------------------- fault makers


def status(code: grpc.StatusCode, message: str = "injected fault") -> GrpcFault:
    return GrpcFault(code.name.lower(), code=code, message=message)


def throttled() -> GrpcFault:
    return status(grpc.StatusCode.RESOURCE_EXHAUSTED, "Quota exceeded for quota metric")


def unavailable() -> GrpcFault:
    return status(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")


def internal() -> GrpcFault:
    return status(grpc.StatusCode.INTERNAL, "Internal error encountered.")


def denied() -> GrpcFault:
    return status(
        grpc.StatusCode.PERMISSION_DENIED,
        "The caller does not have permission cloudasset.assets.listResource",
    )


def reset() -> GrpcFault:
    return GrpcFault("reset", cancel=True)


def stall(seconds: float) -> GrpcFault:
    return GrpcFault("stall", stall_s=seconds)


def _decodes(data: bytes) -> bool:
    try:
        asset_v1.ListAssetsResponse.pb().FromString(data)
    except Exception:  # any decoding failure is what we look for
        return False
    return True


def cut_short(keep: float = 0.5) -> GrpcFault:
    """The answer cut to about `keep` of its bytes, at the first point after it where the rest
    no longer decodes (a cut on a field boundary is a valid answer: see the module doc)."""

    def mangle(data: bytes) -> bytes:
        for end in range(max(1, int(len(data) * keep)), len(data)):
            if not _decodes(data[:end]):
                return data[:end]
        return data[:1] if data[:1] and not _decodes(data[:1]) else b"\xff"

    return GrpcFault("truncated", mangle=mangle)


def corrupt() -> GrpcFault:
    """Bytes in the middle of the answer overwritten with 0xff (an invalid wire type, invalid
    UTF-8 inside a string), moved on until the result no longer decodes."""

    def mangle(data: bytes) -> bytes:
        for start in range(len(data) // 2, len(data)):
            broken = data[:start] + b"\xff" * 8 + data[start + 8 :]
            if not _decodes(broken):
                return broken
        return b"\xff" * 8

    return GrpcFault("corrupted", mangle=mangle)


# ---------------------------------------------------------------- the server


def _describe(method: str, request: bytes) -> Call:
    if method != LIST_ASSETS:
        return Call(method)
    try:
        decoded = asset_v1.ListAssetsRequest.deserialize(request)
    except Exception:  # an undecodable request is forwarded as it is
        return Call(method)
    return Call(
        method,
        decoded.parent,
        tuple(decoded.asset_types),
        asset_v1.ContentType(decoded.content_type).name,
        decoded.page_token,
    )


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, proxy: GrpcProxy, channel: grpc.Channel) -> None:
        self.proxy = proxy
        self.channel = channel

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method
        upstream = self.channel.unary_unary(method)  # bytes in, bytes out

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            call = _describe(method, request)
            with self.proxy._lock:
                self.proxy.calls.append(call)
                rules = list(self.proxy.rules)
            fault = next((f for f in (rule(call) for rule in rules) if f is not None), None)
            if fault is None:
                return self._forward(upstream, request, context)
            with self.proxy._lock:
                self.proxy.faults[fault.kind] += 1
            if fault.stall_s:
                deadline = time.monotonic() + fault.stall_s
                while context.is_active() and time.monotonic() < deadline:
                    time.sleep(0.05)  # the client gave up: stop stalling, free the worker
            if fault.cancel:
                context.cancel()
                return b""
            if fault.code is not None:
                context.abort(fault.code, fault.message)
            answer = self._forward(upstream, request, context)
            return fault.mangle(answer) if fault.mangle is not None else answer

        return grpc.unary_unary_rpc_method_handler(handle)

    def _forward(self, upstream: Any, request: bytes, context: grpc.ServicerContext) -> bytes:
        remaining = context.time_remaining()
        try:
            return bytes(upstream(request, timeout=remaining if remaining else 30.0))
        except grpc.RpcError as error:  # the upstream's own status, passed on
            context.abort(error.code(), error.details() or "")
            raise  # not reached: abort raises


@contextmanager
def serve_proxy(upstream: str, workers: int = 32) -> Iterator[GrpcProxy]:
    """The proxy on 127.0.0.1 in front of `upstream` (`127.0.0.1:PORT`)."""
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    channel = grpc.insecure_channel(upstream, options=options)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    port = server.add_insecure_port("127.0.0.1:0")
    proxy = GrpcProxy(endpoint=f"127.0.0.1:{port}", upstream=upstream)
    server.add_generic_rpc_handlers((_Forwarder(proxy, channel),))
    server.start()
    try:
        yield proxy
    finally:
        server.stop(grace=None)
        channel.close()
