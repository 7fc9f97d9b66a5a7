"""The suite's loopback guard (tests/conftest.py) is in force."""

from __future__ import annotations

import socket
import threading

import pytest


def test_non_loopback_connections_are_refused() -> None:
    probe = socket.socket()
    try:
        with pytest.raises(ConnectionRefusedError, match="only loopback"):
            probe.connect(("192.0.2.1", 443))  # TEST-NET-1: documentation range, never routed
    finally:
        probe.close()


def test_loopback_connections_work() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    accepted.join(timeout=5)
    server.close()
