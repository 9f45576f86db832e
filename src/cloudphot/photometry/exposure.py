"""Reading calibrated HST exposures (flc/flt) into arrays the engine uses.

This is the engine's own minimal reader (SCI/ERR/DQ per chip, WCS, photometric
keywords). Vega zeropoints come from ``cloudphot.fits.read_exposure`` when that
module is available (it owns the PHOTFLAM/PHOTPLAM -> Vega conversion);
otherwise from :func:`vega_zeropoint` here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.wcs import WCS, FITSFixedWarning
from numpy.typing import NDArray

from cloudphot.errors import InvalidExposure

__all__ = ["VEGA_MINUS_AB", "Chip", "Exposure", "load_exposure", "vega_zeropoint"]

# Vega - AB magnitude offsets (mag) at the pivot wavelength, m_Vega = m_AB + offset,
# from the STScI ACS and WFC3 zeropoint tables (Bohlin 2016 / Calamida 2022 era).
# Used only when cloudphot.fits is not available.
VEGA_MINUS_AB: dict[str, float] = {
    "F275W": -1.50,
    "F336W": -1.19,
    "F435W": 0.10,
    "F438W": 0.15,
    "F475W": 0.10,
    "F555W": 0.02,
    "F606W": -0.09,
    "F625W": -0.17,
    "F658N": -0.37,
    "F775W": -0.39,
    "F814W": -0.42,
    "F850LP": -0.54,
    "F110W": -0.76,
    "F125W": -0.90,
    "F140W": -1.08,
    "F160W": -1.25,
}


def vega_zeropoint(photflam: float, photplam: float, filter_name: str) -> float:
    """Vega zeropoint (mag for 1 e-/s) from PHOTFLAM/PHOTPLAM.

    ``ZP_AB = -2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408`` (HST convention),
    then ``ZP_Vega = ZP_AB + (Vega - AB)`` from :data:`VEGA_MINUS_AB` (0 for
    filters not in the table, i.e. AB).

    Parameters
    ----------
    photflam : float
        Inverse sensitivity, erg cm-2 s-1 A-1 per (e-/s).
    photplam : float
        Pivot wavelength, Angstrom.
    filter_name : str
        Filter name, e.g. ``F814W``.
    """
    zp_ab = -2.5 * math.log10(photflam) - 5.0 * math.log10(photplam) - 2.408
    return zp_ab + VEGA_MINUS_AB.get(filter_name.upper(), 0.0)


@dataclass(eq=False)
class Chip:
    """One science chip of an exposure, in electrons.

    Attributes
    ----------
    extver : int
        EXTVER of the SCI/ERR/DQ triplet.
    sci, err : ndarray of float32, shape (ny, nx)
        Image and its 1-sigma error, electrons.
    dq : ndarray of int, shape (ny, nx)
        Data quality.
    wcs : astropy.wcs.WCS
        Header WCS (may be replaced by the aligned WCS).
    zpt_vega : float
        Vega magnitude of 1 e-/s.
    """

    extver: int
    sci: NDArray[np.float32]
    err: NDArray[np.float32]
    dq: NDArray[np.int32]
    wcs: WCS
    zpt_vega: float
    photflam: float = float("nan")
    photplam: float = float("nan")

    @property
    def shape(self) -> tuple[int, int]:
        return self.sci.shape


@dataclass(eq=False)
class Exposure:
    """An exposure's metadata and chips."""

    path: Path
    rootname: str
    instrument: str
    detector: str
    filter: str
    target: str
    exptime: float
    mjd: float
    chips: list[Chip] = field(default_factory=list)

    @property
    def camera(self) -> str:
        """``ACS``, ``UVIS`` or ``IR`` (selects the culling cuts)."""
        if self.detector.upper() == "IR":
            return "IR"
        if self.detector.upper() == "UVIS":
            return "UVIS"
        return "ACS"


def _filter_name(h: fits.Header) -> str:
    if "FILTER" in h:
        return str(h["FILTER"]).strip().upper()
    for key in ("FILTER1", "FILTER2"):
        v = str(h.get(key, "")).strip().upper()
        if v and not v.startswith("CLEAR"):
            return v
    return ""


def _wcs(header: fits.Header, hdul: fits.HDUList) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        # Only the FITS WCS + SIP; lookup-table distortions (D2IM/CPDIS) are not
        # modelled by the engine (their effect on relative alignment is absorbed
        # by the fitted shift for small dithers), and astropy raises on their
        # keywords without the data HDUs, so they are stripped.
        from cloudphot.fits.exposure import without_lookup_distortions

        return WCS(without_lookup_distortions(header), fobj=None, relax=True)


def load_exposure(path: str | Path) -> Exposure:
    """Read a calibrated exposure, checking it is usable for photometry.

    Parameters
    ----------
    path : str or Path
        A ``*_flc.fits`` / ``*_flt.fits`` file with SCI, ERR and DQ extensions.

    Returns
    -------
    Exposure
        Chips in electrons (``ELECTRONS/S`` images are multiplied by EXPTIME).

    Raises
    ------
    InvalidExposure
        Missing extensions, mismatched shapes, non-positive EXPTIME, images that
        are all NaN or all zero, missing WCS.
    """
    path = Path(path)
    name = path.name
    try:
        hdul = fits.open(path, memmap=False)
    except (OSError, ValueError) as exc:
        raise InvalidExposure(name, f"cannot be read as FITS: {exc}") from exc
    with hdul:
        try:
            exp = _read_hdus(hdul, path)
        except InvalidExposure:
            raise
        except (VerifyError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # a header astropy cannot interpret: named, never a crash (ingest refuses
            # these first; this is the net under the photometry that reads pixels)
            raise InvalidExposure(
                name, f"cannot be read for photometry ({type(exc).__name__}: {exc})"
            ) from exc
    _delegate_zeropoints(exp)
    return exp


def _read_hdus(hdul: fits.HDUList, path: Path) -> Exposure:
    name = path.name
    h0 = hdul[0].header
    exptime = float(h0.get("EXPTIME", 0.0) or 0.0)
    if not exptime > 0:
        raise InvalidExposure(name, f"EXPTIME is {exptime} s; need > 0")
    instrument = str(h0.get("INSTRUME", "")).strip().upper()
    detector = str(h0.get("DETECTOR", "")).strip().upper()
    filt = _filter_name(h0)
    if not filt:
        raise InvalidExposure(name, "no FILTER/FILTER1/FILTER2 keyword")
    target = str(h0.get("TARGNAME", "")).strip().upper()
    rootname = str(h0.get("ROOTNAME", name.split("_")[0])).strip().lower()
    start = h0.get("EXPSTART")
    end = h0.get("EXPEND")
    if start is None:
        raise InvalidExposure(name, "no EXPSTART keyword")
    mjd = (float(start) + float(end)) / 2 if end is not None else float(start) + exptime / 172800.0

    extvers = sorted(
        {
            int(hdu.header.get("EXTVER", 1))
            for hdu in hdul[1:]
            if str(hdu.header.get("EXTNAME", "")).upper() == "SCI"
        }
    )
    if not extvers:
        raise InvalidExposure(name, "no SCI extension")
    chips = []
    for ev in extvers:
        for ext in ("ERR", "DQ"):
            if (ext, ev) not in hdul:
                raise InvalidExposure(name, f"missing {ext} extension for chip EXTVER={ev}")
        hs = hdul["SCI", ev].header
        sci = np.asarray(hdul["SCI", ev].data, dtype=np.float32)
        err = np.asarray(hdul["ERR", ev].data, dtype=np.float32)
        dq = np.asarray(hdul["DQ", ev].data)
        if sci.ndim != 2:
            raise InvalidExposure(name, f"SCI,{ev} is not a 2-d image")
        if err.shape != sci.shape or dq.shape != sci.shape:
            raise InvalidExposure(
                name,
                f"chip {ev}: SCI {sci.shape}, ERR {err.shape} and DQ {dq.shape} shapes differ",
            )
        finite = np.isfinite(sci)
        if not finite.any():
            raise InvalidExposure(
                name,
                f"chip {ev}: SCI has no finite pixel ({int(np.isnan(sci).sum())} NaN, "
                f"{int(np.isposinf(sci).sum())} +Inf, {int(np.isneginf(sci).sum())} -Inf)",
            )
        _check_err(err, finite, name, ev)
        if not np.any(sci[finite] != 0):
            raise InvalidExposure(name, f"chip {ev}: SCI is all zero")
        bunit = str(hs.get("BUNIT", h0.get("BUNIT", "ELECTRONS"))).upper()
        if "/S" in bunit:
            sci = sci * np.float32(exptime)
            err = err * np.float32(exptime)
        wcs = _wcs(hs, hdul)
        if not wcs.has_celestial:
            raise InvalidExposure(name, f"chip {ev}: no celestial WCS")
        photflam = float(hs.get("PHOTFLAM", h0.get("PHOTFLAM", 0.0)) or 0.0)
        photplam = float(hs.get("PHOTPLAM", h0.get("PHOTPLAM", 0.0)) or 0.0)
        if not (photflam > 0 and photplam > 0):
            raise InvalidExposure(name, f"chip {ev}: PHOTFLAM/PHOTPLAM missing or not positive")
        chips.append(
            Chip(
                ev,
                sci,
                err,
                dq.astype(np.int32),
                wcs,
                vega_zeropoint(photflam, photplam, filt),
                photflam,
                photplam,
            )
        )
    return Exposure(path, rootname, instrument, detector, filt, target, exptime, mjd, chips)


def _check_err(err: np.ndarray, finite_sci: np.ndarray, name: str, ev: int) -> None:
    """ERR is a standard deviation: a negative value where SCI is finite means the
    array is corrupt (and any weight taken from it silently wrong)."""
    negative = finite_sci & (err < 0)
    if negative.any():
        raise InvalidExposure(
            name,
            f"chip {ev}: ERR is negative in {int(negative.sum())} pixel(s) "
            f"(min {float(err[negative].min()):g}): an uncertainty cannot be negative",
        )


def _delegate_zeropoints(exp: Exposure) -> None:
    """Use cloudphot.fits' per-chip Vega zeropoints when that reader exists."""
    try:
        from cloudphot.fits import read_exposure
    except ImportError:
        return
    try:
        meta = read_exposure(exp.path)
    except Exception:
        return
    chips = getattr(meta, "chips", None)
    if not chips:
        return
    for chip in exp.chips:
        for c in chips:
            ev = getattr(c, "extver", None) if not isinstance(c, dict) else c.get("extver")
            zp = getattr(c, "zpt_vega", None) if not isinstance(c, dict) else c.get("zpt_vega")
            if ev == chip.extver and zp is not None and np.isfinite(zp):
                chip.zpt_vega = float(zp)
