"""Suite-wide guard, and the one way to start each local service the tests use.

No test may reach anything outside loopback: every Python-level socket connection is checked; a
non-loopback address fails the test at once with the address in the message, instead of hanging
on (or reaching) the internet. Instance metadata lookups by botocore are switched off too.

Local AWS: `moto_server` (one per test process), `aws` and `proxy` (boto3 pointed at it, or at
the fault proxy in front of it, for one module). Local GCP: `asset_records`, `asset_endpoint`,
`asset_service`. ARCHITECTURE.md ("Tests and tools") says why they live where they do.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.demo.moto import aws_env, local_moto, reset_moto
from devtools.asset_service import FakeAssetService, serve
from devtools.aws_proxy import Proxy, reset, start_proxy

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like stay on this machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name that would need DNS: not loopback


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _loopback(address):
        raise ConnectionRefusedError(f"test tried to reach {address!r}: only loopback is allowed")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _loopback(address):
        raise ConnectionRefusedError(f"test tried to reach {address!r}: only loopback is allowed")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _only_loopback() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# ---------------------------------------------------------------- local AWS (moto)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The one moto server of a test process (the demo's starter, on 127.0.0.1). moto keeps its
    state per process whatever serves it, so one server per process loses no isolation; the
    `aws` and `proxy` fixtures empty it when a module starts."""
    # werkzeug gives its logger a stream handler on the stream of the moment (a test's captured
    # one, closed later) unless one exists: its records go to pytest's log capture instead.
    logging.getLogger("werkzeug").addHandler(logging.NullHandler())
    with local_moto() as url:
        yield url


def _moto_settings(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    """The module's `pytest.mark.moto(region=..., **env)`, else us-east-1 and nothing extra."""
    marker = request.node.get_closest_marker("moto")
    options = dict(marker.kwargs) if marker else {}
    return str(options.pop("region", "us-east-1")), {k: str(v) for k, v in options.items()}


@pytest.fixture(scope="module")
def aws(moto_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """boto3 pointed at the (emptied) moto server for one module through AWS_ENDPOINT_URL, with
    fake credentials; `pytest.mark.moto(region=..., NAME=value)` sets the region and extra
    variables (MOTO_IAM_LOAD_MANAGED_POLICIES). Yields the endpoint."""
    region, extra = _moto_settings(request)
    with aws_env(moto_server, region, **extra):
        reset_moto(moto_server)  # after the env: moto reads its own variables on reset
        yield moto_server


@pytest.fixture(scope="module")
def proxy(moto_server: str, request: pytest.FixtureRequest) -> Iterator[Proxy]:
    """Like `aws`, with the fault proxy between boto3 and moto: tests install its rules."""
    region, extra = _moto_settings(request)
    state, stop = start_proxy(moto_server)
    try:
        with aws_env(state.url, region, **extra):
            reset(state)
            yield state
    finally:
        stop()


# ---------------------------------------------------------------- local GCP (Cloud Asset)


@pytest.fixture(scope="module")
def asset_records() -> list[dict[str, Any]]:
    """The assets (export-spelling records) the module's AssetService serves; a module overrides
    this fixture to serve its own estate. None by default."""
    return []


@pytest.fixture(scope="module")
def _asset_service(asset_records: list[dict[str, Any]]) -> FakeAssetService:
    return FakeAssetService.from_records(asset_records)


@pytest.fixture(scope="module")
def asset_endpoint(_asset_service: FakeAssetService) -> Iterator[str]:
    """The module's local AssetService on 127.0.0.1, for the real AssetServiceClient."""
    with serve(_asset_service) as address:
        yield address


@pytest.fixture
def asset_service(_asset_service: FakeAssetService) -> Iterator[FakeAssetService]:
    """The module's AssetService, to inject faults or read its call log: cleared before the test
    (earlier tests' calls) and after it (its faults)."""
    _asset_service.clear()
    yield _asset_service
    _asset_service.clear()
