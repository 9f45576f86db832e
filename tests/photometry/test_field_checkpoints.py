"""A reduction interrupted after a stage resumes there: nothing finished is redone, and
the catalog is the one an uninterrupted run gives."""

from __future__ import annotations

import numpy as np
import pytest

from cloudphot.checkpoints import Checkpoints
from cloudphot.errors import SpotInterrupted
from cloudphot.photometry import field as engine
from cloudphot.photometry import reduce_field
from cloudphot.runtime.platform import LocalPlatform

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from cloudphot.simulate.field import simulate_field

    return simulate_field(tmp_path_factory.mktemp("tiny"), preset="tiny", seed=5)


@pytest.fixture(scope="module")
def clean(tiny):
    return reduce_field(tiny.exposures, field_id="f")


class InterruptAfter(Checkpoints):
    """Checkpoints whose save of one stage is followed by a Spot reclaim."""

    def __init__(self, *args, stage: str):
        super().__init__(*args)
        self.stage = stage

    def save_arrays(self, stage, arrays):
        super().save_arrays(stage, arrays)
        if stage == self.stage:
            raise SpotInterrupted(f"reclaimed right after {stage}")


def _same(a, b):
    assert a.colnames == b.colnames and len(a) == len(b)
    for name in a.colnames:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name


def _counting(monkeypatch, name):
    calls = []
    real = getattr(engine, name)

    def spy(*a, **k):
        # a position fit (the per-exposure position pass) is told apart from photometry
        calls.append(f"{name}:positions" if k.get("fit_positions") else name)
        return real(*a, **k)

    monkeypatch.setattr(engine, name, spy)
    return calls


@pytest.mark.parametrize("stop_after", ["stars-recenter1", "photometry-chip3"])
def test_resume_redoes_no_finished_stage_and_gives_the_same_catalog(
    tiny, clean, local_settings, monkeypatch, stop_after
):
    store = LocalPlatform(local_settings).objects
    key = lambda stage: f"checkpoints/f/{stage}"
    with pytest.raises(SpotInterrupted):
        reduce_field(
            tiny.exposures,
            field_id="f",
            checkpoint=InterruptAfter(store, "products", key, stage=stop_after),
        )

    aligned = _counting(monkeypatch, "_align")
    detected = _counting(monkeypatch, "detect_stars")
    fits = _counting(monkeypatch, "fit_chip")
    resumed = Checkpoints(store, "products", key)
    again = reduce_field(tiny.exposures, field_id="f", checkpoint=resumed)

    _same(again.catalog, clean.catalog)
    _same(again.measurements, clean.measurements)
    assert aligned == [], "the alignment was redone"
    assert "align.npz" in resumed.resumed
    n_chips = len(clean.alignment)
    if stop_after == "photometry-chip3":
        # detection and both recentering passes were done: only chips 4.. are fitted again,
        # each twice (its bright stars' wings, then the photometry), then its stars'
        # positions on that exposure (1-3 steps on the photometry's dewinged chip: no
        # wings fit of their own)
        assert detected == []
        assert {f"photometry-chip{n}.npz" for n in range(4)} <= set(resumed.resumed)
        steps = fits.count("fit_chip:positions")
        assert n_chips - 4 <= steps <= engine.EXPOSURE_POSITION_STEPS * (n_chips - 4)
        assert fits.count("fit_chip") == 2 * (n_chips - 4)
    else:
        assert "stars-recenter1.npz" in resumed.resumed
        assert detected.count("detect_stars") == 1  # the residual pass only, not the first


def test_a_checkpoint_of_other_chips_is_not_used(tiny, local_settings):
    """The alignment is keyed by its chips: a different exposure list aligns afresh."""
    store = LocalPlatform(local_settings).objects
    ck = Checkpoints(store, "products", lambda s: f"c/{s}")
    ck.save_arrays(
        "align",
        {
            "chip": ["other[1]"],
            "dx": [9.0],
            "dy": [9.0],
            "rot_deg": [0.0],
            "nmatch": [5],
            "rms_pix": [0.1],
        },
    )
    out = reduce_field(tiny.exposures[:4], field_id="f", checkpoint=ck)
    assert abs(float(np.max(np.abs(out.alignment["dx"])))) < 5
