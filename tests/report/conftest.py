"""Shared fixtures: a hostile synthetic AuditResult, a listener that must hear nothing, and one
rendered report version reused by every test in the session (PDF renders are slow)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.report import write_report
from devtools import report_synthetic


class Listener:
    """A TCP socket on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(0.5)
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            self.connections.append(data or b"<connected>")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="session")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="session")
def synthetic(listener: Listener) -> report_synthetic.Synthetic:
    return report_synthetic.build(300, failing=250, hostile_port=listener.port)


@pytest.fixture(scope="session")
def report_dir(
    synthetic: report_synthetic.Synthetic, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One version folder (HTML + PDF) rendered once; tests that modify files copy it first."""
    out = tmp_path_factory.mktemp("reports")
    return write_report(
        synthetic.result,
        out,
        findings_json=synthetic.findings_json,
        findings_csv=synthetic.findings_csv,
        previous_findings={
            "period": "2026-Q3",
            "findings": [{"status": "FAIL"}] * 40 + [{"status": "PASS"}] * 300,
        },
        evidence_documents=report_synthetic.evidence_documents(synthetic),
    )


@pytest.fixture
def report_copy(report_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the rendered version folder, as `<tmp>/2026-Q4/v1`."""
    target = tmp_path / report_dir.parent.name / report_dir.name
    shutil.copytree(report_dir, target)
    return target
