"""The unit mechanism: workers put documents into the store, the driver records their entries.

Units here make documents from their own fields (no cloud), so what is checked is the
mechanism: the same snapshot as documents added in one process, a failing or lost unit as
collection errors, the per-key limit, and objects written by a discarded run removed again.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor import distribute, pipeline
from auditor.evidence import open_store
from auditor.executors import parse_executor
from auditor.models import CollectionError, EvidenceDoc, EvidenceSink

_RUNNING: dict[str, int] = {}
_PEAK: dict[str, int] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class NumberUnit:
    """Makes `count` documents for one account/region; `boom` raises after half of them."""

    account: str
    region: str
    count: int
    boom: bool = False
    pause: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}"

    @property
    def label(self) -> str:
        return self.key

    def collect(self, sink: EvidenceSink, salt: bytes) -> dict[str, Any]:
        with _LOCK:
            _RUNNING[self.key] = _RUNNING.get(self.key, 0) + 1
            _PEAK[self.key] = max(_PEAK.get(self.key, 0), _RUNNING[self.key])
        try:
            time.sleep(self.pause)
            for n in range(self.count):
                if self.boom and n == self.count // 2:
                    raise RuntimeError("the unit broke")
                sink.add(document(self.account, self.region, n, salt))
            return {"calls": self.count, "documents": {"Test::Number": self.count}}
        finally:
            with _LOCK:
                _RUNNING[self.key] -= 1

    def failed(self, error: BaseException) -> tuple[CollectionError, ...]:
        return (
            CollectionError(
                provider="aws",
                account=self.account,
                region=self.region,
                service="test",
                operation="collect",
                error_code=type(error).__name__,
                message=str(error),
            ),
        )


def document(account: str, region: str, n: int, salt: bytes = b"") -> EvidenceDoc:
    return EvidenceDoc(
        provider="aws",
        account=account,
        region=region,
        resource_type="Test::Number",
        resource_id=f"arn:test:{account}:{region}:{n}",
        name=f"n{n}",
        data={"n": n, "salted": len(salt) > 0},
    )


class NumberCollector:
    provider = "aws"

    def __init__(self, units: Sequence[NumberUnit]) -> None:
        self._units = tuple(units)

    def scope(self) -> dict[str, Any]:
        return {"provider": "aws", "units": len(self._units)}

    def units(self) -> Sequence[NumberUnit]:
        return self._units

    def combine(self, stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {"calls": sum(int(s.get("calls", 0)) for s in stats)}

    def collect(self, sink: EvidenceSink) -> dict[str, Any]:
        for unit in self._units:
            try:
                unit.collect(sink, b"salt")
            except Exception as error:
                for e in unit.failed(error):
                    sink.add_error(e)
        return {"calls": sum(u.count for u in self._units)}


UNITS = [NumberUnit(f"11111111111{a}", r, 30) for a in range(3) for r in ("eu-west-1", "us-east-1")]


def _documents(store_path: Path, snapshot_id: str) -> dict[str, str]:
    snapshot = open_store(store_path).load_snapshot(snapshot_id)
    return {d.resource_id: d.sha256 for d in snapshot.documents}


def test_units_on_threads_give_the_snapshot_one_process_gives(tmp_path: Path) -> None:
    one = open_store(tmp_path / "one")
    manifest_one = pipeline.take_snapshot(one, NumberCollector(UNITS), "c" * 64)
    many = open_store(tmp_path / "many")
    manifest_many = pipeline.take_snapshot(
        many, NumberCollector(UNITS), "c" * 64, executor=parse_executor("threads:4", 4)
    )
    assert manifest_many.stats["units"] == len(UNITS)
    assert manifest_many.stats["calls"] == 30 * len(UNITS)
    assert manifest_many.counts == manifest_one.counts == {"Test::Number": 180}
    assert _documents(tmp_path / "one", manifest_one.id) == _documents(
        tmp_path / "many", manifest_many.id
    )
    assert many.verify().ok


def test_a_second_run_records_only_what_changed(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    spec = parse_executor("threads:2", 2)
    pipeline.take_snapshot(store, NumberCollector(UNITS), "c" * 64, executor=spec)
    second = pipeline.take_snapshot(store, NumberCollector(UNITS), "c" * 64, executor=spec)
    assert second.stats["store"]["changed_rows"] == 0
    assert second.stats["store"]["new_objects"] == 0
    assert len(store.load_snapshot(second.id).documents) == 180
    assert store.verify().ok


def test_a_unit_that_breaks_is_an_error_and_keeps_what_it_stored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    units = [*UNITS[:2], NumberUnit("222222222222", "eu-west-1", 10, boom=True)]
    manifest = pipeline.take_snapshot(
        store, NumberCollector(units), "c" * 64, executor=parse_executor("threads:2", 2)
    )
    broken = [e for e in manifest.errors if e.account == "222222222222"]
    assert [(e.error_code, e.message) for e in broken] == [("RuntimeError", "the unit broke")]
    assert manifest.counts["Test::Number"] == 60 + 5


def test_a_lost_unit_is_an_error_not_a_gap(tmp_path: Path) -> None:
    """A future that raises (a worker process that died) stands for the unit's errors."""
    store = open_store(tmp_path / "s")

    class Dying(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if args[0].account == "222222222222":
                future: concurrent.futures.Future[Any] = concurrent.futures.Future()
                future.set_exception(OSError("worker lost"))
                return future
            return super().submit(fn, *args, **kwargs)

    units = [UNITS[0], NumberUnit("222222222222", "eu-west-1", 10)]
    with store.begin_snapshot("aws", {}, "c" * 64) as writer, Dying(2) as pool:
        report = distribute.run_units(units, pool, distribute.StoreRef.of(store), writer)
    assert report.stats[1] == {}
    assert [(e.account, e.error_code) for e in writer.manifest.errors] == [
        ("222222222222", "OSError")
    ]
    assert writer.manifest.counts == {"Test::Number": 30}


def test_units_of_one_key_never_exceed_the_limit(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    units = [NumberUnit("333333333333", "eu-west-1", 2, pause=0.05) for _ in range(6)]
    _PEAK.clear()
    seen: list[tuple[int, int]] = []
    with (
        store.begin_snapshot("aws", {}, "c" * 64) as writer,
        concurrent.futures.ThreadPoolExecutor(6) as pool,
    ):
        distribute.run_units(
            units,
            pool,
            distribute.StoreRef.of(store),
            writer,
            per_key=2,
            on_progress=lambda p: seen.append((p.done, p.total)),
        )
    assert _PEAK["333333333333/eu-west-1"] == 2
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)


def test_objects_of_a_discarded_run_are_removed(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    with pytest.raises(RuntimeError), store.begin_snapshot("aws", {}, "c" * 64) as writer:
        writer.add_entries(store.put_documents([document("444444444444", "eu-west-1", 1)]))
        assert list(store.backend.keys("objects"))
        raise RuntimeError("stop")
    assert not list(store.backend.keys("objects"))
    assert store.list_snapshots() == []


def test_the_executor_setting_follows_the_one_precedence_rule(tmp_path: Path) -> None:
    from auditor.config import load_config
    from auditor.errors import UserError

    config_file = tmp_path / "auditor.yaml"
    config_file.write_text(
        "version: 1\naws: {max_workers: 4}\ncollection: {executor: dask-local:3}\n"
    )
    config = load_config(config_file)
    assert str(pipeline.collection_executor(config, environ={})) == "dask-local:3"
    chosen = pipeline.collection_executor(config, environ={"AUDITOR_EXECUTOR": "threads"})
    assert chosen is not None
    assert (chosen.kind, chosen.workers) == ("threads", 4)  # aws.max_workers: the pool's size
    # nothing names an executor: work units on a thread pool of aws.max_workers' default
    assert str(pipeline.collection_executor(None, environ={})) == "threads:16"
    given = pipeline.collection_executor(config, executor="threads:2", environ={})
    assert str(given) == "threads:2"
    with pytest.raises(UserError) as raised:
        pipeline.collection_executor(config, executor="threads:0", environ={})
    assert raised.value.field == "--executor" and "1 to" in raised.value.message
    config_file.write_text("version: 1\ncollection: {executor: http://x:1}\n")
    with pytest.raises(UserError) as bad:
        load_config(config_file)
    assert "executor" in str(bad.value) and "auditor.yaml" in str(bad.value)
