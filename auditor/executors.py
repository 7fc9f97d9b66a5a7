"""Where work units run: one seam for a thread pool, a local Dask cluster or an existing one.

An executor is named by one string (the CLI's `--executor`, auditor.yaml's
`collection.executor`):

- `threads` or `threads:N`: a thread pool of N threads (default: the configured workers);
- `dask-local` or `dask-local:N`: a Dask `LocalCluster` of N worker processes, one thread each;
- `tcp://HOST:PORT` or `tls://HOST:PORT`: an existing Dask scheduler (TLS settings come from
  Dask's own configuration, e.g. `DASK_DISTRIBUTED__COMM__TLS__CA_FILE`).

Whatever runs the work, callers see a `concurrent.futures.Executor` (Dask's through
`Client.get_executor()`), so they submit units and wait with `concurrent.futures.wait` or
`as_completed`, and never branch on the kind. With a Dask executor the tasks run in other
processes: a unit's function and arguments must pickle, and credentials are never part of them
(workers resolve their own). Dask's executor is opened with `pure=False`: a unit is not a pure
function to deduplicate, and tokenizing its arguments (a partition of documents) cost the driver
more than the work.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from auditor.errors import UserError

ExecutorKind = Literal["threads", "dask-local", "dask"]

DEFAULT_EXECUTOR = "threads"
_SPEC = re.compile(r"^(?P<kind>threads|dask-local)(?::(?P<n>\d+))?$")
_ADDRESS = re.compile(r"^(?:tcp|tls)://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
MAX_WORKERS = 1024


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed executor string."""

    kind: ExecutorKind
    workers: int
    address: str | None = None

    @property
    def distributed(self) -> bool:
        """Tasks run in other processes (payloads pickle; nothing shared in memory)."""
        return self.kind != "threads"

    def __str__(self) -> str:
        if self.kind == "dask":
            return str(self.address)
        return f"{self.kind}:{self.workers}"


def parse_executor(text: str, default_workers: int) -> ExecutorSpec:
    """The spec an executor string names; ValueError saying what was expected otherwise."""
    value = text.strip()
    if _ADDRESS.match(value):
        return ExecutorSpec("dask", default_workers, value)
    match = _SPEC.match(value)
    if match is None:
        raise ValueError(
            f"executor {text!r} is not one of threads[:N], dask-local[:N], "
            "tcp://HOST:PORT or tls://HOST:PORT"
        )
    workers = int(match["n"]) if match["n"] else default_workers
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"executor {text!r}: the number of workers must be 1 to {MAX_WORKERS}")
    kind: ExecutorKind = "threads" if match["kind"] == "threads" else "dask-local"
    return ExecutorSpec(kind, workers)


@contextmanager
def open_executor(
    spec: ExecutorSpec, threads_per_worker: int = 1
) -> Iterator[concurrent.futures.Executor]:
    """The executor a spec names, shut down (and a local cluster stopped) on exit.

    `threads_per_worker`: tasks one local-cluster process runs at once (more than one for
    tasks that mostly wait on the network, like collection units)."""
    if spec.kind == "threads":
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=spec.workers, thread_name_prefix="auditor"
        ) as pool:
            yield pool
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise UserError(
            f"executor {spec} needs Dask: pip install 'auditor[dask]' ({error})", field="executor"
        ) from None
    if spec.kind == "dask-local":
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=max(1, threads_per_worker),
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        try:
            with Client(cluster) as client:
                yield client.get_executor(pure=False)
        finally:
            cluster.close()
        return
    with Client(spec.address) as client:
        yield client.get_executor(pure=False)
