"""``cloudphot demo``: the whole pipeline on a simulated field, on this machine.

Simulates a crowded M31-like field (known stars, Cepheids with known periods),
uploads its exposures, a field manifest and one deliberately corrupted file into
the local raw bucket in shuffled order, drains the pipeline through the real
state machines, and compares what came out with what went in.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .manifests import manifest_document, manifest_key, write_manifest
from .settings import Settings

if TYPE_CHECKING:
    from .platform import Platform

__all__ = ["DemoResult", "chaos_policy", "run_demo"]


@dataclass
class DemoResult:
    field_id: str
    workspace: Path
    seconds: float
    stage_seconds: dict[str, float]
    jobs: dict[str, int]
    rejected: list[dict]
    accuracy: Any = None  # verify.FieldAccuracy
    products: dict[str, str] = field(default_factory=dict)
    interruptions: int = 0
    worker_cpu_seconds: float = 0.0
    lost_cpu_seconds: float = 0.0  # CPU of workers that were interrupted (work redone)
    catalog_rows: int = 0
    catalog_version: int | None = None
    catalog_objects: int = 0
    catalog_measurements: int = 0
    periods: list[dict] = field(default_factory=list)  # Cepheids: true vs recovered period
    #: phot_visit rows, injected motions recovered, Cepheids' places in var_chi2
    visits: dict = field(default_factory=dict)
    #: artificial star tests: fakes, per filter the 50 % completeness magnitude from the
    #: ASTs and from the simulator's truth, the field's HLSP files and plots
    asts: dict = field(default_factory=dict)


def chaos_policy(
    rate: float, seed: int | None = None, *, after_s: tuple[float, float] = (1.0, 6.0)
):
    """Interrupt each Spot worker start with probability ``rate``, a random time after
    it starts (a Spot reclaim: SIGTERM, then SIGKILL after the grace period).

    Unseeded by default: chaos should explore; the catalogs must come out identical
    whatever it draws.
    """
    if not 0 <= rate <= 1:
        raise ConfigError(f"--chaos {rate}: the interruption rate must be between 0 and 1")
    rng = random.Random(seed)

    def policy(task_arn: str) -> float | None:
        return rng.uniform(*after_s) if rng.random() < rate else None

    return policy


def _corrupt_copy(src: Path, dst: Path) -> Path:
    """A truncated exposure (a transfer cut short), to show how a bad file is handled."""
    data = src.read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: len(data) // 3])
    return dst


def run_demo(
    settings: Settings,
    *,
    preset: str = "demo",
    seed: int = 0,
    chaos: float = 0.0,
    fresh: bool = False,
    progress: Callable[[str, Any], None] | None = None,
) -> DemoResult:
    from .platform import open_platform
    from .simulate.field import simulate_field

    def quiet(stage: str, info: Any = None) -> None:
        return None

    say = progress or quiet
    t0 = time.monotonic()
    stages: dict[str, float] = {}
    home = settings.home
    if fresh and home.exists():
        if not (home / "tables.sqlite").exists() and any(home.iterdir()):
            raise ConfigError(f"{home} is not a cloudphot workspace; refusing to delete it")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)

    say("simulate", None)
    sim_dir = home / "simulated" / f"{preset}-seed{seed}"
    sim = simulate_field(sim_dir, preset=preset, seed=seed, progress=True)
    stages["simulate"] = time.monotonic() - t0

    uploads = sorted(sim.exposures)
    random.Random(seed).shuffle(uploads)  # arrival order does not matter
    manifest = write_manifest(
        sim_dir / manifest_key(sim.field_id),
        manifest_document(sim.field_id, [p.name.split("_")[0] for p in sim.exposures]),
    )
    bad = _corrupt_copy(sim.exposures[0], sim_dir / "broken" / "jbad00zzq_flc.fits")

    platform = open_platform(settings, interruptions=chaos_policy(chaos) if chaos else None)
    platform.require_local("demo", must_exist=False)
    try:
        platform.runner.register()  # the packaged task registry, refreshed
        t1 = time.monotonic()
        say("upload", len(uploads) + 2)
        raw = settings.bucket("raw")
        for p in uploads:
            platform.objects.put_file(raw, p.name, p)  # each write notifies, as on S3
        platform.objects.put_file(raw, f"manifests/{manifest.name}", manifest)
        platform.objects.put_file(raw, bad.name, bad)
        stages["upload"] = time.monotonic() - t1
        t2 = time.monotonic()
        summary = platform.run(progress=lambda job: say("job", job))
        stages["pipeline"] = time.monotonic() - t2
        from .commands.pipeline import status_report

        report = status_report(platform)
        result = DemoResult(
            field_id=sim.field_id,
            workspace=home,
            seconds=0.0,
            stage_seconds=stages,
            jobs=report["jobs"],
            rejected=report["rejected"],
            interruptions=len(report["interruptions"]),
            worker_cpu_seconds=summary.worker_cpu_seconds,
            lost_cpu_seconds=sum(i["cpu_seconds_lost"] for i in report["interruptions"]),
        )
        _measure(result, platform, sim)
    finally:
        platform.close()
    result.seconds = time.monotonic() - t0
    return result


def _measure(result: DemoResult, platform: Platform, sim) -> None:
    from astropy.table import Table

    from .products import keys
    from .verify import compare_to_truth

    bucket = platform.settings.bucket("products")
    cat_key, meas_key = keys.field_catalog(sim.field_id), keys.field_measurements(sim.field_id)
    if not platform.objects.exists(bucket, cat_key):
        return
    root = platform.settings.buckets_dir / bucket
    catalog = Table.read(root / cat_key)
    measurements = Table.read(root / meas_key)
    result.catalog_rows = len(catalog)
    result.products = {
        "catalog": str(root / cat_key),
        "measurements": str(root / meas_key),
        "field": str(root / keys.field_product(sim.field_id, "")),
    }
    result.accuracy = compare_to_truth(
        catalog, measurements, sim.truth, sim.exposures_truth, sim.filters, field_id=sim.field_id
    )
    _asts_against_truth(result, platform, sim, catalog, root)
    _query_database(result, platform, sim)


def _asts_against_truth(result: DemoResult, platform: Platform, sim, catalog, root) -> None:
    """The ASTs' 50 % completeness per filter next to the truth's (run_asts' products)."""
    import json

    from .asts.completeness import truth_completeness_50
    from .products import keys

    key = keys.field_product(sim.field_id, "completeness.json")
    bucket = platform.settings.bucket("products")
    if not platform.objects.exists(bucket, key):
        return
    doc = json.loads(platform.objects.get_bytes(bucket, key))
    truth = truth_completeness_50(catalog, sim.truth, sim.exposures_truth, list(sim.filters))
    field_dir = root / keys.field_product(sim.field_id, "")
    result.asts = {
        "n_fakes": doc.get("n_fakes"),
        "n_recovered": doc.get("n_recovered"),
        "mag50": doc.get("mag50") or {},
        "truth50": {f: (round(v, 3) if v == v else None) for f, v in truth.items()},
        "plots": sorted(str(p) for p in (field_dir / "plots").glob("*.png")),
        "hlsp": sorted(str(p) for p in (field_dir / "hlsp").glob("*.fits")),
    }


def _query_database(result: DemoResult, platform: Platform, sim) -> None:
    """Ask the published survey catalog what a user would: how big, and the Cepheids' periods."""
    from .catalog.api import Catalog
    from .catalog.lightcurve import find_period
    from .errors import CloudphotError

    try:
        cat = Catalog(platform)
        versions = cat.versions()
    except CloudphotError:
        return
    if not versions:
        return
    result.catalog_version = versions[-1]
    survey = platform.settings.survey
    result.catalog_objects = int(cat.query(f"SELECT count(*) AS n FROM {survey}.phot_mod")["n"][0])
    result.catalog_measurements = int(
        cat.query(f"SELECT count(*) AS n FROM {survey}.phot_meas")["n"][0]
    )
    for row in sim.cepheids:
        entry: dict[str, Any] = {
            "star_id": int(row["star_id"]),
            "true_period_d": float(row["period_d"]),
        }
        try:
            objid = cat.nearest_objid(float(row["ra"]), float(row["dec"]), radius_arcsec=0.2)
            found = find_period(cat.lightcurve(objid))
            entry.update(
                objid=objid,
                period_d=float(found.period_d),
                error_frac=abs(found.period_d - entry["true_period_d"]) / entry["true_period_d"],
            )
        except CloudphotError as exc:
            entry["error"] = str(exc)
        result.periods.append(entry)
    try:
        ceph = [p["objid"] for p in result.periods if "objid" in p]
        result.visits = _visits_against_truth(cat, survey, sim, ceph)
    except CloudphotError as exc:
        result.visits = {"error": str(exc)}


def _visits_against_truth(cat, survey: str, sim, cepheid_objids: list[int]) -> dict:
    """phot_visit's size, the injected motions phot_pm recovers (S/N > 20, each axis within
    2 sigma; a true star's object: the brightest within 0.1"), the Cepheids' ranks in
    var_iqr_norm."""
    import numpy as np

    out: dict[str, Any] = {
        "rows": int(cat.query(f"SELECT count(*) AS n FROM {survey}.phot_visit")["n"][0])
    }
    pm = cat.query(
        f"SELECT p.ra, p.dec, p.pm_ra_cosdec AS x, p.pm_ra_cosdec_err AS ex, p.pm_dec AS y, "
        f"p.pm_dec_err AS ey, m.f814w_snr AS snr FROM {survey}.phot_pm p "
        f"JOIN {survey}.phot_mod m USING (objid)"
    )
    truth = sim.truth
    movers = truth[truth["component"] == "pm"] if "pm_dec" in truth.colnames else truth[:0]
    good = total = 0
    if len(pm) and len(movers):
        cosd = np.cos(np.radians(float(np.mean(truth["dec"]))))
        ra, dec = np.asarray(pm["ra"], float), np.asarray(pm["dec"], float)
        snr = np.nan_to_num(np.asarray(pm["snr"], float))
        for row in movers:
            sep = np.hypot((ra - row["ra"]) * cosd, dec - row["dec"]) * 3600
            near = np.flatnonzero(sep < 0.1)
            if not len(near):
                continue
            k = near[np.argmax(snr[near])]
            if snr[k] <= 20:
                continue
            total += 1
            good += bool(
                abs(pm["x"][k] - row["pm_ra_cosdec"]) < 2 * pm["ex"][k]
                and abs(pm["y"][k] - row["pm_dec"]) < 2 * pm["ey"][k]
            )
    out.update(movers=len(movers), movers_measured=total, movers_within_2sigma=good)
    # the robust index, among all objects and with objects within 0.15" of a moving star
    # left out: the engine detects on a stack, where a mover's smeared light can become
    # pieces whose shares of the flux change as the star moves; the catalog sums the
    # pieces it recognises (catalog.visits), the rest may still look variable (README)
    ranked = cat.query(
        f"SELECT objid, min(m.ra) AS ra, min(m.dec) AS dec FROM {survey}.phot_var "
        f"v JOIN {survey}.phot_mod m USING (objid) GROUP BY objid "
        f"ORDER BY max(var_iqr_norm) DESC NULLS LAST"
    )
    keep = np.ones(len(ranked), bool)
    if len(movers):
        cosd = np.cos(np.radians(float(np.mean(truth["dec"]))))
        for row in movers:
            sep = np.hypot(
                (np.asarray(ranked["ra"], float) - row["ra"]) * cosd,
                np.asarray(ranked["dec"], float) - row["dec"],
            )
            keep &= sep * 3600 > 0.15
    out["near_movers"] = int((~keep).sum())
    every = {int(o): i + 1 for i, o in enumerate(np.asarray(ranked["objid"]))}
    out["cepheid_ranks_all"] = sorted(every.get(o, 0) for o in cepheid_objids)
    order = {int(o): i + 1 for i, o in enumerate(np.asarray(ranked["objid"])[keep])}
    out["cepheid_ranks"] = sorted(order.get(o, 0) for o in cepheid_objids)
    return out
