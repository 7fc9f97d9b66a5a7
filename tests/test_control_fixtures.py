"""THE meta-test of the shipped catalog (checkov-style).

Every automated control has `tests/fixtures/controls/<ID>/pass.json` and `fail.json`, realistic
evidence documents (`{"resource_type": ..., "data": ...}`) on which its rule must PASS and FAIL.
The test is parametrized over whatever the catalog holds, so a new control without fixtures, a
fixture without a control, or a rule that stops telling the two apart fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from auditor import resources
from auditor.catalog import load_catalog
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, Catalog, Control, Stage, provider_of_type
from auditor.rules import failed_placeholders, holds

FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "controls"
VERDICTS = {"pass": True, "fail": False}


# Parameters only the organisation can decide (no default) get a value here, so that their
# controls' rules can be judged on the fixtures; unset, such a control reports MANUAL instead.
ORGANISATION_PARAMS = {
    "approved_regions": ["eu-west-1", "eu-central-1", "europe-west4", "europe-west1", "EU", "eu"]
}


def _load() -> tuple[Catalog | None, str | None]:
    try:
        return load_catalog(params=ORGANISATION_PARAMS), None
    except UserError as exc:
        return None, str(exc)


CATALOG, LOAD_ERROR = _load()
CONTROLS: tuple[Control, ...] = CATALOG.controls if CATALOG else ()
AUTOMATED = [c for c in CONTROLS if not c.manual]


def test_shipped_catalog_loads() -> None:
    assert LOAD_ERROR is None, LOAD_ERROR


def fixture_problems(control: Control, verdict: str, root: Path = FIXTURE_ROOT) -> list[str]:
    """What is wrong with one control's pass or fail fixture (empty: it decides correctly)."""
    path = root / control.id / f"{verdict}.json"
    if not path.is_file():
        return [f"{control.id} ({control.source}) has no fixture {path}"]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"{path}: not JSON: {exc}"]
    if not isinstance(document, dict) or set(document) != {"resource_type", "data"}:
        return [f"{path}: expected an object with exactly the keys resource_type and data"]
    data = document["data"]
    if not isinstance(data, dict):
        return [f"{path}: data must be an object"]
    problems = []
    if document["resource_type"] not in control.resource_types:
        problems.append(
            f"{path}: resource_type {document['resource_type']!r} is not one of "
            f"{list(control.resource_types)}"
        )
    if control.applies_if and not holds(control.applies_if, data):
        problems.append(f"{path}: applies_if is falsy, so the fixture proves nothing")
    expected = VERDICTS[verdict]
    if control.rule is None or holds(control.rule, data) is not expected:
        problems.append(f"{path}: rule {control.rule!r} should {verdict.upper()} on it")
    template = control.pass_reason if expected else control.fail_reason
    failed = failed_placeholders(template, data)
    if failed:
        problems.append(f"{path}: placeholders of the {verdict} reason failed: {failed}")
    return problems


def orphan_fixture_folders(controls: Sequence[Control], root: Path = FIXTURE_ROOT) -> list[str]:
    """Fixture folders no automated control owns (a renamed or deleted control left them)."""
    if not root.is_dir():
        return []
    automated = {c.id for c in controls if not c.manual}
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in automated)


@pytest.mark.parametrize("verdict", sorted(VERDICTS))
@pytest.mark.parametrize("control", AUTOMATED, ids=[c.id for c in AUTOMATED])
def test_control_decides_its_fixture(control: Control, verdict: str) -> None:
    assert fixture_problems(control, verdict) == []


def test_every_fixture_folder_belongs_to_an_automated_control() -> None:
    assert orphan_fixture_folders(CONTROLS) == []


def test_every_mapped_requirement_exists() -> None:
    assert CATALOG is not None, LOAD_ERROR
    missing = [
        f"{control.id} -> {framework}:{requirement}"
        for control in CATALOG.controls
        for framework, requirements in control.maps_to.items()
        for requirement in requirements
        if CATALOG.requirement(framework, requirement) is None
    ]
    assert missing == []


def test_every_shipped_control_maps_to_a_requirement() -> None:
    assert [c.id for c in CONTROLS if not any(c.maps_to.values())] == []


def test_every_framework_has_a_file() -> None:
    assert CATALOG is not None, LOAD_ERROR
    for framework in FRAMEWORKS:
        assert (resources.controls_dir() / "frameworks" / f"{framework}.yaml").is_file()
        assert CATALOG.frameworks[framework].requirements


@pytest.mark.parametrize("stage", list(Stage), ids=[s.value for s in Stage])
def test_every_stage_has_a_control(stage: Stage) -> None:
    assert [c.id for c in CONTROLS if c.stage == stage], f"no control for stage {stage}"


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_both_providers_are_covered(provider: str) -> None:
    assert [c.id for c in AUTOMATED if provider in c.providers], f"no {provider} control"


def test_shipped_ids_follow_the_ranges() -> None:
    """AWS controls NNN 001-049, GCP 051-099, in a file of the stage's folder; stable IDs
    are what waivers, attestations and trends across periods key on."""
    wrong = []
    for control in CONTROLS:
        match = re.fullmatch(r"ML-[A-Z]+-(\d{3})", control.id)
        if match is None:
            wrong.append(f"{control.id}: shipped IDs start with ML-")
            continue
        number = int(match.group(1))
        folder = control.source.split("/")[-2]
        if folder != control.stage.value:
            wrong.append(f"{control.id}: stage {control.stage} but file {control.source}")
        if control.manual:
            continue
        providers = {provider_of_type(t) for t in control.resource_types}
        if providers == {"aws"} and not 1 <= number <= 49:
            wrong.append(f"{control.id}: AWS controls use 001-049")
        if providers == {"gcp"} and not 51 <= number <= 99:
            wrong.append(f"{control.id}: GCP controls use 051-099")
    assert wrong == []


def test_resource_types_are_produced_by_a_collector() -> None:
    from auditor import collect

    known = collect.resource_types()
    unknown = sorted(
        {f"{c.id}: {t}" for c in AUTOMATED for t in c.resource_types if t not in known}
    )
    assert unknown == []
