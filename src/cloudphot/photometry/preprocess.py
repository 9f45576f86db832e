"""Per-exposure preprocessing: DQ masks, cosmic rays and sky, saved as one FITS product.

This is the step the state machine fans out (one Lambda per exposure); the field
reduction reuses its products when given them, and computes them otherwise.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from cloudphot.errors import InvalidExposure

from .cosmics import flag_cosmics
from .exposure import Exposure, load_exposure
from .masking import dq_masks
from .options import PhotometryOptions
from .sky import estimate_sky

__all__ = [
    "MASK_BAD",
    "MASK_COSMIC",
    "MASK_SATURATED",
    "ChipPrep",
    "PreprocessResult",
    "default_fwhm",
    "preprocess_exposure",
    "read_preprocess",
]

MASK_BAD = 1
"""Mask bit: pixel flagged bad by DQ (or not finite)."""
MASK_SATURATED = 2
"""Mask bit: saturated (DQ 256, or 2048 on the CCDs)."""
MASK_COSMIC = 4
"""Mask bit: cosmic ray found by astroscrappy."""


@dataclass
class ChipPrep:
    """Preprocessing products of one chip.

    ``mask`` is a uint8 bitmask (:data:`MASK_BAD`, :data:`MASK_SATURATED`,
    :data:`MASK_COSMIC`); ``sky`` and ``sky_rms`` are in electrons, shape of the chip.
    """

    extver: int
    mask: NDArray[np.uint8]
    sky: NDArray[np.float32]
    sky_rms: NDArray[np.float32]

    @property
    def rejected(self) -> NDArray[np.bool_]:
        """Pixels to leave out of fits (any mask bit)."""
        return self.mask != 0


@dataclass
class PreprocessResult:
    """Per-exposure preprocessing result (``path`` is the FITS product when saved)."""

    exposure: str
    chips: list[ChipPrep] = field(default_factory=list)
    path: Path | None = None
    stats: dict[str, float] = field(default_factory=dict)


def default_fwhm(exp: Exposure) -> float:
    """PSF FWHM (pixels) from ``cloudphot.psf`` when available, else a typical value."""
    try:
        from cloudphot.psf import psf_for

        return float(psf_for(exp.instrument, exp.detector, exp.filter).fwhm_pix)
    except Exception:
        return 1.2 if exp.detector == "IR" else 2.0


def preprocess_exposure(
    path: str | Path | Exposure,
    *,
    options: PhotometryOptions | None = None,
    fwhm_pix: float | None = None,
    output: str | Path | None = None,
) -> PreprocessResult:
    """Masks (DQ bad, saturated, cosmic rays) and sky of every chip of an exposure.

    Parameters
    ----------
    path : str, Path or Exposure
        The flc/flt file (or an already loaded exposure).
    options : PhotometryOptions, optional
        Tunables (cosmic-ray limits, sky mesh).
    fwhm_pix : float, optional
        PSF FWHM (pixels); from the PSF library by default.
    output : str or Path, optional
        Write the product here (atomically: temporary file, then rename). Its
        extensions are MASK, SKY and SKYRMS for each EXTVER.

    Raises
    ------
    InvalidExposure
        The exposure is unusable (see :func:`load_exposure`), or a chip has no
        good pixels.
    """
    opt = options or PhotometryOptions()
    exp = path if isinstance(path, Exposure) else load_exposure(path)
    fwhm = fwhm_pix or default_fwhm(exp)
    res = PreprocessResult(exposure=exp.path.name)
    for chip in exp.chips:
        bad, sat = dq_masks(chip.dq, chip.sci, detector=exp.detector)
        if bad.mean() > 0.9:
            raise InvalidExposure(
                exp.path.name, f"chip {chip.extver}: {bad.mean():.0%} of pixels are bad in DQ"
            )
        sky0, rms0 = estimate_sky(
            chip.sci, bad, box_pix=opt.sky_box_pix, filter_size=opt.sky_filter_size, fwhm_pix=fwhm
        )
        readnoise = float(
            np.sqrt(max(float(np.median(rms0)) ** 2 - max(float(np.median(sky0)), 0.0), 1.0))
        )
        cr = flag_cosmics(
            chip.sci,
            bad,
            sky=sky0,
            sky_rms=rms0,
            readnoise=readnoise,
            fwhm_pix=fwhm,
            sigclip=opt.cosmic_sigclip,
            objlim=opt.cosmic_objlim,
            niter=opt.cosmic_niter,
        )
        sky, rms = estimate_sky(
            chip.sci,
            bad | cr,
            box_pix=opt.sky_box_pix,
            filter_size=opt.sky_filter_size,
            fwhm_pix=fwhm,
        )
        mask = (
            np.where(bad & ~sat, MASK_BAD, 0)
            | np.where(sat, MASK_SATURATED, 0)
            | np.where(cr, MASK_COSMIC, 0)
        ).astype(np.uint8)
        res.chips.append(ChipPrep(chip.extver, mask, sky, rms))
        res.stats[f"chip{chip.extver}_cosmic_frac"] = float(cr.mean())
        res.stats[f"chip{chip.extver}_bad_frac"] = float(bad.mean())
        res.stats[f"chip{chip.extver}_sky_e"] = float(np.median(sky))
        res.stats[f"chip{chip.extver}_sky_rms_e"] = float(np.median(rms))
    if output is not None:
        res.path = _write(res, Path(output), fwhm)
    return res


def _write(res: PreprocessResult, out: Path, fwhm: float) -> Path:
    h0 = fits.Header()
    h0["EXPOSURE"] = (res.exposure, "input exposure")
    h0["PSFFWHM"] = (fwhm, "PSF FWHM used, pixels")
    h0["MASKBITS"] = ("1=DQ bad 2=saturated 4=cosmic", "MASK extension bits")
    hdus = [fits.PrimaryHDU(header=h0)]
    for c in res.chips:
        for name, arr, unit in (
            ("MASK", c.mask, ""),
            ("SKY", c.sky, "ELECTRONS"),
            ("SKYRMS", c.sky_rms, "ELECTRONS"),
        ):
            h = fits.Header({"EXTNAME": name, "EXTVER": c.extver})
            if unit:
                h["BUNIT"] = unit
            hdus.append(fits.CompImageHDU(arr, h) if name == "MASK" else fits.ImageHDU(arr, h))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    os.close(fd)
    try:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def read_preprocess(path: str | Path) -> PreprocessResult:
    """Read a product written by :func:`preprocess_exposure`."""
    path = Path(path)
    with fits.open(path) as hdul:
        res = PreprocessResult(exposure=str(hdul[0].header.get("EXPOSURE", "")), path=path)
        evs = sorted(
            {h.header.get("EXTVER", 1) for h in hdul[1:] if h.header.get("EXTNAME") == "MASK"}
        )
        for ev in evs:
            res.chips.append(
                ChipPrep(
                    int(ev),
                    np.asarray(hdul["MASK", ev].data, np.uint8),
                    np.asarray(hdul["SKY", ev].data, np.float32),
                    np.asarray(hdul["SKYRMS", ev].data, np.float32),
                )
            )
    return res
