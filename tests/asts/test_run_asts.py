"""run_asts end to end in the local runtime: field.reduced -> plan -> a Distributed Map
of ECS chunk tasks over the chunk manifest -> the AST table and completeness; a Spot
reclaim of a chunk ends with the same table, and a finished chunk never reruns."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

pytestmark = pytest.mark.slow

ASTS = {"n_fakes": 90, "chunk_size": 30}


def _run(home: Path, sim, interruptions=None):
    from cloudphot.events.registry import Registry
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.settings import Settings

    settings = Settings.from_env(home=home, backend="local", env={})
    rt = LocalRuntime(
        settings,
        project_root=Path(__file__).resolve().parents[2],
        sleep=lambda s: None,
        interruptions=interruptions,
    )
    reg = rt.register()
    tasks = [
        dataclasses.replace(t, options={**t.options, "asts": ASTS}) if t.name == "run_asts" else t
        for t in reg
    ]
    Registry(tasks).save(rt.tables)
    rt._registry = Registry(tasks)
    man = home.parent / f"{home.name}-manifest" / f"{sim.field_id}.json"
    man.parent.mkdir(parents=True)
    names = [p.name.split("_")[0] for p in sim.exposures]
    man.write_text(json.dumps({"field_id": sim.field_id, "exposures": names}))
    rt.upload(sim.exposures)
    rt.upload([man], prefix="manifests/")
    rt.run()
    return rt


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from cloudphot.simulate.field import simulate_field

    return simulate_field(tmp_path_factory.mktemp("sim"), preset="tiny", seed=3)


@pytest.fixture(scope="module")
def clean(sim, tmp_path_factory):
    rt = _run(tmp_path_factory.mktemp("clean") / "ws", sim)
    yield rt
    rt.close()


def _products(rt, field_id):
    return rt.settings.buckets_dir / rt.settings.bucket("products") / "fields" / field_id


def test_field_reduced_runs_the_asts_through_a_distributed_map(clean, sim):
    jobs = {j.task: j for j in clean.store.jobs()}
    state = jobs["run_asts"].state
    assert str(getattr(state, "value", state)) == "SUCCEEDED"
    root = _products(clean, sim.field_id)
    (base,) = list((root / "asts").iterdir())
    chunks = json.loads((base / "chunks.json").read_text())
    assert [c["chunk"] for c in chunks] == [0, 1, 2]
    assert sorted(p.name for p in (base / "chunks").iterdir()) == [
        f"chunk-0000{i}.parquet" for i in range(3)
    ]
    # ResultWriter wrote where AWS would: <prefix>/<map run id>/manifest.json + results
    (run,) = list((base / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["ResultFiles"]["SUCCEEDED"]) == 1
    ast = Table.read(root / "ast.parquet")
    assert sorted(ast["fake_id"]) == list(range(1, 91))
    comp = Table.read(root / "completeness.parquet")
    assert {"F475W", "F814W"} == set(np.asarray(comp["filter"]).astype(str))
    done = [e for e in clean.store.events() if e.type == "field.asts_done"]
    assert len(done) == 1 and done[0].payload["n_fakes"] == 90
    assert done[0].payload["chunks_missing"] == []


def test_a_finished_chunk_is_never_rerun(clean, sim):
    from cloudphot.asts.steps import ast_chunk_job

    root = _products(clean, sim.field_id)
    (base,) = list((root / "asts").iterdir())
    request = json.loads((base / "request.json").read_text())
    before = (base / "chunks" / "chunk-00001.parquet").stat().st_mtime_ns
    out = ast_chunk_job({**request, "chunk": 1}, store=clean.objects, settings=clean.settings)
    assert out["reused"] is True
    assert (base / "chunks" / "chunk-00001.parquet").stat().st_mtime_ns == before


def test_a_spot_reclaim_of_a_chunk_ends_with_the_same_ast_table(clean, sim, tmp_path):
    starts = []

    def reclaim_first_chunk(task_arn: str):
        starts.append(task_arn)
        return 1.5 if len(starts) == 2 else None  # the photometry task, then chunk 0

    rt = _run(tmp_path / "ws", sim, interruptions=reclaim_first_chunk)
    try:
        assert rt.ecs.stats["interrupted"] >= 1
        # every chunk was computed to the end exactly once: the reclaimed attempt left
        # nothing, its retry did the work, no finished chunk ran again
        computed: dict[int, int] = {}
        for log in (rt.settings.home / "logs").rglob("*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("CLOUDPHOT_RESULT "):
                    doc = json.loads(line.split(" ", 1)[1])
                    if "chunk" in doc and not doc["reused"]:
                        computed[doc["chunk"]] = computed.get(doc["chunk"], 0) + 1
        assert computed == {0: 1, 1: 1, 2: 1}
        got = Table.read(_products(rt, sim.field_id) / "ast.parquet")
        want = Table.read(_products(clean, sim.field_id) / "ast.parquet")
        got.sort("fake_id")
        want.sort("fake_id")
        for c in want.colnames:
            a, b = np.asarray(got[c]), np.asarray(want[c])
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), c
    finally:
        rt.close()


def test_hostile_ast_options_and_requests_are_refused_by_name(clean, sim):
    from cloudphot.asts.steps import ast_chunk_job, ast_options
    from cloudphot.errors import DataError, InvalidEvent

    with pytest.raises(InvalidEvent, match=r"options.asts: unknown option\(s\) \['nfakes'\]"):
        ast_options({"asts": {"nfakes": 3}})
    with pytest.raises(InvalidEvent, match="options.asts.n_fakes: expected int"):
        ast_options({"asts": {"n_fakes": "3"}})
    with pytest.raises(InvalidEvent, match="chunk_size=0"):
        ast_options({"asts": {"chunk_size": 0}})
    with pytest.raises(DataError, match="request.field_id"):
        ast_chunk_job({"field_id": "../x"}, store=clean.objects, settings=clean.settings)
    root = _products(clean, sim.field_id)
    (base,) = list((root / "asts").iterdir())
    request = json.loads((base / "request.json").read_text())
    with pytest.raises(DataError, match="request.chunk: 7 is beyond the 3 chunks"):
        ast_chunk_job({**request, "chunk": 7}, store=clean.objects, settings=clean.settings)


def test_hlsp_files_and_diagnostic_plots_are_written_and_fitsverify_clean(clean, sim):
    import shutil
    import subprocess

    import fitsio

    root = _products(clean, sim.field_id)
    names = sorted(p.name for p in (root / "hlsp").iterdir())
    stem = f"hlsp_phat-v2_hst_acs-wfc_{sim.field_id}_f475w-f814w_v1"
    assert names == [f"{stem}_{k}.fits" for k in ("ast", "gst", "st")]
    cat = Table.read(root / "catalog.parquet")
    for kind in ("st", "gst", "ast"):
        path = root / "hlsp" / f"{stem}_{kind}.fits"
        with fitsio.FITS(str(path)) as f:
            head = f[0].read_header()
            assert head["TELESCOP"] == "HST" and head["HLSPSET"] == kind
            assert f[1].get_extname() == kind.upper()
            n = f[1].get_nrows()
            units = f[1].read_header()
        if kind == "gst":
            want = np.asarray(cat["f475w_gst"], bool) | np.asarray(cat["f814w_gst"], bool)
            assert n == int(want.sum()) > 0
            cols = {units[f"TTYPE{i}"].strip(): i for i in range(1, units["TFIELDS"] + 1)}
            assert units[f"TUNIT{cols['RA']}"].strip() == "deg"
            assert units[f"TUNIT{cols['F814W_RATE']}"].strip() == "ct/s"
        if kind == "ast":
            assert n == ASTS["n_fakes"]
        if shutil.which("fitsverify"):
            r = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
            assert r.returncode == 0 and "verification OK" in r.stdout, r.stdout
    pngs = sorted(p.name for p in (root / "plots").iterdir())
    assert pngs == ["cmd.png", "completeness.png", "density.png", "errors.png"]
    for p in pngs:
        assert (root / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mosaics_put_the_catalogs_stars_where_the_catalog_says(clean, sim):
    from astropy.io import fits
    from astropy.wcs import WCS

    root = _products(clean, sim.field_id)
    names = sorted(p.name for p in (root / "mosaics").iterdir())
    assert names == ["colour.png", "mosaic_f475w.fits", "mosaic_f814w.fits"]
    cat = Table.read(root / "catalog.parquet")
    for f in ("f475w", "f814w"):
        with fits.open(root / "mosaics" / f"mosaic_{f}.fits") as h:
            sci, wht, wcs = h["SCI"].data, h["WHT"].data, WCS(h["SCI"].header)
        assert np.nanmax(wht) > 0 and np.isfinite(sci[wht > 0]).all()
        snr = np.asarray(cat[f"{f}_snr"], float)
        bright = np.flatnonzero((snr > 50) & (snr < 500) & np.asarray(cat[f"{f}_gst"], bool))[:15]
        assert len(bright) >= 5
        offsets = []
        for i in bright:
            x, y = wcs.world_to_pixel_values(float(cat["ra"][i]), float(cat["dec"][i]))
            ix, iy = round(float(x)), round(float(y))
            box = sci[iy - 3 : iy + 4, ix - 3 : ix + 4]
            if box.shape != (7, 7) or not np.isfinite(box).all():
                continue
            box = np.clip(box - np.median(sci[np.isfinite(sci)]), 0, None)
            yy, xx = np.mgrid[-3:4, -3:4]
            cx, cy = (box * xx).sum() / box.sum() + ix, (box * yy).sum() / box.sum() + iy
            offsets.append(np.hypot(cx - float(x), cy - float(y)))
        # centroids on a crowded mosaic: within a fifth of a pixel for the median star
        assert len(offsets) >= 5 and np.median(offsets) < 0.2, offsets
    assert (root / "mosaics" / "colour.png").read_bytes()[:4] == b"\x89PNG"


def test_the_cost_ledger_bills_the_distributed_maps_children(clean, sim):
    """The chunk tasks (and reduce_field's preprocessing Lambdas) run in Map children:
    they are billed to the job that started them (they were not counted before)."""
    from cloudphot.monitor.cost import DEFAULT_PRICES, workspace_ledger

    ledger = workspace_ledger(clean, DEFAULT_PRICES)
    by_task = {j.task: j for j in ledger.jobs}
    asts = by_task["run_asts"].usage
    assert asts.fargate_tasks == 3 + 1  # the chunks (children) and the products task
    # the chunks on Spot, the products task on demand; ECS bills a minute at least
    assert asts.fargate_spot_vcpu_hours >= 3 * 60 / 3600
    assert asts.fargate_vcpu_hours >= 60 / 3600
    reduce = by_task["reduce_field"].usage
    assert reduce.lambda_requests >= len(sim.exposures) + 2  # preprocess x N, plan, summary
