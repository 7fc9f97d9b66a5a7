"""Fixtures: one moto server (behind the test proxy) per module, boto3 pointed at it by env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_estate import Proxy, start_proxy


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    state, stop = start_proxy()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", state.url)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/auditor-test-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/auditor-test-credentials")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
            env.delenv(name, raising=False)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield state
    stop()
