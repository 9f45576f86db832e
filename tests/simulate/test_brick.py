"""A brick: distinct, overlapping pointings over one sky, and its plan before it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits

from cloudphot.simulate.field import brick_pointings, simulate_brick, simulate_field
from cloudphot.simulate.presets import Preset, get_preset


def _small_brick() -> Preset:
    """The brick preset's geometry on a 2x3 grid, one visit: 6 fields of 2 exposures."""
    return replace(get_preset("brick"), grid=(2, 3), n_visits=1, n_moving=2)


@pytest.fixture(scope="module")
def brick(tmp_path_factory):
    out = tmp_path_factory.mktemp("brick")
    return out, simulate_brick(out, preset=_small_brick(), seed=4)


def test_the_brick_preset_is_a_3x6_array_of_fields_overlapping_their_neighbours():
    p = get_preset("brick")
    assert p.n_fields == 18 and p.exposures_per_field == 8 and p.pixels_per_exposure == 256**2
    pts = brick_pointings(p)
    sky = SkyCoord([r for r, _ in pts], [d for _, d in pts], unit="deg").reshape(3, 6)
    size = 256 * 0.05  # arcsec: the footprint of a 256x256 ACS/WFC chip
    along_row = sky[:, 1:].separation(sky[:, :-1]).arcsec
    along_col = sky[1:, :].separation(sky[:-1, :]).arcsec
    # neighbours step by the footprint less the 10 % overlap, in both directions
    np.testing.assert_allclose(along_row, 0.9 * size, rtol=1e-3)
    np.testing.assert_allclose(along_col, 0.9 * size, rtol=1e-3)
    assert len(set(pts)) == 18


def test_brick_fields_are_distinct_targets_sharing_the_stars_of_their_overlaps(brick):
    out, fields = brick
    assert [f.field_id for f in fields] == [f"sim-brick-s4-f{k:02d}" for k in range(1, 7)]
    roots = [p.name for f in fields for p in f.exposures]
    assert len(roots) == 12 and len(set(roots)) == 12  # rootnames unique over the brick
    pointings = brick_pointings(_small_brick())
    for f, (ra, dec) in zip(fields, pointings):
        for path in f.exposures:
            h = fits.getheader(path, 0)
            assert h["TARGNAME"].lower() == f.field_id
            assert h["RA_TARG"] == pytest.approx(ra) and h["DEC_TARG"] == pytest.approx(dec)
        manifest = json.loads((out / "manifests" / f"{f.field_id}.json").read_text())
        assert sorted(manifest["exposures"]) == sorted(p.name.split("_")[0] for p in f.exposures)
        assert (out / f.field_id / "truth.fits").is_file()
        # a field's truth is the stars that fall on it
        assert set(f.truth["star_id"]) == set(f.exposures_truth["star_id"])
    ids = [set(f.truth["star_id"]) for f in fields]
    # grid (2, 3): field k is row k // 3, column k % 3
    assert len(ids[0] & ids[1]) > 10 and len(ids[0] & ids[3]) > 10  # side neighbours
    assert not ids[0] & ids[2]  # two columns apart: no overlap
    shared = sorted(ids[0] & ids[1])
    a = fields[0].truth[np.isin(fields[0].truth["star_id"], shared)]
    b = fields[1].truth[np.isin(fields[1].truth["star_id"], shared)]
    a.sort("star_id")
    b.sort("star_id")
    for col in ("ra", "dec", "f814w_vega", "period_d"):
        np.testing.assert_array_equal(a[col], b[col])  # the same star in both fields
    # each field has its own Cepheid (the preset's count is per field)
    assert sum(int(f.truth["is_variable"].sum()) for f in fields) >= 6


def test_a_field_at_another_pointing_is_another_target(tmp_path):
    here = simulate_field(tmp_path / "a", preset="tiny", seed=1, filters=["F814W"])
    there = simulate_field(
        tmp_path / "b", preset="tiny", seed=1, filters=["F814W"], pointing=(10.68, 41.27)
    )
    assert there.field_id != here.field_id and "p10-6800" in there.field_id
    h = fits.getheader(there.exposures[0], 0)
    assert (h["RA_TARG"], h["DEC_TARG"]) == pytest.approx((10.68, 41.27))
    sky = SkyCoord(there.truth["ra"], there.truth["dec"], unit="deg")
    assert sky.separation(SkyCoord(10.68, 41.27, unit="deg")).arcsec.max() < 60


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pointing": (10.0,)}, "pointing must be"),
        ({"pointing": "north"}, "pointing must be"),
        ({"pointing": (10.0, float("nan"))}, "pointing must be"),
        ({"pointing": (10.0, 95.0)}, "pointing must be"),
        ({"preset": "brick"}, "simulate_brick"),
    ],
)
def test_bad_pointings_and_a_brick_through_simulate_field(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_field(tmp_path, **{"preset": "tiny", **kwargs})


@pytest.mark.parametrize(
    "change, match",
    [({"grid": (0, 6)}, "grid"), ({"grid": (10, 10)}, "grid"), ({"overlap": 0.6}, "overlap")],
)
def test_a_preset_refuses_an_impossible_grid(change, match):
    with pytest.raises(ValueError, match=match):
        replace(get_preset("brick"), **change)


def _plan(*args):
    return subprocess.run(
        [sys.executable, "-m", "cloudphot", "plan", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_plan_of_the_brick_preset_before_it_runs():
    r = _plan("--preset", "brick", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["fields"], doc["exposures_per_field"]) == (18, 8)
    assert doc["pixels_per_exposure"] == 256**2 and doc["problems"] == []
    rows = {row["task"]: row for row in doc["rows"]}
    # one Distributed Map child per exposure, one ingest per exposure, 18 reductions
    assert rows["reduce_field"]["children"] == 144 and rows["reduce_field"]["executions"] == 18
    assert rows["ingest_exposure"]["executions"] == 144
    assert doc["max_history_events"] * 100 < 25_000  # far below the history quota
    assert doc["largest_state_bytes"] * 50 < 256 * 1024
    text = _plan("--preset", "brick")
    assert "preset brick: 18 fields x 8 exposures" in text.stdout
    assert "of 25,000 events" in text.stdout
    bad = _plan("--preset", "nosuch")
    assert bad.returncode == 2 and "unknown preset 'nosuch'" in bad.stderr


def test_worker_processes_write_the_same_pixels(tmp_path):
    one = simulate_field(tmp_path / "one", preset="tiny", seed=2, filters=["F814W"])
    two = simulate_field(tmp_path / "two", preset="tiny", seed=2, filters=["F814W"], workers=2)
    assert [p.name for p in one.exposures] == [p.name for p in two.exposures]
    for a, b in zip(one.exposures, two.exposures):
        np.testing.assert_array_equal(fits.getdata(a, "SCI"), fits.getdata(b, "SCI"))
    np.testing.assert_array_equal(one.exposures_truth["x"], two.exposures_truth["x"])


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts(tmp_path, workers):
    with pytest.raises(ValueError, match="workers must be"):
        simulate_field(tmp_path, preset="tiny", workers=workers)


def test_simulate_command_writes_a_brick_folder_per_field(tmp_path, capsys, monkeypatch):
    import argparse

    from cloudphot.simulate import presets
    from cloudphot.simulate.commands import add_commands

    monkeypatch.setitem(presets.PRESETS, "brick", _small_brick())
    parser = argparse.ArgumentParser(prog="cloudphot")
    add_commands(parser.add_subparsers(dest="command"))
    out = tmp_path / "b"
    args = parser.parse_args(
        ["simulate", str(out), "--preset", "brick", "--filters", "F814W", "--no-progress"]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "brick brick: 6 fields (2x3 pointings, 10% overlap), 6 exposures" in text
    assert "seen again by a neighbouring field" in text
    assert len(list((out / "manifests").glob("*.json"))) == 6
    assert len(list(out.glob("sim-brick-s0-f0?/*_flc.fits"))) == 6
