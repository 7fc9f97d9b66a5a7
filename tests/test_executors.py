"""The executor seam: every kind runs the same units to the same results."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from auditor.executors import ExecutorSpec, open_executor, parse_executor


def _unit(n: int) -> tuple[int, int]:
    """A picklable unit; returns its result and the process that ran it."""
    return n * n, os.getpid()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threads", ExecutorSpec("threads", 8)),
        ("threads:3", ExecutorSpec("threads", 3)),
        ("dask-local", ExecutorSpec("dask-local", 8)),
        ("dask-local:2", ExecutorSpec("dask-local", 2)),
        ("tcp://10.0.0.5:8786", ExecutorSpec("dask", 8, "tcp://10.0.0.5:8786")),
        ("tls://scheduler.internal:8786", ExecutorSpec("dask", 8, "tls://scheduler.internal:8786")),
    ],
)
def test_executor_strings_parse(text: str, expected: ExecutorSpec) -> None:
    assert parse_executor(text, 8) == expected


@pytest.mark.parametrize(
    "text", ["", "thread", "threads:0", "dask-local:x", "http://h:1", "tcp://h"]
)
def test_bad_executor_strings_say_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"threads\[:N\]|1 to"):
        parse_executor(text, 8)


def test_threads_and_a_local_cluster_give_the_same_results() -> None:
    results = {}
    pids = {}
    for spec in (parse_executor("threads:2", 1), parse_executor("dask-local:2", 1)):
        with open_executor(spec) as executor:
            futures = [executor.submit(_unit, n) for n in range(20)]
            _done, pending = concurrent.futures.wait(futures)
            assert not pending
            results[spec.kind] = [f.result()[0] for f in futures]
            pids[spec.kind] = {f.result()[1] for f in futures}
    assert results["threads"] == results["dask-local"] == [n * n for n in range(20)]
    assert pids["threads"] == {os.getpid()}
    assert os.getpid() not in pids["dask-local"]  # the cluster's work ran in its own processes
