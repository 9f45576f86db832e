"""Small in-memory synthetic HST-like data for the photometry tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.special import erf

PIXSCALE_DEG = 0.05 / 3600.0


@dataclass
class GaussianPSF:
    """Pixel-integrated circular Gaussian PSF (exact integrals via erf)."""

    fwhm_pix: float = 2.2

    @property
    def sigma(self) -> float:
        return self.fwhm_pix / 2.3548

    def _edges(self, c: float, radius: int):
        e = np.arange(-radius, radius + 2) - 0.5 - c
        cdf = 0.5 * (1 + erf(e / (np.sqrt(2) * self.sigma)))
        return np.diff(cdf)

    def stamp(self, dx: float, dy: float, radius: int) -> np.ndarray:
        return np.outer(self._edges(dy, radius), self._edges(dx, radius))


def render(shape, x, y, flux, psf, radius=10) -> np.ndarray:
    """Image (electrons) of point sources (x, y 0-based)."""
    img = np.zeros(shape)
    ny, nx = shape
    for xi, yi, fi in zip(x, y, flux):
        ix, iy = int(np.floor(xi + 0.5)), int(np.floor(yi + 0.5))
        st = fi * psf.stamp(xi - ix, yi - iy, radius)
        x0, y0 = ix - radius, iy - radius
        xs0, ys0 = max(x0, 0), max(y0, 0)
        xs1, ys1 = min(x0 + 2 * radius + 1, nx), min(y0 + 2 * radius + 1, ny)
        if xs1 <= xs0 or ys1 <= ys0:
            continue
        img[ys0:ys1, xs0:xs1] += st[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    return img


def tan_wcs(shape, ra=10.0, dec=41.0, rot_deg=0.0) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    c, s = np.cos(np.radians(rot_deg)), np.sin(np.radians(rot_deg))
    w.wcs.cd = PIXSCALE_DEG * np.array([[-c, s], [s, c]])
    return w


@dataclass
class Truth:
    ra: np.ndarray
    dec: np.ndarray
    flux_rate: np.ndarray  # e-/s


def make_truth(n, shape, rng, wcs, fmin=20.0, fmax=5000.0, margin=6) -> Truth:
    x = rng.uniform(margin, shape[1] - 1 - margin, n)
    y = rng.uniform(margin, shape[0] - 1 - margin, n)
    # power-law luminosity function: many faint, few bright
    u = rng.uniform(size=n)
    rate = fmin * (fmax / fmin) ** (u**2.0)
    ra, dec = wcs.all_pix2world(x, y, 0)
    return Truth(ra, dec, rate)


def write_exposure(
    path: Path,
    truth: Truth,
    *,
    shape=(256, 256),
    exptime=400.0,
    filt="F814W",
    shift=(0.0, 0.0),
    rng=None,
    sky=40.0,
    readnoise=4.0,
    target="TESTFIELD",
    psf=None,
    ncosmics=0,
    nbad=0,
    rootname=None,
    ra=10.0,
    dec=41.0,
    mjd=57000.0,
    drop_dq=False,
    saturate_above=None,
    nchips=1,
    bunit="ELECTRONS",
    detector="WFC",
) -> dict:
    """Write an flc-like file; stars are placed with the WCS shifted by ``shift`` pixels
    (i.e. the header WCS is wrong by -shift). Returns the per-star true x, y, flux_e
    (of chip 1). With ``nchips=2`` the second chip lies above the first (EXTVER 2)."""
    rng = rng or np.random.default_rng(0)
    psf = psf or GaussianPSF()
    rootname = rootname or path.name.split("_")[0]
    h0 = fits.Header()
    h0["ROOTNAME"] = rootname
    h0["INSTRUME"] = "ACS" if detector == "WFC" else "WFC3"
    h0["DETECTOR"] = detector
    h0["FILTER1"] = "CLEAR1L"
    h0["FILTER2"] = filt
    h0["TARGNAME"] = target
    h0["EXPTIME"] = exptime
    h0["EXPSTART"] = mjd
    h0["EXPEND"] = mjd + exptime / 86400
    hdus = [fits.PrimaryHDU(header=h0)]
    out = None
    for ev in range(1, nchips + 1):
        wcs = tan_wcs(shape, ra, dec)
        wcs.wcs.crpix = wcs.wcs.crpix - np.array([0.0, (ev - 1) * (shape[0] + 10)])
        info, chip_hdus = _chip(
            truth,
            wcs,
            shape,
            exptime,
            shift,
            rng,
            sky,
            readnoise,
            psf,
            ncosmics,
            nbad,
            saturate_above,
            ev,
            drop_dq,
            bunit,
        )
        hdus += chip_hdus
        out = out or info
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return out


def _chip(
    truth,
    wcs,
    shape,
    exptime,
    shift,
    rng,
    sky,
    readnoise,
    psf,
    ncosmics,
    nbad,
    saturate_above,
    ev,
    drop_dq,
    bunit,
):
    x, y = wcs.all_world2pix(truth.ra, truth.dec, 0)
    x = x + shift[0]
    y = y + shift[1]
    flux_e = truth.flux_rate * exptime
    img = render(shape, x, y, flux_e, psf) + sky
    img = rng.poisson(np.clip(img, 0, None)).astype(float) + rng.normal(0, readnoise, shape)
    dq = np.zeros(shape, np.int16)
    if nbad:
        yy, xx = rng.integers(0, shape[0], nbad), rng.integers(0, shape[1], nbad)
        dq[yy, xx] |= 4
        img[yy, xx] = 1e5
    if ncosmics:
        cy, cx = rng.integers(2, shape[0] - 3, ncosmics), rng.integers(2, shape[1] - 3, ncosmics)
        for a, b in zip(cy, cx):
            img[a, b] += rng.uniform(500, 3000)
            img[a, b + 1] += rng.uniform(100, 1000)
    if saturate_above is not None:
        s = img > saturate_above
        dq[s] |= 256
        img[s] = saturate_above
    err = np.sqrt(np.clip(img, 0, None) + readnoise**2)
    hs = wcs.to_header()
    hs["EXTNAME"] = "SCI"
    hs["EXTVER"] = ev
    hs["BUNIT"] = bunit
    hs["PHOTFLAM"] = 7.0e-20
    hs["PHOTPLAM"] = 8045.0
    scale = 1.0 / exptime if "/S" in bunit else 1.0
    hdus = [
        fits.ImageHDU((img * scale).astype(np.float32), hs),
        fits.ImageHDU(
            (err * scale).astype(np.float32), fits.Header({"EXTNAME": "ERR", "EXTVER": ev})
        ),
    ]
    if not drop_dq:
        hdus.append(fits.ImageHDU(dq, fits.Header({"EXTNAME": "DQ", "EXTVER": ev})))
    return {"x": x, "y": y, "flux_e": flux_e}, hdus
