"""A folder store that fails at its k-th write step, injected through the backend seam.

The crash tests need a run to stop at every point where the store's files change: after each
temporary copy is written and after each rename into place (a finished scratch file counts
before and after its move). `StepFaultBackend` is the real `LocalBackend` with a counter at
those points; at step k it SIGKILLs its own process (`kill`, for the subprocess tests) or
raises `InjectedFault` (`raise`, in-process). Nothing in `auditor/` knows about it.

As a program it is the child of those tests: it writes one snapshot of `bucket` documents

    python -m support.faulty_store ROOT DOCUMENTS VERSION [KILL_AT_STEP]

printing `begun` once the writer is open and `committed` after a clean commit.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from auditor.evidence import EvidenceStore
from auditor.evidence.local import LocalBackend


class InjectedFault(RuntimeError):
    """Raised by a `raise` StepFaultBackend at its chosen step."""


class StepFaultBackend(LocalBackend):
    """`LocalBackend` that stops the run at write step `fail_at` (1-based; 0: never)."""

    def __init__(
        self, root: Path, *, fail_at: int, action: str = "kill", durable: bool = True
    ) -> None:
        super().__init__(root, durable=durable)
        if action not in ("kill", "raise"):
            raise ValueError(f"action must be kill or raise, not {action!r}")
        self.fail_at = fail_at
        self.action = action
        self.steps = 0

    def _step(self) -> None:
        self.steps += 1
        if self.fail_at and self.steps == self.fail_at:
            if self.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise InjectedFault(f"injected fault at write step {self.steps}")

    def _write_temp(self, data: bytes) -> Path:
        tmp = super()._write_temp(data)
        self._step()  # the temporary copy is whole, not yet in place
        return tmp

    def write(self, key: str, data: bytes, *, retain: bool = True) -> None:
        super().write(key, data, retain=retain)
        self._step()  # renamed into place

    def write_new(self, key: str, data: bytes, *, retain: bool = True) -> bool:
        created = super().write_new(key, data, retain=retain)
        if created:
            self._step()  # linked into place
        return created

    def write_file(self, key: str, path: Path) -> None:
        self._step()  # the scratch file is whole, not yet moved
        super().write_file(key, path)
        self._step()  # moved into place


def faulty_store(
    root: Path, fail_at: int, action: str = "kill", lock_timeout: float = 60.0
) -> EvidenceStore:
    """An evidence store over a StepFaultBackend, built as `open_store` builds a folder store."""
    backend = StepFaultBackend(root, fail_at=fail_at, action=action)
    return EvidenceStore(backend, lock_timeout=lock_timeout)


def main(argv: list[str]) -> int:
    from store_support import CATALOG_SHA, SCOPE, bucket  # tests/evidence, on the child's path

    root, documents, version = Path(argv[0]), int(argv[1]), int(argv[2])
    fail_at = int(argv[3]) if len(argv) > 3 else 0
    store = faulty_store(root, fail_at)
    with store.begin_snapshot("aws", SCOPE, CATALOG_SHA) as writer:
        print("begun", flush=True)
        for i in range(documents):
            writer.add(bucket(i, version=version))
    print("committed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
