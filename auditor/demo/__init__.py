"""The embedded default: the whole pipeline with no cloud account.

An in-process moto server on 127.0.0.1 is seeded with a sample ML estate, a bundled Cloud Asset
export stands in for GCP, and the estate changes week by week over a simulated quarter (the last
complete one) while snapshots are taken. Backdating snapshot times is a demo-only facility.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from auditor import pipeline
from auditor.demo.moto import aws_env, local_moto
from auditor.errors import UserError
from auditor.files import write_atomic
from auditor.models import AuditResult, Catalog, Period, SnapshotManifest
from auditor.resources import data_dir

DEMO_REGIONS = ("eu-west-1", "us-east-1")
SNAPSHOT_WEEKS = (1, 3, 5, 7, 9, 11, 13)  # fortnightly over a 13-week quarter
DEMO_MARKER = ".auditor-demo"
DEMO_WORKERS = 8  # work units at once: the sample estate is small

Progress = pipeline.Progress


@dataclass(frozen=True)
class DemoOutcome:
    report_dir: Path
    report_files: tuple[Path, ...]
    store: Path
    period: Period
    result: AuditResult
    changes: tuple[str, ...]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, with botocore pointed at it; env restored after."""
    with local_moto() as endpoint, aws_env(endpoint, DEMO_REGIONS[0]):
        yield endpoint


@contextlib.contextmanager
def _quiet_moto_logs() -> Iterator[None]:
    """moto logs a traceback for each operation it lacks; the demo reports those as collection
    errors instead, so its own log stays readable."""
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto", "flask.app")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def simulated_quarter(today: date | None = None) -> Period:
    """The last complete quarter: the demo never backdates into the future."""
    return pipeline.period_for("previous", today=today)


def _fresh_store(out: Path) -> Path:
    """The demo's own store starts empty each run; never touch a folder the demo did not make.
    Reports accumulate (v1, v2, ...) so reruns show versioning."""
    store = out / "evidence-store"
    marker = out / DEMO_MARKER
    if store.exists():
        if not marker.exists():
            raise UserError(f"{store} exists and was not made by the demo; choose another --out")
        shutil.rmtree(store)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, b"created by `auditor demo`; safe to delete with this folder\n")
    return store


@dataclass(frozen=True)
class _Run:
    """What both demos start from: a fresh store, the catalog with the demo's approved regions,
    and the simulated quarter."""

    out: Path
    store_path: Path
    store: pipeline.evidence.EvidenceStore
    catalog: Catalog
    period: Period

    @classmethod
    def start(cls, out: Path, today: date | None) -> _Run:
        out = out.resolve()
        store_path = _fresh_store(out)
        return cls(
            out=out,
            store_path=store_path,
            store=pipeline.open_store(str(store_path)),
            catalog=pipeline.load_catalog(params={"approved_regions": _approved_regions()}),
            period=simulated_quarter(today),
        )

    def metadata(self, organisation: str, scope: str) -> dict[str, object]:
        return {
            **pipeline.report_metadata(None),
            "organisation": organisation,
            "auditor": "Example Assurance LLP",
            "scope": scope,
            "demo": True,
        }

    def outcome(self, report_dir: Path, result: AuditResult, changes: list[str]) -> DemoOutcome:
        files = tuple(sorted(p for p in report_dir.iterdir() if p.is_file()))
        return DemoOutcome(report_dir, files, self.store_path, self.period, result, tuple(changes))


def run_demo(
    out: Path, progress: Progress = pipeline.no_progress, today: date | None = None
) -> DemoOutcome:
    """Seed, snapshot fortnightly over the quarter, evaluate the period, write the report."""
    from auditor.demo import aws_estate, gcp_estate

    run = _Run.start(out, today)
    out, store, catalog, period = run.out, run.store, run.catalog, run.period
    changes: list[str] = []
    progress(f"catalog: {len(catalog.controls)} controls; simulated quarter {period.label}")

    exports = out / "gcp-exports"  # the demo's GCP inputs, kept beside the report
    with _quiet_moto_logs(), moto_server() as endpoint:
        progress(f"moto server on {endpoint}: seeding the sample ML estate")
        aws_estate.seed_estate()
        for week in range(1, SNAPSHOT_WEEKS[-1] + 1):
            if week > 1:
                changes += [f"week {week}: {c}" for c in aws_estate.apply_week(week)]
                changes += [f"week {week}: {c}" for c in gcp_estate.week_changes(week)]
            if week not in SNAPSHOT_WEEKS:
                continue
            taken_at = datetime.combine(
                period.start.date() + timedelta(weeks=week - 1), time(6, 0), tzinfo=UTC
            )
            manifest = _aws_snapshot(store, catalog, DEMO_REGIONS, taken_at)
            export = gcp_estate.export_for_week(week, exports)
            gcp = pipeline.gcp_collector(store, asset_export=export)
            gcp_manifest = pipeline.take_snapshot(
                store, gcp, catalog.sha256, taken_at=taken_at + timedelta(minutes=5)
            )
            progress(
                f"week {week:2d} ({taken_at:%Y-%m-%d}): AWS {sum(manifest.counts.values())} documents, "
                f"{len(manifest.errors)} collection errors; GCP {sum(gcp_manifest.counts.values())} documents"
            )

    snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=period))
    policy = _policy_files(period, out / "policy")
    progress(f"evaluating {len(snapshots)} snapshots of {period.label}")
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=("gdpr", "hipaa", "pci-dss-4.0.1"),
        period=period,
        waivers_path=policy / "waivers.yaml",
        attestations_path=policy / "attestations.yaml",
        metadata=run.metadata(
            "Acme Health Analytics (demo)",
            "AWS account 123456789012 (moto, seeded sample estate), regions "
            + ", ".join(DEMO_REGIONS)
            + "; GCP organization 'acme' from the bundled sample Cloud Asset export",
        ),
    )
    progress("rendering HTML and PDF")
    return run.outcome(pipeline.write_report(result, out / "reports", store=store), result, changes)


def _aws_snapshot(
    store: pipeline.evidence.EvidenceStore,
    catalog: Catalog,
    regions: Sequence[str],
    taken_at: datetime,
) -> SnapshotManifest:
    """One AWS snapshot as `auditor collect aws` takes it: work units on the default executor."""
    units = pipeline.collection_executor(None, workers=DEMO_WORKERS)
    collector = pipeline.aws_collector(
        store, regions=list(regions), max_workers=units.workers, executor=units
    )
    return pipeline.take_snapshot(
        store, collector, catalog.sha256, taken_at=taken_at, executor=units
    )


def run_compliant_demo(
    out: Path,
    progress: Progress = pipeline.no_progress,
    today: date | None = None,
    formats: tuple[str, ...] | None = None,  # None: every report format
) -> DemoOutcome:
    """The same pipeline on the compliant twin of both clouds: one snapshot each at the end of
    the simulated quarter, the default catalog with the demo's approved regions and no scope, and
    no waivers or attestations. Expected: no FAIL in any framework (manual requirements stay
    MANUAL until attested)."""
    from auditor.demo import aws_estate, gcp_estate

    run = _Run.start(out, today)
    out, store, catalog, period = run.out, run.store, run.catalog, run.period
    taken_at = datetime.combine(period.end.date() - timedelta(days=2), time(6, 0), tzinfo=UTC)
    progress(f"catalog: {len(catalog.controls)} controls; compliant twin, {period.label}")
    with _quiet_moto_logs(), moto_server() as endpoint:
        progress(f"moto server on {endpoint}: seeding the compliant twin of the sample estate")
        aws_estate.seed_compliant_estate()
        manifest = _aws_snapshot(store, catalog, aws_estate.COMPLIANT_REGIONS, taken_at)
        progress(f"AWS: {sum(manifest.counts.values())} documents")
    clouds = "AWS"
    compliant_export = getattr(gcp_estate, "compliant_export", None)
    if compliant_export is not None:
        export = compliant_export(out / "gcp-exports")
        gcp = pipeline.gcp_collector(store, asset_export=export)
        gcp_manifest = pipeline.take_snapshot(
            store, gcp, catalog.sha256, taken_at=taken_at + timedelta(minutes=5)
        )
        progress(f"GCP: {sum(gcp_manifest.counts.values())} documents")
        clouds = "AWS and GCP"
    else:
        progress("GCP: no compliant export in this build; AWS only")
    snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=period))
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=("gdpr", "hipaa", "pci-dss-4.0.1"),
        period=period,
        metadata=run.metadata(
            "Acme Health Analytics (demo, compliant twin)",
            f"compliant twin of the sample estate ({clouds}); AWS regions "
            + ", ".join(aws_estate.COMPLIANT_REGIONS),
        ),
    )
    progress("rendering the report")
    return run.outcome(pipeline.write_report(result, out / "reports", formats=formats), result, [])


_RELATIVE_DATE = re.compile(r"\{\{(start|end)([+-]\d+)\}\}")


def _policy_files(period: Period, target: Path) -> Path:
    """The bundled waivers and attestations, dated relative to the simulated quarter, so that the
    demo shows a current waiver, an expired one, a current and an expired attestation whatever
    today's date is. Their evidence files are copied beside them."""
    source = data_dir() / "demo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source / "evidence", target / "evidence")
    anchors = {"start": period.start.date(), "end": (period.end - timedelta(days=1)).date()}
    for name in ("waivers.yaml", "attestations.yaml"):
        text = (source / name).read_text(encoding="utf-8")
        text = _RELATIVE_DATE.sub(
            lambda m: (anchors[m.group(1)] + timedelta(days=int(m.group(2)))).isoformat(), text
        )
        write_atomic(target / name, text.encode("utf-8"))
    return target


def _approved_regions() -> list[str]:
    """The demo organisation keeps ML data in the EU; US resources are residency findings."""
    return ["eu-west-1", "eu-central-1", "europe-west4", "europe-west1", "EU", "eu"]
