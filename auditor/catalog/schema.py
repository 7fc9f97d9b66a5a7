"""The shape of catalog YAML files, as strict pydantic models.

Only the shape lives here (keys, types, enums, ID spelling). Checks that need more than one
file — framework references, duplicate IDs, parameters, rule compilation — live in the loader,
which knows where each value came from and can name the file and line.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from auditor.models import Severity, Stage

CONTROL_ID_PATTERN = r"^[A-Z][A-Z0-9]{0,9}-(DATA|TRAIN|STORE|DEPLOY|MON|GOV)-[0-9]{3}$"
FRAMEWORK_ID_PATTERN = r"^[a-z0-9][a-z0-9.-]*$"

# ID middle part -> stage, so `ML-DATA-001` can only be a data-stage control.
STAGE_OF_ID_PART: dict[str, Stage] = {
    "DATA": Stage.DATA,
    "TRAIN": Stage.TRAINING,
    "STORE": Stage.STORAGE,
    "DEPLOY": Stage.DEPLOYMENT,
    "MON": Stage.MONITORING,
    "GOV": Stage.GOVERNANCE,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequirementModel(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    manual: StrictBool = False
    attestation_question: str | None = None


class FrameworkFile(_Strict):
    """`controls/frameworks/<framework>.yaml`."""

    framework: str = Field(pattern=FRAMEWORK_ID_PATTERN)
    name: str = Field(min_length=1)
    short_name: str = ""
    version: str = Field(min_length=1)
    source: str = Field(min_length=1)
    requirements: list[RequirementModel] = Field(min_length=1)


class ParamModel(_Strict):
    """A tunable value; `floor`/`ceiling` are the framework's own limits for numbers.

    `default: null` declares a value only the organisation can decide (approved regions): it then
    needs `type` and `question`, and until set the control reports MANUAL with that question."""

    default: Any
    description: str = ""
    floor: int | float | None = None
    ceiling: int | float | None = None
    type: Literal["number", "string", "boolean", "list", "mapping"] | None = None
    question: str | None = None


class MappingModel(_Strict):
    """One `maps_to` entry in its full form: the requirement and why the control evidences it."""

    id: str = Field(min_length=1)
    why: str = Field(min_length=1)
    supporting: StrictBool = False  # evidence shown beside the requirement, never deciding it


class RemediationModel(_Strict):
    text: str = Field(min_length=1)
    snippet: str = ""


class ControlModel(_Strict):
    """One entry of a control file's `controls:` list."""

    id: str
    title: str = Field(min_length=1)
    stage: Stage
    severity: Severity
    rationale: str = Field(min_length=1)
    resource_types: list[str] = []
    applies_if: str | None = None
    rule: str | None = None
    pass_reason: str = ""
    fail_reason: str = ""
    params: dict[str, ParamModel] = {}
    remediation: RemediationModel
    references: list[str] = []
    maps_to: dict[str, list[str | MappingModel]] = {}
    manual: StrictBool = False
    attestation_question: str | None = None

    @field_validator("id")
    @classmethod
    def _stable_id(cls, value: str) -> str:
        if not re.fullmatch(CONTROL_ID_PATTERN, value):
            raise ValueError(
                "expected PREFIX-STAGE-NNN such as ML-DATA-001 or ACME-TRAIN-001 "
                "(STAGE one of DATA, TRAIN, STORE, DEPLOY, MON, GOV)"
            )
        return value


class ControlFile(_Strict):
    """`controls/<stage>/<provider>-<topic>.yaml`: the entries are validated one by one."""

    controls: list[Any]
