"""`auditor.yaml` -> validated settings, with errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from auditor import yamlfile
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, ScopeDefinition


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManagementAssertion(_Strict):
    """Who makes management's assertion, and in what words. The report qualifies the words
    when the results contradict them (open exceptions, insufficient evidence)."""

    name: str = ""
    title: str = ""
    wording: str = ""


class Organisation(_Strict):
    name: str = "Example Organisation"
    report_title: str = "Machine-learning workloads: compliance audit report"
    # The wording alone (a string), or {name, title, wording}.
    management_assertion: str | ManagementAssertion = (
        "Management asserts that the controls described in this report were in place and operating "
        "during the period, except as noted in the exceptions."
    )
    auditor: str = ""
    contact: str = ""


class StoreSettings(_Strict):
    url: str = "./.auditor/store"
    kms_key_id: str | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    object_lock_days: int | None = Field(default=None, ge=1)
    sign: SignSettings | None = None  # detached signatures on manifests and void records


def _role_arn(arn: str) -> str:
    if not arn.startswith("arn:aws") or ":role/" not in arn:
        raise ValueError(
            f"expected an IAM role ARN like arn:aws:iam::123456789012:role/x, got {arn!r}"
        )
    return arn


class AssumeRoleSettings(_Strict):
    """What a role's trust policy asks of the caller; botocore's assume-role fetcher sends it."""

    external_id: str | None = None
    mfa_serial: str | None = None  # the code is asked for on the terminal (threads executor)
    duration_seconds: int | None = Field(default=None, ge=900, le=43200)
    source_profile: str | None = None  # whose credentials assume the role (may chain roles)
    session_name: str = "auditor"


class RoleSettings(AssumeRoleSettings):
    """One role with its own settings (aws.roles)."""

    arn: str

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        return _role_arn(value)


class AwsSettings(_Strict):
    enabled: bool = True
    profile: str | None = None
    role_arns: list[str] = []
    organization_role_name: str | None = None
    regions: list[str] | Literal["all"] | None = None
    max_workers: int = Field(default=16, ge=1, le=1024)  # the executor's workers (--workers)
    assume_role: AssumeRoleSettings = AssumeRoleSettings()  # for role_arns and the org's roles
    roles: list[RoleSettings] = []  # roles with settings of their own

    @field_validator("role_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            _role_arn(arn)
        return value


class GcpSettings(_Strict):
    enabled: bool = False
    scopes: list[str] = []
    asset_export: str | None = None
    asset_api_endpoint: str | None = None
    impersonate_service_account: str | None = None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            kind, _, ident = scope.partition("/")
            if kind not in ("projects", "folders", "organizations") or not ident:
                raise ValueError(
                    f"expected projects/ID, folders/N or organizations/N, got {scope!r}"
                )
        return value

    @model_validator(mode="after")
    def _something_to_collect(self) -> GcpSettings:
        if self.enabled and not self.scopes and not self.asset_export:
            raise ValueError("gcp is enabled but neither scopes nor asset_export is set")
        return self


class ControlSettings(_Strict):
    extra_dirs: list[str] = []
    params: dict[str, Any] = {}


class CollectionSettings(_Strict):
    """Bounds on one collection run, so a stalling API ends in errors, never in a hang; limits
    on imported evidence; and the completeness check against the previous snapshot."""

    deadline_seconds: float = Field(default=3600, gt=0)  # then remaining calls are ERROR
    connect_timeout: float = Field(default=10, gt=0)  # per attempt
    read_timeout: float = Field(default=60, gt=0)  # per attempt
    max_attempts: int = Field(default=5, ge=0, le=20)  # retries after the first attempt
    # warn when more than this share of a type's documents in one account/region is gone
    completeness_threshold: float = Field(default=0.5, ge=0, lt=1)
    max_line_bytes: int = Field(default=16 << 20, ge=1024)  # one export line or array element
    max_depth: int = Field(default=200, ge=8, le=10_000)  # JSON nesting of one record
    # where work units run: threads[:N], dask-local[:N], tcp://HOST:PORT or tls://HOST:PORT
    executor: str = "threads"
    units_per_key: int = Field(default=2, ge=1, le=64)  # units of one account+region at once

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        from auditor.executors import parse_executor

        parse_executor(value, 1)  # ValueError says what was expected
        return value


class SignSettings(_Strict):
    key: str
    cert: str | None = None
    passphrase_env: str | None = None


StoreSettings.model_rebuild()  # `sign` refers to SignSettings, defined after it


class ReportSettings(_Strict):
    out: str = "./reports"
    formats: list[Literal["html", "pdf"]] = ["html", "pdf"]
    period: str = "current"  # current | previous | 2026-Q4 | 2026-H2 | 2026
    sign: SignSettings | None = None
    fail_on: Literal["fail", "error"] | None = None
    classification: str = ""  # e.g. "Confidential": printed on every page and the HTML header


_INTERVAL_UNITS = {"h": 1 / 24, "d": 1.0, "w": 7.0}


class ScheduleSettings(_Strict):
    """How often snapshots are meant to be taken: the cadence evidence coverage is judged by."""

    interval: str | float = "7d"  # days as a number, or "12h", "7d", "2w"

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | float) -> str | float:
        interval_days(value)
        return value

    def days(self) -> float:
        return interval_days(self.interval)


def interval_days(value: str | float) -> float:
    """`7`, `"7d"`, `"2w"` or `"12h"` as days; anything else (or not positive) is refused."""
    if isinstance(value, bool):
        raise ValueError("expected a number of days or a duration like 7d, 2w, 12h")
    if isinstance(value, int | float):
        days = float(value)
    else:
        text = value.strip().lower()
        unit = _INTERVAL_UNITS.get(text[-1:]) if text else None
        number = text[:-1] if unit is not None else text
        try:
            days = float(number) * (unit if unit is not None else 1.0)
        except ValueError:
            raise ValueError(
                f"expected a number of days or a duration like 7d, 2w, 12h, got {value!r}"
            ) from None
    if not days > 0:
        raise ValueError(f"the interval must be positive, got {value!r}")
    return days


def _texts(value: Any) -> Any:
    """YAML reads `[111111111111]` and `["123"]` differently; IDs are text either way."""
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


class ScopeTag(_Strict):
    key: str = Field(min_length=1)
    values: list[str] = []  # empty: any value of the key

    _values = field_validator("values", mode="before")(_texts)


class ScopeSelectorSettings(_Strict):
    """One include/exclude entry; every key given must match (AND), entries are alternatives."""

    tag: ScopeTag | None = None  # AWS tags and GCP labels alike
    accounts: list[str] = []
    organizational_units: list[str] = []
    projects: list[str] = []
    folders: list[str] = []
    regions: list[str] = []

    _ids = field_validator("accounts", "folders", "projects", "regions", mode="before")(_texts)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for account in value:
            if not (account.isdigit() and len(account) == 12):
                raise ValueError(f"expected a 12-digit AWS account ID, got {account!r}")
        return value

    @field_validator("organizational_units")
    @classmethod
    def _ous(cls, value: list[str]) -> list[str]:
        if value:
            # Refused rather than accepted and silently matching nothing.
            raise ValueError(
                "organizational_units selectors are not supported yet: the AWS collector does not "
                "record which OU an account belongs to; list the accounts instead"
            )
        for unit in value:
            if not unit.startswith("ou-"):
                raise ValueError(
                    f"expected an organizational unit ID like ou-ab12-cd34ef56, got {unit!r}"
                )
        return value

    @field_validator("folders")
    @classmethod
    def _folders(cls, value: list[str]) -> list[str]:
        return [f.removeprefix("folders/") for f in value]

    @model_validator(mode="after")
    def _something(self) -> ScopeSelectorSettings:
        if not (
            self.tag
            or self.accounts
            or self.organizational_units
            or self.projects
            or self.folders
            or self.regions
        ):
            raise ValueError(
                "an empty selector; give tag, accounts, organizational_units, projects, "
                "folders or regions"
            )
        return self


class FrameworkScopeSettings(_Strict):
    include: list[ScopeSelectorSettings] = []
    exclude: list[ScopeSelectorSettings] = []


class ScopeSettings(_Strict):
    """`scope:` per framework: the resources holding its data, carried along the ML lineage."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    unclassified: Literal["in_scope", "out_of_scope"] = "in_scope"
    gdpr: FrameworkScopeSettings | None = None
    hipaa: FrameworkScopeSettings | None = None
    pci_dss: FrameworkScopeSettings | None = Field(default=None, alias="pci-dss-4.0.1")

    def definition(self) -> ScopeDefinition:
        """The models-level value the evaluate stage reads (it never imports config)."""
        return ScopeDefinition.from_dict(self.model_dump(by_alias=True, exclude_none=True))


class Config(_Strict):
    version: Literal[1] = 1
    organisation: Organisation = Organisation()
    frameworks: list[str] = list(FRAMEWORKS)
    store: StoreSettings = StoreSettings()
    aws: AwsSettings = AwsSettings()
    gcp: GcpSettings = GcpSettings()
    collection: CollectionSettings = CollectionSettings()
    controls: ControlSettings = ControlSettings()
    waivers: str | None = None
    attestations: str | None = None
    report: ReportSettings = ReportSettings()
    scope: ScopeSettings | None = None  # None: every resource is in scope for every framework
    schedule: ScheduleSettings = ScheduleSettings()
    base_dir: Path = Path(".")  # folder of the config file; relative paths resolve against it
    _source: str = PrivateAttr(default="auditor.yaml")
    _param_lines: dict[str, int] = PrivateAttr(default_factory=dict)
    _raw: Any = PrivateAttr(default=None)  # the parsed file, with lines (auditor.settings)

    def source_file(self) -> str:
        """The file these settings came from."""
        return self._source

    def raw_settings(self) -> Any:
        """The file as parsed (LineDict), so a setting's line can be found; None if not loaded."""
        return self._raw

    def param_location(self, name: str) -> tuple[str, int | None]:
        """Where `controls.params.<name>` was set, for errors the catalog raises about it."""
        return self._source, self._param_lines.get(name)

    def location(self, *keys: str | int) -> tuple[str, int | None]:
        """File and line where a setting was written (None when it was left at its default)."""
        return self._source, yamlfile.line_of(self._raw, list(keys)) if self._raw else None

    @field_validator("frameworks")
    @classmethod
    def _frameworks(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FRAMEWORKS]
        if unknown:
            raise ValueError(
                f"unknown framework {unknown[0]!r}; expected one of {', '.join(FRAMEWORKS)}"
            )
        if not value:
            raise ValueError("at least one framework is required")
        return value

    def path(self, value: str | None) -> Path | None:
        """A path from the file, resolved against the config file's folder."""
        if value is None:
            return None
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def store_url(self) -> str:
        url = self.store.url
        return url if url.startswith("s3://") else str(self.path(url))


def load_config(path: Path | str) -> Config:
    """Read and validate auditor.yaml; a bad file raises UserError (exit 2)."""
    path = Path(path)
    raw = yamlfile.load_file(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of settings at the top level", file=str(path), line=1)
    if "base_dir" in raw:
        raise UserError(
            "unknown key (not allowed here; check the spelling)",
            file=str(path),
            line=yamlfile.line_of(raw, ["base_dir"]),
            field="base_dir",
        )
    config = yamlfile.validate(Config, raw, str(path))
    config = config.model_copy(update={"base_dir": path.resolve().parent})
    config._source = str(path)
    config._raw = raw
    params = (
        (raw.get("controls") or {}).get("params") if isinstance(raw.get("controls"), dict) else None
    )
    if isinstance(params, dict):
        config._param_lines = {
            str(k): yamlfile.line_of(raw, ["controls", "params", k]) or 0 for k in params
        }
    return config


STARTER = """\
# auditor.yaml: what to audit, against which frameworks, and where evidence and reports go.
# Every key is optional; the values shown are the defaults unless marked "example".
version: 1

organisation:
  name: Example Organisation                 # example: printed on the report cover
  report_title: "Machine-learning workloads: compliance audit report"
  auditor: ""                                # the external auditor's firm, for the sign-off block
  contact: ""
  # management_assertion:                    # the wording alone, or who asserts and in what words;
  #   name: Dana Example                     # the report qualifies it when exceptions are open or
  #   title: Chief Information Security Officer  # the evidence does not cover the period
  #   wording: "Management asserts that the controls described were in place and operated effectively."

# Frameworks to evaluate: gdpr, hipaa, pci-dss-4.0.1
frameworks: [gdpr, hipaa, pci-dss-4.0.1]

# Evidence store: a local folder (files 0600, folders 0700) or s3://bucket/prefix for teams.
# Every setting: an option given (--store) beats the environment (AUDITOR_STORE), which beats this
# file, which beats the default. `auditor config show` prints what is in effect and why.
store:
  url: ./.auditor/store
  # kms_key_id: arn:aws:kms:eu-west-1:123456789012:key/...   # SSE-KMS for an S3 store
  # object_lock_mode: COMPLIANCE                              # when the bucket has Object Lock
  # object_lock_days: 400
  # sign: {key: keys/signer.key, cert: keys/signer.pem}   # a .sig per manifest; verify --trust-root

aws:
  enabled: true
  # profile: audit                          # a named profile; default: the default credential chain
  # role_arns:                              # assume a read-only role in each account
  #   - arn:aws:iam::111111111111:role/auditor-readonly
  # organization_role_name: auditor-readonly  # or: every account of the AWS Organization
  regions: [eu-west-1, us-east-1]           # or: all (every enabled region)
  # max_workers: 16                         # work units at once (--workers)
  # assume_role:                            # for role_arns and organization roles
  #   external_id: acme-audit-7f3c          # when the role's trust policy requires one
  #   duration_seconds: 3600
  #   source_profile: audit-hub             # whose credentials assume the roles
  # roles:                                  # roles with settings of their own
  #   - {arn: "arn:aws:iam::222222222222:role/auditor", external_id: other-id}

gcp:
  enabled: false
  scopes: []                                # example: [projects/acme-ml-prod, folders/123456789]
  # asset_export: exports/assets.ndjson     # instead of live: a `gcloud asset export` file
  # asset_api_endpoint: cloudasset.googleapis.com   # private endpoint (or env AUDITOR_GCP_ASSET_ENDPOINT)
  # impersonate_service_account: auditor@acme-audit.iam.gserviceaccount.com

# Bounds on one collection run: calls still running at the deadline become collection errors
# (their controls ERROR), never a hang; each attempt has its own timeouts.
collection:
  deadline_seconds: 3600
  connect_timeout: 10
  read_timeout: 60
  max_attempts: 5                           # retries after the first attempt
  completeness_threshold: 0.5               # a type losing more than this share of its documents
                                            # in one account/region since the previous snapshot,
                                            # with no error to explain it, gives ERROR, not "deleted"
  max_line_bytes: 16777216                  # one export line or array element; larger: an error
  max_depth: 200                            # JSON nesting of one export record
  executor: threads                         # or threads:N, dask-local:N, tcp://scheduler:8786
  units_per_key: 2                          # AWS units of one account and region at once

controls:
  extra_dirs: []                            # your own controls, same YAML format
  params: {}                                # example: {approved_regions: [eu-west-1, europe-west4]}
                                            # values looser than a framework's minimum are refused

# waivers: waivers.yaml                     # accepted exceptions, each with an expiry date
# attestations: attestations.yaml           # manual evidence for requirements no API can show

report:
  out: ./reports                            # versions go to <out>/<period>/v<N>/
  formats: [html, pdf]
  period: current                           # current | previous | 2026-Q4 | 2026-H2 | 2026
  # sign: {key: keys/signer.key, cert: keys/signer.pem}   # PAdES signature (pip install auditor[sign])
  # fail_on: fail                           # exit 1 when any FAIL (or: error) remains
  # classification: Confidential            # marking printed on every page and the HTML header

# schedule:
#   interval: 7d                            # expected snapshot cadence (12h, 7d, 2w); with under
#                                           # half the expected snapshots, or a gap over 3
#                                           # intervals, the report does not conclude on operation

# Framework scope (optional; without it every resource is in scope for every framework).
# Name the data directly; scope follows the ML lineage from there: jobs reading it, what they
# write, models trained on it, endpoints serving them, and the keys, roles and images they use.
# scope:
#   unclassified: in_scope                  # or out_of_scope: resources no selector reaches
#   hipaa:
#     include:
#       - tag: {key: data-class, values: [phi]}   # AWS tags and GCP labels alike
#       - accounts: ["111111111111"]
#       - projects: [acme-phi]                    # or folders: ["123"]; regions: [us-east-1]
#     exclude:
#       - tag: {key: env, values: [sandbox]}
#   pci-dss-4.0.1: {include: [{tag: {key: data-class, values: [pan, chd]}}]}
"""
