"""The one moto server starter: the demo runs its estate on it, and the tests and the benchmarks
reuse it (they import it from here rather than keep their own), so every local AWS is started,
emptied and pointed at the same way.

moto keeps its state per process, whichever server object serves it: `local_moto` empties it
when it starts, and `reset_moto` empties it between uses of one server.
"""

from __future__ import annotations

import contextlib
import http.client
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def reset_moto(endpoint: str) -> None:
    """Empty moto's estate (every service, every account); slow with managed policies loaded.
    The role sessions this process holds are forgotten with it: moto no longer knows them."""
    from auditor.collect.aws.scope import forget_assumed_roles

    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        connection.request("POST", "/moto-api/reset")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"moto reset at {endpoint} answered {response.status}")
    finally:
        connection.close()
    forget_assumed_roles()


@contextlib.contextmanager
def local_moto() -> Iterator[str]:
    """A moto server on a free loopback port, emptied first; yields `http://127.0.0.1:PORT`."""
    from moto.server import ThreadedMotoServer  # moto is only needed by the demo and the tests

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        reset_moto(endpoint)
        yield endpoint
    finally:
        server.stop()


@contextlib.contextmanager
def aws_env(endpoint: str, region: str, **extra: str) -> Iterator[None]:
    """boto3 pointed at `endpoint` through AWS_ENDPOINT_URL with fake credentials, no profile and
    no config files, plus `extra` variables; the environment is restored after."""
    overrides = {
        "AWS_ENDPOINT_URL": endpoint,
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **extra,
    }
    saved = {key: os.environ.get(key) for key in [*overrides, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
