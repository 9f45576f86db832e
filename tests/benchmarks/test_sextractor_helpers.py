"""The Source Extractor + PSFEx helpers of benchmarks/sextractor.py on a tiny simulated image."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy.spatial import cKDTree

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up here
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCH))
    return mod


sx = _load("sextractor")
pytestmark = pytest.mark.skipif(
    not sx.have_binaries(),
    reason="source-extractor/psfex not installed (apt-get install source-extractor psfex)",
)


@pytest.fixture(scope="module")
def tiny_exposure(tmp_path_factory):
    from cloudphot.simulate.field import simulate_field

    sim = simulate_field(tmp_path_factory.mktemp("sim"), preset="tiny", seed=3)
    path = next(
        p
        for p in sim.exposures
        if fits.getheader(p, 0).get("FILTER2", "").startswith("F814W")
        or fits.getheader(p, 0).get("FILTER1", "").startswith("F814W")
    )
    rows = sim.exposures_truth[
        np.asarray(sim.exposures_truth["exposure_id"]) == path.name.split("_")[0]
    ]
    return path, rows


def test_psf_photometry_recovers_bright_stars(tiny_exposure, tmp_path):
    from cloudphot.fits import read_exposure
    from cloudphot.photometry.masking import dq_masks

    path, truth = tiny_exposure
    with fits.open(path) as h:
        sci = np.asarray(h["SCI", 1].data, np.float32)
        bad, _ = dq_masks(h["DQ", 1].data, sci)
        exptime = float(h[0].header["EXPTIME"])
        hdr = h["SCI", 1].header
    zp = read_exposure(path).chips[0].zpt_vega + 2.5 * math.log10(exptime)
    res = sx.psf_photometry(sci, zeropoint=zp, bad=bad, header=hdr, workdir=tmp_path, keep=True)

    # the three steps ran and left their files in the work directory
    for name in (
        "pass1.sex",
        "psfex.conf",
        "pass2.sex",
        "gauss_2.0_3x3.conv",
        "prepsf.cat",
        "prepsf.psf",
        "psf.cat",
    ):
        assert (tmp_path / name).is_file(), name
    assert res.n_psf_stars >= 5
    assert 1.5 < res.psf_fwhm < 4.0
    cat = res.catalog
    assert {"x", "y", "mag", "magerr", "flags"} <= set(cat.colnames)
    assert len(cat) > 20

    # bright stars (truth mag < 24) are found within 1 pixel (0-based positions) with sane magnitudes
    bright = np.asarray(truth["mag"]) < 24
    tx, ty = np.asarray(truth["x"])[bright], np.asarray(truth["y"])[bright]
    inside = (tx > 5) & (tx < sci.shape[1] - 6) & (ty > 5) & (ty < sci.shape[0] - 6)
    d, j = cKDTree(np.c_[cat["x"], cat["y"]]).query(np.c_[tx[inside], ty[inside]])
    assert inside.sum() >= 5
    assert np.mean(d < 1.0) >= 0.8
    ok = d < 1.0
    dm = np.asarray(cat["mag"])[j[ok]] - np.asarray(truth["mag"])[bright][inside][ok]
    # MAG_PSF is normalised to PSFEx's 8-pixel aperture: fainter than the total by ~0.16 mag
    assert -0.2 < np.nanmedian(dm) < 0.5


def test_read_catalog_and_missing_binaries(tmp_path, monkeypatch):
    t = fits.BinTableHDU.from_columns(
        [fits.Column(name="MAG_PSF", format="E", array=np.array([20.0, 21.0]), unit="mag")]
    )
    fits.HDUList([fits.PrimaryHDU(), t]).writeto(tmp_path / "c.fits")
    cat = sx.read_catalog(tmp_path / "c.fits")
    assert list(cat["MAG_PSF"]) == [20.0, 21.0]
    monkeypatch.setattr(sx.shutil, "which", lambda name: None)
    assert not sx.have_binaries()
    with pytest.raises(RuntimeError, match="not on PATH"):
        sx.psf_photometry(np.zeros((10, 10)), zeropoint=25.0)
