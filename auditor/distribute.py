"""Work units on an executor: how one collection runs on threads, processes or a Dask cluster.

A collector that can cut its work (`models.UnitCollector`) hands the conductor small picklable
`WorkUnit`s. Each runs in `run_unit`, wherever the executor puts it: the unit resolves its own
credentials and clients there, its documents go straight into the content-addressed store
(opened on the worker from a `StoreRef`: the same folder or bucket), and it returns only the
stored entries, its collection errors and its statistics. The driver feeds those to the
snapshot writer and alone commits the manifest, so crash safety and the hash chain are the same
as for a run in one process: a unit that never reports is a collection error, never a gap.

Conductor-level (like `pipeline`): it may use the collect and evidence APIs; the stages never
import it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import resource
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from auditor import evidence
from auditor.evidence import StoredDocument
from auditor.models import CollectionError, EvidenceDoc, UnitCollector, WorkUnit

# Units of one key (an AWS account and region) running at once: AWS rate limits are per
# account per region, and each unit already runs its calls concurrently.
DEFAULT_UNITS_PER_KEY = 2
PUT_BATCH = 200  # documents per put on the worker: bounded memory, few round trips


@dataclass(frozen=True)
class StoreRef:
    """How a worker opens the run's store: its URL and the options that shape object writes.
    No client, no signer, no credentials (the worker's own chain reaches an S3 store)."""

    url: str
    kms_key_id: str | None = None
    object_lock_mode: str | None = None
    object_lock_days: int | None = None

    @classmethod
    def of(cls, store: evidence.EvidenceStore) -> StoreRef:
        backend = store.backend
        url = store.url
        if "://" not in url:
            url = str(Path(url).resolve())  # workers may start in another folder
        return cls(
            url=url,
            kms_key_id=getattr(backend, "kms_key_id", None),
            object_lock_mode=getattr(backend, "lock_mode", None),
            object_lock_days=getattr(backend, "lock_days", None),
        )

    def open(self) -> evidence.EvidenceStore:
        options: dict[str, Any] = {"kms_key_id": self.kms_key_id}
        if self.object_lock_mode:
            options["object_lock_mode"] = self.object_lock_mode
            options["object_lock_days"] = self.object_lock_days
        return evidence.open_store(self.url, **{k: v for k, v in options.items() if v})


@functools.lru_cache(maxsize=8)
def _worker_store(ref: StoreRef) -> evidence.EvidenceStore:
    """One store handle per worker process and store (the salt is read once)."""
    return ref.open()


@dataclass(frozen=True)
class UnitResult:
    """What a unit sends back to the driver: index entries, errors and statistics only."""

    label: str
    entries: tuple[StoredDocument, ...]
    errors: tuple[CollectionError, ...]
    stats: Mapping[str, Any]
    seconds: float
    pid: int
    peak_rss_bytes: int


class _StoreSink:
    """The worker's EvidenceSink: documents go to the store's objects in batches."""

    def __init__(self, store: evidence.EvidenceStore) -> None:
        self.store = store
        self.entries: list[StoredDocument] = []
        self.errors: list[CollectionError] = []
        self._batch: list[EvidenceDoc] = []
        self._lock = threading.Lock()

    def add(self, doc: EvidenceDoc) -> None:
        with self._lock:
            self._batch.append(doc)
            batch = self._batch if len(self._batch) >= PUT_BATCH else None
            if batch is not None:
                self._batch = []
        if batch is not None:
            self._put(batch)

    def add_error(self, error: CollectionError) -> None:
        with self._lock:
            self.errors.append(error)

    def flush(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
        if batch:
            self._put(batch)

    def _put(self, batch: list[EvidenceDoc]) -> None:
        entries = self.store.put_documents(batch)
        with self._lock:
            self.entries.extend(entries)


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def run_unit(unit: WorkUnit, store: StoreRef) -> UnitResult:
    """Run one unit where the executor put it; documents into the store, entries back.

    A unit that raises (a bug, a worker-side failure) still reports: the errors it names for
    its own evidence, next to whatever documents it had already stored."""
    started = time.monotonic()
    handle = _worker_store(store)
    sink = _StoreSink(handle)
    stats: dict[str, Any] = {}
    try:
        stats = dict(unit.collect(sink, handle.redaction_salt()))
    except Exception as error:
        sink.errors.extend(unit.failed(error))
    sink.flush()
    handle.backend.sync()
    return UnitResult(
        label=unit.label,
        entries=tuple(sink.entries),
        errors=tuple(sink.errors),
        stats=stats,
        seconds=round(time.monotonic() - started, 3),
        pid=os.getpid(),
        peak_rss_bytes=_peak_rss_bytes(),
    )


class EntrySink(Protocol):
    """What the driver feeds: the snapshot writer (or a wrapper of it)."""

    def add_entries(self, entries: Iterable[StoredDocument]) -> None: ...

    def add_error(self, error: CollectionError) -> None: ...


@dataclass
class UnitProgress:
    """Where a run stands, for a progress display."""

    total: int
    done: int = 0
    calls: int = 0
    errors: int = 0
    documents: int = 0
    started: float = field(default_factory=time.monotonic)

    def eta_seconds(self) -> float | None:
        if not self.done or self.done >= self.total:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * (self.total - self.done)


OnProgress = Callable[[UnitProgress], None]


@dataclass
class RunReport:
    """The units' statistics (in unit order) and where they ran."""

    stats: list[Mapping[str, Any]]
    workers: dict[int, int]  # pid -> peak RSS bytes seen
    seconds: float


def run_units(
    units: Sequence[WorkUnit],
    executor: concurrent.futures.Executor,
    store: StoreRef,
    sink: EntrySink,
    *,
    per_key: int = DEFAULT_UNITS_PER_KEY,
    deadline: float | None = None,
    on_progress: OnProgress | None = None,
) -> RunReport:
    """Submit every unit (at most `per_key` of one key at a time), and feed each result to
    `sink` as it arrives; an error several units report alike (an account none of them could
    enter) is recorded once. `deadline` (monotonic) is a backstop past the units' own: units not
    back by then are recorded as failed, never waited on forever."""
    started = time.monotonic()
    waiting: dict[str, deque[int]] = {}
    for index, unit in enumerate(units):
        waiting.setdefault(unit.key, deque()).append(index)
    running: dict[concurrent.futures.Future[UnitResult], int] = {}
    per_key_running: Counter[str] = Counter()
    stats: list[Mapping[str, Any] | None] = [None] * len(units)
    workers: dict[int, int] = {}
    progress = UnitProgress(total=len(units))
    reported: set[CollectionError] = set()  # units sharing a scope say the same thing once
    if on_progress is not None:
        on_progress(progress)

    def submit_ready() -> None:
        for key, queue in waiting.items():
            while queue and per_key_running[key] < per_key:
                index = queue.popleft()
                per_key_running[key] += 1
                running[executor.submit(run_unit, units[index], store)] = index

    def record(index: int, errors: Iterable[CollectionError], result: UnitResult | None) -> None:
        if result is not None:
            sink.add_entries(result.entries)
            stats[index] = result.stats
            workers[result.pid] = max(workers.get(result.pid, 0), result.peak_rss_bytes)
            progress.calls += int(result.stats.get("calls", 0) or 0)
            progress.documents += len(result.entries)
        count = 0
        for error in errors:
            if error in reported:
                continue
            reported.add(error)
            sink.add_error(error)
            count += 1
        progress.errors += count
        progress.done += 1
        if on_progress is not None:
            on_progress(progress)

    submit_ready()
    while running:
        timeout = None if deadline is None else max(0.05, deadline - time.monotonic())
        done, _pending = concurrent.futures.wait(
            running, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        if not done:  # past the backstop: every unit still out is an error, none is waited on
            for future, index in list(running.items()):
                future.cancel()
                record(index, units[index].failed(TimeoutError("the unit did not report")), None)
            running.clear()
            for queue in waiting.values():
                while queue:
                    index = queue.popleft()
                    record(index, units[index].failed(TimeoutError("never started")), None)
            break
        for future in done:
            index = running.pop(future)
            per_key_running[units[index].key] -= 1
            try:
                result = future.result()
            except Exception as error:  # the worker died, the task was lost: say so
                record(index, units[index].failed(error), None)
            else:
                record(index, result.errors, result)
        submit_ready()
    return RunReport(
        stats=[s if s is not None else {} for s in stats],
        workers=workers,
        seconds=round(time.monotonic() - started, 3),
    )


def collect_units(
    collector: UnitCollector,
    executor: concurrent.futures.Executor,
    store: evidence.EvidenceStore,
    sink: EntrySink,
    *,
    per_key: int = DEFAULT_UNITS_PER_KEY,
    deadline: float | None = None,
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """One collector's run as units: the statistics `collector.collect` would have returned,
    plus the units' count and the peak memory of each worker process."""
    units = collector.units()
    report = run_units(
        units,
        executor,
        StoreRef.of(store),
        sink,
        per_key=per_key,
        deadline=deadline,
        on_progress=on_progress,
    )
    stats = collector.combine(report.stats)
    stats["units"] = len(units)
    stats["worker_processes"] = len(report.workers)
    stats["peak_rss_mb_per_worker"] = round(max(report.workers.values(), default=0) / 2**20, 1)
    return stats
