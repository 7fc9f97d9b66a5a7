"""The local gRPC AssetService the live GCP tests drive the real AssetServiceClient against:
`service` (the bundled export's assets; a module may define its own) served at `endpoint`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_asset_service import FakeAssetService, serve

EXPORT = Path(__file__).parents[2] / "fixtures" / "gcp" / "assets_export.ndjson"


@pytest.fixture(scope="module")
def service() -> FakeAssetService:
    return FakeAssetService.from_records(
        json.loads(line) for line in EXPORT.read_text().splitlines()
    )


@pytest.fixture(scope="module")
def endpoint(service: FakeAssetService) -> Iterator[str]:
    with serve(service) as address:
        yield address
