"""deploy/dask: the compose file and the auditor.yaml files that use its cluster agree.

Docker is not run here (no network): the files are parsed and checked for what makes the
example work: the configuration validates, names an executor the seam accepts, which is the
scheduler the workers join, and a store every worker reaches at the same address."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.config import load_config
from auditor.executors import parse_executor

DASK = Path(__file__).resolve().parents[1] / "deploy" / "dask"
COMPOSE = yaml.safe_load((DASK / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _runs_auditor_code(service: dict[str, Any]) -> bool:
    """The driver and the workers unpickle and run auditor code; the scheduler does not."""
    entrypoint = service.get("entrypoint") or ["auditor"]
    return entrypoint[:2] != ["dask", "scheduler"]


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> named volume (bind mounts of files are not shared storage)."""
    out = {}
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        if not source.startswith((".", "/", "$")):
            out[target] = source
    return out


def test_compose_has_a_scheduler_workers_and_a_driver_on_one_image() -> None:
    assert set(SERVICES) == {"scheduler", "worker", "auditor"}
    assert {s["image"] for s in SERVICES.values()} == {"auditor-dask:0.1.0"}
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2
    assert SERVICES["auditor"]["command"][:2] == ["snapshot", "-c"]
    dockerfile = (DASK / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM \$\{BASE\}$", dockerfile, re.M)
    assert "dask[distributed]" in dockerfile and "USER 10001" in dockerfile
    for service in SERVICES.values():
        assert service["user"] == "10001"
    # the dashboard is published on loopback only
    assert SERVICES["scheduler"]["ports"] == ["127.0.0.1:8787:8787"]


@pytest.mark.parametrize("name", ["auditor.yaml", "auditor-s3.yaml"])
def test_the_configuration_names_a_cluster_and_a_store_every_worker_reaches(name: str) -> None:
    config = load_config(DASK / name)  # UserError (exit 2) if it does not validate
    spec = parse_executor(config.collection.executor, 1)
    assert spec.kind == "dask" and spec.distributed
    url = config.store.url
    if url.startswith("s3://"):
        return  # every worker reaches S3 with its own credentials
    assert name == "auditor.yaml" and url.startswith("/"), "a relative path differs per service"
    # the compose cluster: workers join the scheduler the executor names
    worker = SERVICES["worker"]["command"]
    assert worker[0] == spec.address
    host, port = str(spec.address).removeprefix("tcp://").rsplit(":", 1)
    assert host in SERVICES and "--port" in SERVICES[host]["command"]
    assert SERVICES[host]["command"][SERVICES[host]["command"].index("--port") + 1] == port
    # a local store only works on a volume mounted at the same path in every service that
    # runs auditor code: the same named volume, and the store path under its mount point
    shared = None
    for service_name, service in SERVICES.items():
        if not _runs_auditor_code(service):
            continue
        covering = {
            t: v for t, v in _mounts(service).items() if url.startswith(t.rstrip("/") + "/")
        }
        assert covering, f"{service_name} does not mount the store {url}"
        assert shared is None or covering == shared, f"{service_name} mounts another volume"
        shared = covering
    assert shared and set(shared.values()) <= set(COMPOSE["volumes"])
    # and the driver reads the configuration the test read
    assert f"./{name}:/etc/auditor/auditor.yaml:ro" in SERVICES["auditor"]["volumes"]
