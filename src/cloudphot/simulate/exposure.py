"""Synthetic calibrated HST exposures (ACS/WFC flc, WFC3/UVIS flc, WFC3/IR flt).

The files mimic the real pipeline products closely enough that the rest of
cloudphot cannot tell them apart: the same extension layout (SCI/ERR/DQ per chip,
plus SAMP/TIME for IR), the same primary and extension keywords (modelled on the
drizzlepac sample files ``jbt122x8q_flc``, ``ib4606c5q_flc``, ``ib4606cpq_flt``),
a TAN WCS with a CD matrix at the real pixel scale, and photometric keywords
where the real files put them:

- ACS/WFC: PHOTFLAM/PHOTPLAM/PHOTBW/PHOTZPT/PHOTMODE in each SCI header only;
- WFC3/UVIS: PHOTFLAM/PHOTZPT in the primary and the full set per chip (since 2016);
- WFC3/IR: the full set in the primary; SCI in ELECTRONS/S.

Geometry. Chips are stacked along the detector y axis with a real-sized gap and
share one tangent plane, so their footprints tile like the real detector. As in
the real files, ``SCI,1`` is ``CCDCHIP 2`` (the chip at lower detector y, WFC2 /
UVIS2) and ``SCI,2`` is ``CCDCHIP 1`` (at +y). The *aperture reference point*
is the centre of the chip stack. ``dither_arcsec`` moves the sky position seen at
the aperture reference point by (dx, dy) arcsec along the detector (x, y) axes and
is recorded in the WCS (and in POSTARG1/POSTARG2); ``pointing_error_arcsec`` moves
it too but is not recorded: ``chip_wcs(..., true=True)`` is where the stars really
are.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.special import erf

from cloudphot.fits.zeropoints import zeropoints

__all__ = [
    "DETECTORS",
    "DQ_HOT_PIXEL",
    "PHOTOMETRY",
    "DetectorInfo",
    "ExposureSpec",
    "add_gaussian_stars",
    "chip_wcs",
    "detector_info",
    "photometric_keywords",
    "synthetic_exposure",
    "write_exposure",
]

_MJD0 = datetime(1858, 11, 17)
#: DQ bit of a hot pixel (ACS and WFC3 DQ definitions: 16 = hot pixel).
DQ_HOT_PIXEL = 16


@dataclass(frozen=True)
class DetectorInfo:
    """Fixed properties of one HST detector.

    Attributes
    ----------
    scale_arcsec : nominal pixel scale (arcsec/pixel).
    chip_shape : (ny, nx) of one full chip in pixels.
    nchips : number of SCI extensions in an flc/flt.
    gap_pix : gap between stacked chips (pixels).
    suffix : file-type suffix ("flc" or "flt").
    gain, readnoise : CCDGAIN (e-/DN) and read noise (e-) per amplifier.
    sky_rate : typical sky background (e-/s/pixel) for the synthetic images.
    fwhm_pix : typical PSF FWHM (pixels) for the synthetic images.
    aperture : APERTURE keyword of a full-frame exposure.
    bunit : BUNIT of SCI and ERR.
    """

    scale_arcsec: float
    chip_shape: tuple[int, int]
    nchips: int
    gap_pix: float
    suffix: str
    gain: float
    readnoise: tuple[float, float, float, float]
    sky_rate: float
    fwhm_pix: float
    aperture: str
    bunit: str


DETECTORS: dict[tuple[str, str], DetectorInfo] = {
    ("ACS", "WFC"): DetectorInfo(
        0.05,
        (2048, 4096),
        2,
        50.0,
        "flc",
        2.0,
        (4.57, 3.91, 4.25, 4.04),
        0.10,
        2.0,
        "WFC",
        "ELECTRONS",
    ),
    ("WFC3", "UVIS"): DetectorInfo(
        0.0396,
        (2051, 4096),
        2,
        31.0,
        "flc",
        1.5,
        (3.03, 3.13, 3.08, 3.18),
        0.05,
        2.0,
        "UVIS",
        "ELECTRONS",
    ),
    ("WFC3", "IR"): DetectorInfo(
        0.128,
        (1014, 1014),
        1,
        0.0,
        "flt",
        2.5,
        (20.2, 19.8, 19.9, 20.1),
        1.0,
        1.2,
        "IR",
        "ELECTRONS/S",
    ),
}

#: (instrument, detector, filter) -> (PHOTFLAM [erg/s/cm2/A per e-/s], PHOTPLAM [A],
#: PHOTBW [A]). Representative values near MJD 56000 from the STScI ACS zeropoint
#: calculator and the WFC3 photometric calibration tables; F814W (ACS), F555W (UVIS)
#: and F110W (IR) are the values of the real drizzlepac sample files.
PHOTOMETRY: dict[tuple[str, str, str], tuple[float, float, float]] = {
    ("ACS", "WFC", "F435W"): (3.14e-19, 4329.9, 293.0),
    ("ACS", "WFC", "F475W"): (1.82e-19, 4746.9, 420.0),
    ("ACS", "WFC", "F555W"): (1.96e-19, 5361.0, 360.0),
    ("ACS", "WFC", "F606W"): (7.86e-20, 5921.9, 672.0),
    ("ACS", "WFC", "F625W"): (1.19e-19, 6311.4, 416.0),
    ("ACS", "WFC", "F658N"): (1.98e-18, 6584.0, 37.0),
    ("ACS", "WFC", "F775W"): (1.01e-19, 7693.0, 434.0),
    ("ACS", "WFC", "F814W"): (7.0768959e-20, 8045.5317, 653.11078),
    ("ACS", "WFC", "F850LP"): (1.51e-19, 9031.5, 525.0),
    ("WFC3", "UVIS", "F275W"): (3.30e-18, 2709.7, 164.0),
    ("WFC3", "UVIS", "F336W"): (1.30e-18, 3354.5, 158.0),
    ("WFC3", "UVIS", "F438W"): (6.80e-19, 4326.2, 197.0),
    ("WFC3", "UVIS", "F475W"): (2.53e-19, 4773.1, 344.0),
    ("WFC3", "UVIS", "F555W"): (1.8379346e-19, 5307.9121, 517.13422),
    ("WFC3", "UVIS", "F606W"): (1.16e-19, 5889.2, 656.0),
    ("WFC3", "UVIS", "F814W"): (1.54e-19, 8039.1, 666.0),
    ("WFC3", "IR", "F105W"): (3.04e-20, 10552.0, 865.0),
    ("WFC3", "IR", "F110W"): (1.5318e-20, 11534.459, 1428.4883),
    ("WFC3", "IR", "F125W"): (2.25e-20, 12486.0, 866.0),
    ("WFC3", "IR", "F140W"): (1.48e-20, 13923.0, 1132.0),
    ("WFC3", "IR", "F160W"): (1.94e-20, 15369.0, 826.0),
}


@dataclass
class ExposureSpec:
    """What to write: one HST exposure's identity, timing and pointing.

    Angles in degrees, offsets in arcsec, times in MJD (UTC) and seconds.
    """

    instrument: str = "ACS"
    detector: str = "WFC"
    filter: str = "F814W"
    exptime: float = 500.0
    expstart: float = 56000.0  # MJD
    rootname: str = "jcp001aaq"
    target: str = "M31-B15-F09"
    proposal_id: int = 12345
    ra: float = 10.6847  # deg, pointing of the aperture reference point
    dec: float = 41.2690
    orientat: float = 0.0  # deg, position angle (E of N) of the image y axis
    dither_arcsec: tuple[float, float] = (0.0, 0.0)  # commanded, recorded in the WCS
    pointing_error_arcsec: tuple[float, float] = (0.0, 0.0)  # true but unrecorded
    chip_shape: tuple[int, int] | None = None  # (ny, nx); None -> the real chip size
    nchips: int | None = None  # None -> the detector's real number of chips
    visit: str = "01"

    @property
    def info(self) -> DetectorInfo:
        """The fixed properties of this spec's detector."""
        return detector_info(self.instrument, self.detector)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) of each chip."""
        if self.chip_shape is None:
            return self.info.chip_shape
        ny, nx = self.chip_shape
        return int(ny), int(nx)

    @property
    def n_chips(self) -> int:
        """Number of SCI extensions."""
        return int(self.nchips) if self.nchips is not None else self.info.nchips

    @property
    def filename(self) -> str:
        """The real pipeline's file name, e.g. ``jcp001aaq_flc.fits``."""
        return f"{self.rootname.lower()}_{self.info.suffix}.fits"


def detector_info(instrument: str, detector: str) -> DetectorInfo:
    """Properties of an (instrument, detector); ValueError naming the known ones."""
    key = (instrument.strip().upper(), detector.strip().upper())
    try:
        return DETECTORS[key]
    except KeyError:
        known = ", ".join(f"{i}/{d}" for i, d in DETECTORS)
        raise ValueError(
            f"unknown instrument/detector {instrument}/{detector}; known: {known}"
        ) from None


def photometric_keywords(instrument: str, detector: str, filter: str) -> dict[str, Any]:
    """PHOTFLAM, PHOTPLAM, PHOTBW, PHOTZPT and PHOTMODE of a filter.

    PHOTFLAM in erg s-1 cm-2 A-1 per e-/s; PHOTPLAM and PHOTBW in Angstrom;
    PHOTZPT = -21.1 (the STMAG zeropoint constant). PHOTMODE is that of the first
    chip (``ACS WFC1 F814W``, ``WFC3 UVIS2 F555W``, ``WFC3 IR F110W``).
    """
    inst, det, filt = instrument.strip().upper(), detector.strip().upper(), filter.strip().upper()
    try:
        flam, plam, bw = PHOTOMETRY[(inst, det, filt)]
    except KeyError:
        known = sorted(f for (i, d, f) in PHOTOMETRY if (i, d) == (inst, det))
        raise ValueError(
            f"no photometric keywords for {inst}/{det} filter {filt!r}; "
            f"known filters: {', '.join(known) or 'none (unknown detector)'}"
        ) from None
    mode = {"WFC": f"ACS WFC1 {filt}", "UVIS": f"WFC3 UVIS2 {filt}", "IR": f"WFC3 IR {filt}"}[det]
    return {"PHOTMODE": mode, "PHOTFLAM": flam, "PHOTZPT": -21.1, "PHOTPLAM": plam, "PHOTBW": bw}


# --- geometry -----------------------------------------------------------------


def _cd_matrix(scale_arcsec: float, orientat_deg: float) -> np.ndarray:
    """CD matrix (deg/pixel) of a non-flipped image whose y axis points at PA ``orientat``."""
    s = scale_arcsec / 3600.0
    t = math.radians(orientat_deg)
    return s * np.array([[-math.cos(t), math.sin(t)], [math.sin(t), math.cos(t)]])


def _tan_wcs(crval: tuple[float, float], crpix: tuple[float, float], cd: np.ndarray) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [float(crval[0]) % 360.0, float(crval[1])]
    w.wcs.crpix = [float(crpix[0]), float(crpix[1])]
    w.wcs.cd = cd
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    w.wcs.set()
    return w


def _aperture_wcs(spec: ExposureSpec, true: bool) -> WCS:
    """Tangent plane of the whole detector, 0-based pixel (0, 0) at the aperture reference."""
    cd = _cd_matrix(spec.info.scale_arcsec, spec.orientat)
    nominal = _tan_wcs((spec.ra, spec.dec), (1.0, 1.0), cd)
    dx, dy = spec.dither_arcsec
    if true:
        dx += spec.pointing_error_arcsec[0]
        dy += spec.pointing_error_arcsec[1]
    scale = spec.info.scale_arcsec
    ra, dec = nominal.all_pix2world([[dx / scale, dy / scale]], 0)[0]
    return _tan_wcs((ra, dec), (1.0, 1.0), cd)


def _chip_offset_y(spec: ExposureSpec, extver: int) -> float:
    """y (pixels) of the centre of chip ``extver`` from the aperture reference point."""
    n = spec.n_chips
    if not 1 <= extver <= n:
        raise ValueError(f"extver {extver} out of range 1..{n}")
    ny = spec.shape[0]
    return (extver - 1 - (n - 1) / 2.0) * (ny + spec.info.gap_pix)


def chip_wcs(spec: ExposureSpec, extver: int, *, true: bool = False) -> WCS:
    """TAN WCS of SCI extension ``extver``, CD matrix at the real pixel scale.

    CRPIX is the chip centre, CRVAL the sky there, and the CD matrix the local
    derivative of the detector's shared tangent plane, so adjacent chips tile with
    the real gap. ``true=True`` includes the unrecorded pointing error (where the
    stars really are); the default is what the header records.
    """
    ny, nx = spec.shape
    ap = _aperture_wcs(spec, true)
    y0 = _chip_offset_y(spec, extver)
    h = 50.0
    pts = np.array([[0, y0], [h, y0], [-h, y0], [0, y0 + h], [0, y0 - h]], dtype=float)
    sky = ap.all_pix2world(pts, 0)
    centre = sky[0]
    # local tangent plane at the chip centre, identity CD: pixel offsets = intermediate degrees
    local = _tan_wcs(centre, (0.0, 0.0), np.eye(2))
    xi = local.all_world2pix(sky, 0)
    cd = np.column_stack([(xi[1] - xi[2]) / (2 * h), (xi[3] - xi[4]) / (2 * h)])
    w = _tan_wcs(centre, ((nx + 1) / 2.0, (ny + 1) / 2.0), cd)
    w.pixel_shape = (nx, ny)
    return w


def _orientat(cd: np.ndarray) -> float:
    """Position angle (deg E of N) of the image y axis from a CD matrix."""
    return math.degrees(math.atan2(cd[0, 1], cd[1, 1]))


# --- headers ----------------------------------------------------------------


def _time_obs(mjd: float) -> tuple[str, str]:
    """DATE-OBS and TIME-OBS (UTC) of an MJD; plain calendar arithmetic, no leap-second
    table, so any future epoch works without ERFA's 'dubious year' warning."""
    t = _MJD0 + timedelta(days=float(mjd))
    return t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S")


#: ACS/WFC filters on filter wheel 1 (the others, e.g. F435W and F814W, are on wheel 2).
_ACS_WHEEL1 = {
    "F475W",
    "F502N",
    "F550M",
    "F555W",
    "F606W",
    "F625W",
    "F658N",
    "F775W",
    "F850LP",
    "F892N",
}


#: PA_V3 - ORIENTAT (deg) per detector, as in the drizzlepac sample files
#: (jbt122x8q: 239.90 - 57.45; ib4606c5q: 194.96 + 120.32; ib4606cpq: 194.96 + 120.40).
_PA_V3_MINUS_ORIENTAT = {"WFC": 182.45, "UVIS": 315.27, "IR": 315.35}


def _primary_header(spec: ExposureSpec, filename: str) -> fits.Header:
    info = spec.info
    inst, det = spec.instrument.upper(), spec.detector.upper()
    date_obs, time_obs = _time_obs(spec.expstart)
    expend = spec.expstart + spec.exptime / 86400.0
    ap = _aperture_wcs(spec, False)
    ra_ap, dec_ap = ap.wcs.crval
    h = fits.Header()
    h["NEXTEND"] = (3 * spec.n_chips + (2 if det == "IR" else 0), "Number of standard extensions")
    h["FILENAME"] = (filename, "name of file")
    h["FILETYPE"] = ("SCI", "type of data found in data file")
    h["TELESCOP"] = ("HST", "telescope used to acquire data")
    h["INSTRUME"] = (inst, "identifier for instrument used to acquire data")
    h["EQUINOX"] = (2000.0, "equinox of celestial coord. system")
    h["ROOTNAME"] = (spec.rootname.lower(), "rootname of the observation set")
    h["IMAGETYP"] = ("EXT", "type of exposure identifier")
    h["PRIMESI"] = (inst, "instrument designated as prime")
    h["TARGNAME"] = (spec.target, "proposer's target name")
    h["RA_TARG"] = (spec.ra, "right ascension of the target (deg) (J2000)")
    h["DEC_TARG"] = (spec.dec, "declination of the target (deg) (J2000)")
    h["PROPOSID"] = (int(spec.proposal_id), "PEP proposal identifier")
    h["LINENUM"] = (f"{spec.visit}.001", "proposal logsheet line number")
    h["OBSET_ID"] = (spec.visit, "observation set id")
    h["MTFLAG"] = (" ", "moving target flag; T if it is a moving target")
    h["DATE-OBS"] = (date_obs, "UT date of start of observation (yyyy-mm-dd)")
    h["TIME-OBS"] = (time_obs, "UT time of start of observation (hh:mm:ss)")
    h["EXPSTART"] = (spec.expstart, "exposure start time (Modified Julian Date)")
    h["EXPEND"] = (expend, "exposure end time (Modified Julian Date)")
    h["EXPTIME"] = (float(spec.exptime), "exposure duration (seconds)--calculated")
    h["EXPFLAG"] = ("NORMAL", "Exposure interruption indicator")
    h["PA_V3"] = (
        (spec.orientat + _PA_V3_MINUS_ORIENTAT[det]) % 360.0,
        "position angle of V3-axis of HST (deg)",
    )
    h["POSTARG1"] = (float(spec.dither_arcsec[0]), "POSTARG in axis 1 direction")
    h["POSTARG2"] = (float(spec.dither_arcsec[1]), "POSTARG in axis 2 direction")
    h["OBSTYPE"] = ("IMAGING", "observation type - imaging or spectroscopic")
    h["OBSMODE"] = ("MULTIACCUM" if det == "IR" else "ACCUM", "operating mode")
    h["SUBARRAY"] = (
        spec.chip_shape is not None and tuple(spec.chip_shape) != info.chip_shape,
        "data from a subarray (T) or full frame (F)",
    )
    h["DETECTOR"] = (det, "detector in use")
    if inst == "ACS":
        filt = spec.filter.upper()
        wheel1 = filt if filt in _ACS_WHEEL1 else "CLEAR1L"
        wheel2 = filt if wheel1 == "CLEAR1L" else "CLEAR2L"
        h["FILTER1"] = (wheel1, "element selected from filter wheel 1")
        h["FILTER2"] = (wheel2, "element selected from filter wheel 2")
    else:
        h["FILTER"] = (spec.filter.upper(), "element selected from filter wheel")
    h["APERTURE"] = (info.aperture, "aperture name")
    h["PROPAPER"] = (info.aperture, "proposed aperture name")
    h["CCDAMP"] = ("ABCD", "CCD Amplifier Readout Configuration")
    h["CCDGAIN"] = (info.gain, "commanded gain of CCD")
    for amp, rn in zip("ABCD", info.readnoise):
        h[f"READNSE{amp}"] = (rn, f"calibrated read noise for amplifier {amp}")
    if det == "IR":
        h["SAMP_SEQ"] = ("STEP100", "MultiAccum exposure time sequence name")
        h["NSAMP"] = (14, "number of MULTIACCUM samples")
    h["ASN_ID"] = (
        f"{spec.rootname[:6]}0{spec.visit[-1]}0".upper(),
        "unique identifier assigned to association",
    )
    h["ASN_TAB"] = (
        f"{spec.rootname[:6]}0{spec.visit[-1]}0_asn.fits".lower(),
        "name of the association table",
    )
    h["ASN_MTYP"] = ("EXP-DTH", "Role of the Member in the Association")
    h["RA_APER"] = (float(ra_ap), "RA of aperture reference position")
    h["DEC_APER"] = (float(dec_ap), "Declination of aperture reference position")
    if inst == "WFC3":
        phot = photometric_keywords(inst, det, spec.filter)
        if det == "UVIS":  # UVIS primary carries PHOTFLAM and PHOTZPT only
            h["PHOTFLAM"] = (phot["PHOTFLAM"], "inverse sensitivity, ergs/cm2/A/e-")
            h["PHOTZPT"] = (phot["PHOTZPT"], "ST magnitude zero point")
        else:
            for key, val in phot.items():
                h[key] = val
    h["ORIGIN"] = ("cloudphot.simulate", "synthetic exposure; not real HST data")
    return h


def _image_header(spec: ExposureSpec, extname: str, extver: int, bunit: str) -> fits.Header:
    det = spec.detector.upper()
    n = spec.n_chips
    ny, nx = spec.shape
    w = chip_wcs(spec, extver)
    cd = w.wcs.cd
    h = fits.Header()
    h["INHERIT"] = (True, "inherit the primary header")
    h["EXTNAME"] = (extname, "extension name")
    h["EXTVER"] = (extver, "extension version number")
    h["ROOTNAME"] = (spec.rootname.lower(), "rootname of the observation set")
    h["EXPNAME"] = (spec.rootname.lower(), "exposure identifier")
    h["BUNIT"] = (bunit, "brightness units")
    if det != "IR":  # real IR flt headers have no CCDCHIP
        h["CCDCHIP"] = (n - extver + 1, "CCD chip (1 or 2)")
    h["WCSAXES"] = (2, "Number of coordinate axes")
    h["CRPIX1"] = (w.wcs.crpix[0], "Pixel coordinate of reference point")
    h["CRPIX2"] = (w.wcs.crpix[1], "Pixel coordinate of reference point")
    h["CRVAL1"] = (w.wcs.crval[0], "[deg] Coordinate value at reference point")
    h["CRVAL2"] = (w.wcs.crval[1], "[deg] Coordinate value at reference point")
    h["CTYPE1"] = ("RA---TAN", "Right ascension, gnomonic projection")
    h["CTYPE2"] = ("DEC--TAN", "Declination, gnomonic projection")
    h["CUNIT1"] = ("deg", "Units of coordinate increment and value")
    h["CUNIT2"] = ("deg", "Units of coordinate increment and value")
    h["CD1_1"] = (cd[0, 0], "partial of first axis coordinate w.r.t. x")
    h["CD1_2"] = (cd[0, 1], "partial of first axis coordinate w.r.t. y")
    h["CD2_1"] = (cd[1, 0], "partial of second axis coordinate w.r.t. x")
    h["CD2_2"] = (cd[1, 1], "partial of second axis coordinate w.r.t. y")
    h["RADESYS"] = ("ICRS", "Equatorial coordinate system")
    h["WCSNAME"] = ("OPUS", "Coordinate system title")
    h["LTV1"] = (0.0, "offset in X to subsection start")
    h["LTV2"] = (0.0, "offset in Y to subsection start")
    h["ORIENTAT"] = (_orientat(cd), "position angle of image y axis (deg. e of n)")
    ap = _aperture_wcs(spec, False)
    h["RA_APER"] = (float(ap.wcs.crval[0]), "RA of aperture reference position")
    h["DEC_APER"] = (float(ap.wcs.crval[1]), "Declination of aperture reference position")
    h["PA_APER"] = (spec.orientat, "Position Angle of reference aperture center (de")
    h["VAFACTOR"] = (1.0, "velocity aberration plate scale factor")
    h["SIZAXIS1"] = (nx, "subarray axis1 size in unbinned detector pixels")
    h["SIZAXIS2"] = (ny, "subarray axis2 size in unbinned detector pixels")
    if extname == "SCI" and det != "IR":  # ACS and UVIS: photometry per chip
        phot = photometric_keywords(spec.instrument, spec.detector, spec.filter)
        if det == "UVIS":
            phot["PHOTMODE"] = f"WFC3 UVIS{n - extver + 1} {spec.filter.upper()}"
        phot["PHOTMODE"] += f" MJD#{spec.expstart:.4f}"
        for key, val in phot.items():
            h[key] = val
    return h


# --- writing ----------------------------------------------------------------


def _as_list(arrays: list[np.ndarray] | None, n: int, what: str) -> list[np.ndarray] | None:
    if arrays is None:
        return None
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    if len(arrays) != n:
        raise ValueError(f"{what}: expected {n} arrays (one per chip), got {len(arrays)}")
    return list(arrays)


def write_exposure(
    path: str | os.PathLike,
    spec: ExposureSpec,
    sci: list[np.ndarray],
    err: list[np.ndarray] | None = None,
    dq: list[np.ndarray] | None = None,
) -> Path:
    """Write one calibrated exposure in the real flc/flt layout, atomically.

    Parameters
    ----------
    path : output file, or an existing directory (then ``spec.filename`` inside it).
    spec : identity, timing and pointing.
    sci : one (ny, nx) array per chip in SCI extension order (SCI,1 first), in
        electrons (ACS, UVIS) or electrons/s (IR), written as float32.
    err : 1-sigma errors in the same unit; default sqrt(|sci| + readnoise^2).
    dq : data quality bit masks, written as int16; default zeros.

    Returns
    -------
    The path written (temporary file then rename, so readers never see half a file).
    """
    info = spec.info
    n = spec.n_chips
    sci = _as_list(sci, n, "sci") or []
    err = _as_list(err, n, "err")
    dq = _as_list(dq, n, "dq")
    for i, a in enumerate(sci):
        if a.shape != spec.shape:
            raise ValueError(f"sci[{i}] has shape {a.shape}; the spec says {spec.shape} per chip")
    path = Path(path)
    if path.is_dir():
        path = path / spec.filename
    is_ir = spec.detector.upper() == "IR"
    rn = float(np.mean(info.readnoise))
    hdus: list[fits.hdu.base.ExtensionHDU | fits.PrimaryHDU] = [
        fits.PrimaryHDU(header=_primary_header(spec, path.name))
    ]
    for k in range(n):
        extver = k + 1
        s = np.asarray(sci[k], dtype=np.float32)
        if err is not None:
            e = np.asarray(err[k], dtype=np.float32)
        elif is_ir:
            e = (np.sqrt(np.abs(s) * spec.exptime + rn**2) / spec.exptime).astype(np.float32)
        else:
            e = np.sqrt(np.abs(s) + rn**2).astype(np.float32)
        d = np.asarray(dq[k], dtype=np.int16) if dq is not None else np.zeros(s.shape, np.int16)
        for name, data in (("SCI", s), ("ERR", e), ("DQ", d)):
            if data.shape != s.shape:
                raise ValueError(f"{name}[{k}] has shape {data.shape}; SCI has {s.shape}")
            bunit = "UNITLESS" if name == "DQ" else info.bunit
            hdus.append(fits.ImageHDU(data=data, header=_image_header(spec, name, extver, bunit)))
        if is_ir:
            samp = np.full(s.shape, 14, dtype=np.int16)
            tim = np.full(s.shape, spec.exptime, dtype=np.float32)
            hdus.append(fits.ImageHDU(samp, header=_image_header(spec, "SAMP", extver, "SAMPLES")))
            hdus.append(fits.ImageHDU(tim, header=_image_header(spec, "TIME", extver, "SECONDS")))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fits.HDUList(hdus).writeto(tmp, overwrite=True, checksum=False)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a product file should be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def add_gaussian_stars(
    image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray, sigma_pix: float
) -> np.ndarray:
    """Add pixel-integrated circular Gaussian stars to ``image`` in place.

    ``x, y`` are 0-based pixel centres (numpy convention: pixel (i, j) covers
    x in [j-0.5, j+0.5]); ``flux`` is each star's total in the image's unit.
    Only a +-5 sigma stamp per star is touched.
    """
    ny, nx = image.shape
    r = max(3, math.ceil(5 * sigma_pix))
    norm = 1.0 / (math.sqrt(2.0) * sigma_pix)
    for xc, yc, f in zip(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux)):
        jc, ic = math.floor(xc), math.floor(yc)
        j0, j1 = max(0, jc - r), min(nx, jc + r + 1)
        i0, i1 = max(0, ic - r), min(ny, ic + r + 1)
        if j0 >= j1 or i0 >= i1:
            continue
        ex = np.arange(j0, j1 + 1) - 0.5 - xc
        ey = np.arange(i0, i1 + 1) - 0.5 - yc
        px = 0.5 * np.diff(erf(ex * norm))
        py = 0.5 * np.diff(erf(ey * norm))
        image[i0:i1, j0:j1] += f * np.outer(py, px)
    return image


_ROOT_PREFIX = {"ACS": "j", "WFC3": "i"}


def synthetic_exposure(
    path: str | os.PathLike,
    *,
    instrument: str = "ACS",
    detector: str = "WFC",
    filter: str = "F814W",
    shape: tuple[int, int] | None = (128, 128),
    nstars: int = 40,
    seed: int = 0,
    **spec_overrides: Any,
) -> Path:
    """Write a small valid exposure: sky, stars, Poisson and read noise, hot pixels.

    Stars are Gaussians (the detector's typical FWHM) with Vega magnitudes uniform
    in [19, 24] (AB when the filter has no Vega offset), converted to electrons with
    the filter's zeropoint. A few hot pixels are set high and flagged ``DQ_HOT_PIXEL``.
    ``shape`` is (ny, nx) per chip (None: the real detector size); ``spec_overrides``
    are any other :class:`ExposureSpec` fields. ``path`` may be a directory (then the
    real file name is used). Same arguments and seed -> identical pixels.
    """
    inst, det = instrument.upper(), detector.upper()
    info = detector_info(inst, det)
    defaults: dict[str, Any] = {"rootname": f"{_ROOT_PREFIX[inst]}cp001aaq"}
    if "chip_shape" in spec_overrides:
        raise TypeError("synthetic_exposure takes the chip size as shape=, not chip_shape=")
    defaults.update(spec_overrides)
    defaults["chip_shape"] = tuple(shape) if shape is not None else None
    spec = ExposureSpec(instrument=inst, detector=det, filter=filter.upper(), **defaults)
    phot = photometric_keywords(inst, det, filter)
    zp = zeropoints(inst, det, filter, phot["PHOTFLAM"], phot["PHOTPLAM"])
    zpt = zp["zpt_vega"] if zp["zpt_vega"] is not None else zp["zpt_ab"]
    assert zpt is not None  # every simulated filter has PHOTPLAM, hence an AB zeropoint
    rng = np.random.default_rng(seed)
    ny, nx = spec.shape
    sigma = info.fwhm_pix / 2.3548
    rn = float(np.mean(info.readnoise))
    sci, err, dq = [], [], []
    for _ in range(spec.n_chips):
        electrons = np.full((ny, nx), info.sky_rate * spec.exptime, dtype=float)
        mags = rng.uniform(19.0, 24.0, nstars)
        flux = 10 ** (-0.4 * (mags - zpt)) * spec.exptime
        add_gaussian_stars(
            electrons, rng.uniform(2, nx - 3, nstars), rng.uniform(2, ny - 3, nstars), flux, sigma
        )
        counts = rng.poisson(electrons).astype(float) + rng.normal(0.0, rn, (ny, nx))
        flags = np.zeros((ny, nx), np.int16)
        nhot = max(3, (ny * nx) // 4000)
        hi, hj = np.unravel_index(rng.choice(ny * nx, nhot, replace=False), (ny, nx))
        counts[hi, hj] += rng.uniform(2e3, 2e4, nhot)
        flags[hi, hj] |= DQ_HOT_PIXEL
        e = np.sqrt(np.maximum(electrons, 0) + rn**2)
        if det == "IR":  # flt of IR is a count rate; flc keep electrons (and the sky)
            sci.append(counts / spec.exptime)
            err.append(e / spec.exptime)
        else:
            sci.append(counts)
            err.append(e)
        dq.append(flags)
    return write_exposure(path, spec, sci, err, dq)
