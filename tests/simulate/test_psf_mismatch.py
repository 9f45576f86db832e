"""The simulator's true PSF (mismatched mode) and its CTE trails."""

from __future__ import annotations

import numpy as np
import pytest

from cloudphot.psf import psf_for
from cloudphot.simulate.detector import add_cte_trails
from cloudphot.simulate.field import simulate_field
from cloudphot.simulate.psfvar import (
    PSFVariation,
    exposure_psf_terms,
    psf_basis,
    psf_coefficients,
)

STILL = {"breathing": 0.0, "jitter": 0.0, "jitter_angle": 0.0}


def _stamp(basis, u, v, terms=STILL, fx=0.0, fy=0.0, r=20):
    w = psf_coefficients(np.array([u]), np.array([v]), terms)
    return basis.stamps(np.array([fx]), np.array([fy]), w, r)[0]


@pytest.fixture(scope="module")
def basis():
    return psf_basis("ACS", "WFC", "F814W", "mismatched", PSFVariation())


def test_matched_basis_is_the_library_psf():
    lib = psf_for("ACS", "WFC", "F814W")
    b = psf_basis("ACS", "WFC", "F814W", "matched", PSFVariation())
    for fx, fy in [(0.0, 0.0), (0.31, -0.22)]:
        s = b.stamps(np.array([fx]), np.array([fy]), np.ones((1, 1)), 10)[0]
        np.testing.assert_allclose(s, lib.stamp(fx, fy, 10), atol=2e-4 * lib.stamp(0, 0, 1).max())


def test_true_psf_keeps_flux_and_centroid_but_not_the_library_shape(basis):
    lib = psf_for("ACS", "WFC", "F814W").stamp(0.0, 0.0, 20)
    yy, xx = np.mgrid[-20:21, -20:21]
    peaks = []
    for u, v in [(0, 0), (1, 1), (-1, 1), (1, -0.5), (-0.7, -1)]:
        s = _stamp(basis, u, v)
        assert s.min() >= 0
        assert s.sum() == pytest.approx(lib.sum(), abs=0.01)  # a halo leaves the stamp
        core = np.hypot(xx, yy) < 4
        for m in (xx, yy):  # the star stays where the truth table puts it
            c = (s * m * core).sum() / (s * core).sum()
            c_lib = (lib * m * core).sum() / (lib * core).sum()
            assert abs(c - c_lib) < 0.02
        peaks.append(s.max() / lib.max())
    # varies across the chip by more than 10 % in peak, never the library's
    assert max(peaks) - min(peaks) > 0.1
    assert all(abs(p - 1) > 0.01 for p in peaks)


def test_true_psf_varies_between_exposures(basis):
    rng = np.random.default_rng(4)
    peaks = [
        _stamp(basis, 0.2, -0.3, exposure_psf_terms(rng, PSFVariation())).max() for _ in range(12)
    ]
    assert np.ptp(peaks) / np.mean(peaks) > 0.05
    terms = exposure_psf_terms(np.random.default_rng(0), PSFVariation())
    assert set(terms) == {"breathing", "jitter", "jitter_angle"}


def test_cte_trails_follow_the_readout_and_hit_faint_far_sources_hardest():
    img = np.full((400, 20), 30.0)
    img[50, 2] += 2000.0  # bright, near the amplifier (row 0)
    img[350, 5] += 2000.0  # bright, far
    img[350, 8] += 100.0  # faint, far
    before = img.copy()
    add_cte_trails(img, readout_at_top=False, strength=0.2, full_chip_rows=400)
    assert img.sum() == pytest.approx(before.sum(), rel=1e-2)  # charge moves, barely leaves

    def loss(col, row):
        return 1 - (img[row, col] - 30) / (before[row, col] - 30)

    assert loss(5, 350) > loss(2, 50) > 0  # more transfers, more loss
    assert loss(8, 350) > loss(5, 350)  # fainter, larger fraction lost
    assert img[351:356, 5].mean() > 30.5 and img[345:350, 5].mean() < 30.1  # trail behind
    top = before.copy()
    add_cte_trails(top, readout_at_top=True, strength=0.2, full_chip_rows=400)
    assert top[345:350, 5].mean() > 30.5  # amplifier at the top: trail below
    with pytest.raises(ValueError):
        add_cte_trails(img, readout_at_top=False, strength=-1)


def test_psf_mode_switch(tmp_path):
    with pytest.raises(ValueError, match="psf must be one of"):
        simulate_field(tmp_path / "x", preset="tiny", psf="exact")
