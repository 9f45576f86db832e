"""Validate an uploaded HST exposure and read the metadata the pipeline runs on.

This runs in a Lambda on every upload. It first checks the file's structure with
:func:`cloudphot.fits.header_scan.scan_fits` (plain Python, headers only), then
parses only the headers it needs (primary, SCI, ERR, DQ) from their byte ranges
with ``astropy.io.fits.Header`` and builds each chip's footprint with
``astropy.wcs``. Pixel data are never read, so cost and memory do not grow with
the image size.

Decisions
---------
- Supported: ACS/WFC, WFC3/UVIS and WFC3/IR calibrated exposures (flc/flt). Each
  ``SCI,n`` needs ``ERR,n`` and ``DQ,n``.
- Legacy WFPC2 (and any other instrument) is refused with a reason saying so:
  WFPC2 files carry no ERR/DQ extensions in this layout and their extension WCS is
  often non-celestial (``CTYPE1='UNITLESS'`` in GEIS-converted files).
- Header-only files (SCI with no pixels, as in STScI's header samples) are accepted
  with ``has_pixels=False`` and a note; the chip shape then comes from
  ``SIZAXIS1/SIZAXIS2``. They can be catalogued and planned, not photometered.
- Lookup-table distortions (NPOL ``CPDIS``/``DP``, ``D2IM``) are ignored for the
  footprint: they are < 0.1 pixel, and honouring them would mean reading their
  data extensions. SIP is honoured.
- Anything odd but tolerated (a WCS header fixed up by astropy, a filter without a
  Vega offset, a missing EXPEND) goes to ``notes``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, overload

import numpy as np
from astropy.io import fits
from astropy.io.fits import VerifyError
from astropy.wcs import WCS

from cloudphot.errors import InvalidExposure
from cloudphot.fits.header_scan import HduInfo, read_header_bytes, scan_fits
from cloudphot.fits.zeropoints import ab_minus_vega, zeropoints
from cloudphot.products import field_id_from_target
from cloudphot.validate import EXPOSURE_ID_RE

__all__ = [
    "EXPOSURE_ID_RE",
    "MAX_EXPTIME",
    "SUPPORTED",
    "ChipMetadata",
    "ExposureMetadata",
    "field_id_from_target",
    "read_exposure",
    "without_lookup_distortions",
]

#: instrument -> detectors cloudphot reduces
SUPPORTED: dict[str, tuple[str, ...]] = {"ACS": ("WFC",), "WFC3": ("UVIS", "IR")}
#: longest exposure (s) accepted: HST's orbit is 95 minutes; a day is generous
MAX_EXPTIME = 86400.0
#: keywords of the primary header this reader takes values from
_PRIMARY_READ = (
    "INSTRUME",
    "DETECTOR",
    "OBSTYPE",
    "FILTER",
    "FILTER1",
    "FILTER2",
    "EXPTIME",
    "EXPSTART",
    "EXPEND",
    "DATE-OBS",
    "TARGNAME",
    "PROPOSID",
    "RA_TARG",
    "DEC_TARG",
    "ROOTNAME",
    "PHOTFLAM",
    "PHOTPLAM",
)
#: keywords of a SCI header this reader takes values from (besides the WCS)
_SCI_READ = ("SIZAXIS1", "SIZAXIS2", "PHOTFLAM", "PHOTPLAM", "CCDCHIP")
#: plausible PHOTFLAM (erg s-1 cm-2 A-1 per e-/s) and PHOTPLAM (A) of ACS/WFC and WFC3
#: filters, broad bands to the narrowest; outside them a zeropoint would be nonsense
_PHOTFLAM_RANGE = (1e-22, 1e-14)
_PHOTPLAM_RANGE = (1500.0, 20000.0)
#: nominal pixel scales (arcsec/pixel), to flag a WCS whose scale is far off
_NOMINAL_SCALE = {("ACS", "WFC"): 0.05, ("WFC3", "UVIS"): 0.0396, ("WFC3", "IR"): 0.128}
#: keywords of lookup-table distortions, which astropy can only apply with their data HDUs
_LOOKUP_KEY = re.compile(
    r"^(CPDIS\d|CPERR\d|DP\d(\..*)?|D2IMDIS\d|D2IMERR\d|D2IM\d(\..*)?|"
    r"D2IMEXT|NPOLEXT|CQDIS\d|DQ\d(\..*)?)$"
)
#: keywords of the primary (unlettered) celestial WCS, SIP included
_WCS_KEY = re.compile(
    r"^((CTYPE|CUNIT|CRVAL|CRPIX|CDELT|CROTA)[12]|(CD|PC)[12]_[12]|WCSAXES|LONPOLE|LATPOLE|"
    r"EQUINOX|RADESYS|(A|B|AP|BP)_(ORDER|\d_\d|DMAX))$"
)
_WCS_TEXT = re.compile(r"^(CTYPE\d|CUNIT\d|RADESYS)$")
_WCS_ORDER = re.compile(r"^((A|B|AP|BP)_ORDER|WCSAXES)$")
#: cells per side of the pixel grid the footprint check maps through the WCS
_FOOTPRINT_GRID = 4


@dataclass
class ChipMetadata:
    """One science chip: its extension, size and photometric calibration.

    ``photflam`` in erg s-1 cm-2 A-1 per e-/s, ``photplam`` in Angstrom,
    zeropoints in mag for 1 e-/s. ``footprint`` is the 4 [ra, dec] (deg) outer
    pixel-edge corners, in pixel order (0,0), (nx,0), (nx,ny), (0,ny).
    """

    extver: int
    ccdchip: int
    shape: list[int]  # [ny, nx]
    photflam: float
    photplam: float | None
    zpt_st: float
    zpt_ab: float | None
    zpt_vega: float | None
    footprint: list[list[float]]


@dataclass
class ExposureMetadata:
    """What the pipeline needs to know about one exposure; see :meth:`to_record`."""

    exposure_id: str
    image: str
    instrument: str
    detector: str
    filter: str
    exptime: float  # s
    mjd_start: float  # MJD (UTC)
    mjd_end: float
    mjd_mid: float
    date_obs: str  # ISO date of the start, yyyy-mm-dd
    target: str | None
    field_id: str
    proposal_id: int | None
    ra_targ: float | None  # deg
    dec_targ: float | None
    pointing_ra: float  # deg, centre of the footprint
    pointing_dec: float
    chips: list[ChipMetadata]
    has_pixels: bool
    notes: list[str] = field(default_factory=list)

    @property
    def footprint(self) -> list[list[list[float]]]:
        """Per-chip polygons, each 4 [ra, dec] corners (deg)."""
        return [c.footprint for c in self.chips]

    def to_record(self) -> dict[str, Any]:
        """JSON-able dict (plain str/int/float/bool/None/list/dict) for the exposures table."""
        rec: dict[str, Any] = {
            k: getattr(self, k)
            for k in (
                "exposure_id",
                "image",
                "instrument",
                "detector",
                "filter",
                "exptime",
                "mjd_start",
                "mjd_end",
                "mjd_mid",
                "date_obs",
                "target",
                "field_id",
                "proposal_id",
                "ra_targ",
                "dec_targ",
                "pointing_ra",
                "pointing_dec",
            )
        }
        rec["footprint"] = [[list(map(float, c)) for c in poly] for poly in self.footprint]
        rec["chips"] = [
            {k: v for k, v in asdict(c).items() if k != "footprint"} for c in self.chips
        ]
        first = self.chips[0]
        rec["zpt_st"], rec["zpt_ab"], rec["zpt_vega"] = first.zpt_st, first.zpt_ab, first.zpt_vega
        rec["has_pixels"] = self.has_pixels
        rec["notes"] = list(self.notes)
        return rec


# --- helpers ------------------------------------------------------------------


class _Ctx:
    """Error and note plumbing for one file."""

    def __init__(self, source: str):
        self.source = source
        self.notes: list[str] = []

    def fail(self, reason: str) -> InvalidExposure:
        return InvalidExposure(self.source, reason)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _header(path: Path, info: HduInfo, ctx: _Ctx) -> fits.Header:
    raw = read_header_bytes(path, info).decode("ascii")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdr = fits.Header.fromstring(raw)
        except (ValueError, VerifyError) as exc:  # astropy's parse errors: say which HDU
            raise ctx.fail(f"{info.label} header cannot be parsed: {exc}") from None
    for w in caught:
        ctx.note(f"{info.label}: {w.message}")
    return hdr


def _value(hdr: fits.Header, key: str, ctx: _Ctx, where: str = "") -> Any:
    """Header value, turning astropy's lazy card-parsing errors into InvalidExposure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            v = hdr.get(key)
        except (ValueError, VerifyError):
            raw = _raw_value(hdr, key)
            place = f" in the {where}" if where else ""
            raise ctx.fail(
                f"keyword {key}{place} cannot be parsed: {raw!r} is not a FITS number, "
                "string or logical"
            ) from None
    for w in caught:
        ctx.note(f"{key}: {w.message}")
    return v


def _raw_value(hdr: fits.Header, key: str) -> str:
    """The value field of a card astropy cannot parse, as written (for error messages)."""
    try:
        image = hdr.cards[key]._image or ""
    except (KeyError, IndexError, AttributeError):
        return "?"
    return image[10:].split("/", 1)[0].strip()


def _bad(ctx: _Ctx, reason: str, strict: bool) -> None:
    """A malformed value: an error when the pipeline needs it, else a note."""
    if strict:
        raise ctx.fail(reason)
    ctx.note(f"{reason}: ignored")


# required and strict (the defaults), a value is never None: it is there or an error
@overload
def _text(hdr: fits.Header, key: str, where: str, ctx: _Ctx) -> str: ...
@overload
def _text(
    hdr: fits.Header, key: str, where: str, ctx: _Ctx, *, required: bool = ..., strict: bool = ...
) -> str | None: ...
def _text(
    hdr: fits.Header, key: str, where: str, ctx: _Ctx, *, required: bool = True, strict: bool = True
) -> str | None:
    v = _value(hdr, key, ctx, where)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ctx.fail(f"missing keyword {key} in the {where}")
        return None
    if not isinstance(v, str):
        _bad(ctx, f"{key} in the {where} must be a string, got {v!r}", strict)
        return None
    return v.strip()


@overload
def _number(hdr: fits.Header, key: str, where: str, ctx: _Ctx) -> float: ...
@overload
def _number(
    hdr: fits.Header, key: str, where: str, ctx: _Ctx, *, required: bool = ..., strict: bool = ...
) -> float | None: ...
def _number(
    hdr: fits.Header, key: str, where: str, ctx: _Ctx, *, required: bool = True, strict: bool = True
) -> float | None:
    v = _value(hdr, key, ctx, where)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ctx.fail(f"missing keyword {key} in the {where}")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        _bad(ctx, f"{key} in the {where} must be a number, got {v!r}", strict)
        return None
    x = float(v)
    if not math.isfinite(x):
        _bad(ctx, f"{key} in the {where} is {x}, not a finite number", strict)
        return None
    return x


def _filter(prim: fits.Header, instrument: str, ctx: _Ctx) -> str:
    where = "primary header"
    if instrument == "ACS":
        f1 = _text(prim, "FILTER1", where, ctx)
        f2 = _text(prim, "FILTER2", where, ctx)
        real = [f.upper() for f in (f1, f2) if not f.upper().startswith("CLEAR")]
        if not real:
            raise ctx.fail(
                f"no filter in the beam: FILTER1={f1!r} and FILTER2={f2!r} are both CLEAR"
            )
        if len(real) > 1:
            pol = [f for f in real if f.startswith("POL")]
            rest = [f for f in real if not f.startswith("POL")]
            if len(rest) != 1:
                raise ctx.fail(f"two filters in the beam: FILTER1={f1!r}, FILTER2={f2!r}")
            ctx.note(f"polarizer {pol[0]} in the beam with {rest[0]}")
            real = rest
        name = real[0]
    else:
        name = _text(prim, "FILTER", where, ctx).upper()
    if not re.match(r"^F\d{3}[A-Z]{1,2}$", name):
        raise ctx.fail(
            f"filter {name!r} is not an imaging filter (grism, prism or blank): "
            "cloudphot measures imaging only"
        )
    return name


def _check_wcs_keywords(hdr: fits.Header, info: HduInfo, label: str, ctx: _Ctx) -> None:
    """Types and values of the primary WCS's keywords, before astropy sees them.

    wcslib "fixes" what it cannot parse (``CRVAL1 = NaN`` became 0 degrees) and
    astropy crashes on some types (``CTYPE1 = -1``), so both are refused here, as
    is any WCS keyword written twice (which card wins differs between readers).
    """
    keys = [k for k in hdr if _WCS_KEY.match(k)]
    twice = sorted(k for k in info.duplicates if _WCS_KEY.match(k))
    if twice:
        raise ctx.fail(f"{label} gives the WCS keyword {twice[0]} twice: which one holds?")
    for key in keys:
        v = _value(hdr, key, ctx, label)
        if _WCS_TEXT.match(key):
            if not isinstance(v, str):
                raise ctx.fail(f"{key} in {label} must be a string, got {v!r}")
        elif _WCS_ORDER.match(key):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 9:
                what = (
                    "the number of WCS axes"
                    if key == "WCSAXES"
                    else "a SIP polynomial order (HST distortion solutions use 4 or 5)"
                )
                raise ctx.fail(f"{key} in {label} is {v!r}: {what} is an integer 0-9")
        else:
            _number(hdr, key, label, ctx)


def without_lookup_distortions(hdr: fits.Header) -> fits.Header:
    """A copy of a chip header without its lookup-table distortion keywords.

    astropy applies NPOL/D2IM only with their data HDUs at hand (and raises
    without them); they are < 0.1 pixel, so the footprint and the engine's
    alignment do without them.
    """
    h = hdr.copy(strip=True)
    for key in {k for k in h if _LOOKUP_KEY.match(k)}:
        h.remove(key, ignore_missing=True, remove_all=True)
    return h


def _sky_wcs(hdr: fits.Header, info: HduInfo, label: str, ctx: _Ctx) -> WCS:
    h = without_lookup_distortions(hdr)
    for key in ("CTYPE1", "CTYPE2"):
        if key not in h:
            raise ctx.fail(f"{label} has no WCS: missing keyword {key}")
    _check_wcs_keywords(h, info, label, ctx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            w = WCS(h, naxis=2)
        except Exception as exc:  # wcslib and astropy on hostile headers: name it, never crash
            text = str(exc)
            if "singular" in text.lower():
                raise ctx.fail(f"{label} WCS has a singular CD/PC matrix") from None
            lines = [
                ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("ERROR")
            ]
            first = lines[0] if lines else text or type(exc).__name__
            raise ctx.fail(f"{label} WCS cannot be built: {first}") from None
    for warn in caught:
        ctx.note(f"{label} WCS: {' '.join(str(warn.message).split())}")
    if not w.has_celestial:
        raise ctx.fail(
            f"{label} has a non-celestial WCS (CTYPE1={h.get('CTYPE1')!r}, "
            f"CTYPE2={h.get('CTYPE2')!r})"
        )
    m = w.wcs.get_pc() * w.wcs.get_cdelt()[:, None]
    # singular relative to the matrix's own size: a CD with proportional rows has a
    # determinant of rounding noise, not exactly 0
    size = float(np.prod(np.abs(m).sum(axis=1))) if np.all(np.isfinite(m)) else 0.0
    if size == 0 or abs(np.linalg.det(m)) <= 1e-6 * size:
        raise ctx.fail(f"{label} WCS has a singular CD/PC matrix")
    return w


def _check_scale(w: WCS, label: str, nominal: float, ctx: _Ctx) -> float:
    """The WCS's linear pixel scale (arcsec/pix); refused when far from the detector's."""
    scale = float(np.sqrt(abs(np.linalg.det(w.celestial.pixel_scale_matrix)))) * 3600.0
    ratio = scale / nominal
    if not 0.5 < ratio < 2.0:
        raise ctx.fail(
            f'{label} WCS pixel scale is {scale:.3g}"/pix, not the detector\'s {nominal}"/pix '
            "(more than a factor 2 off): its footprint would be wrong"
        )
    if not 0.8 < ratio < 1.25:
        ctx.note(
            f'{label} WCS pixel scale {scale:.4f}"/pix differs from the nominal {nominal}"/pix'
        )
    return scale


def _footprint(
    w: WCS, shape: tuple[int, int], scale: float, label: str, ctx: _Ctx
) -> list[list[float]]:
    """The chip's corners on the sky, after checking the distortion maps it sanely.

    A grid of pixel positions (edges included) goes through the full WCS (SIP
    included); each grid cell must keep its orientation and an area within a
    factor 2 of what the linear scale says, so a distortion polynomial that folds
    or collapses the chip (SIP order 99 made a footprint of one point) is refused.
    """
    ny, nx = shape
    n = _FOOTPRINT_GRID
    gx, gy = np.meshgrid(np.linspace(-0.5, nx - 0.5, n + 1), np.linspace(-0.5, ny - 0.5, n + 1))
    pix = np.column_stack([gx.ravel(), gy.ravel()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sky = w.all_pix2world(pix, 0)
        except Exception as exc:  # wcslib on hostile distortions: name it, never crash
            raise ctx.fail(f"{label} WCS cannot map the chip to the sky: {exc}") from None
    for warn in caught:
        ctx.note(f"{label} WCS: {warn.message}")
    if not np.all(np.isfinite(sky)) or np.any(np.abs(sky[:, 1]) > 90):
        raise ctx.fail(f"{label} WCS gives invalid sky coordinates on the chip")
    xy = _tangent_plane(sky)
    if xy is None:
        raise ctx.fail(f"{label} WCS spreads the chip over more than a hemisphere")
    xy = xy.reshape(n + 1, n + 1, 2)
    cells = _cell_areas(xy)  # square degrees, signed
    nominal = (nx / n) * (ny / n) * (scale / 3600.0) ** 2
    ratio = np.abs(cells) / nominal
    if not (np.all(cells > 0) or np.all(cells < 0)) or not np.all((ratio > 0.5) & (ratio < 2)):
        worst = float(ratio.min() if ratio.min() < 1 / ratio.max() else ratio.max())
        raise ctx.fail(
            f"{label} WCS distortion folds or stretches the chip (a part of it maps to "
            f"{worst:.3g} times its nominal area on the sky): check the SIP coefficients"
        )
    corners = [0, n, (n + 1) * (n + 1) - 1, n * (n + 1)]  # (0,0) (nx,0) (nx,ny) (0,ny)
    return [[float(sky[i, 0] % 360.0), float(sky[i, 1])] for i in corners]


def _tangent_plane(sky: np.ndarray) -> np.ndarray | None:
    """Gnomonic projection (deg) about the points' mean direction; None past 60 degrees."""
    ra, dec = np.radians(sky[:, 0]), np.radians(sky[:, 1])
    v = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    c = v.mean(axis=0)
    norm = np.linalg.norm(c)
    if norm == 0:
        return None
    c /= norm
    e1 = np.cross([0.0, 0.0, 1.0], c)
    e1 = e1 / np.linalg.norm(e1) if np.linalg.norm(e1) > 1e-12 else np.array([1.0, 0.0, 0.0])
    e2 = np.cross(c, e1)
    dot = v @ c
    if np.any(dot < 0.5):
        return None
    return np.degrees(np.column_stack([(v @ e1) / dot, (v @ e2) / dot]))


def _cell_areas(xy: np.ndarray) -> np.ndarray:
    """Signed areas of the quadrilaterals of a (n+1, n+1, 2) grid (shoelace)."""
    a, b = xy[:-1, :-1], xy[:-1, 1:]
    c, d = xy[1:, 1:], xy[1:, :-1]

    def cross(p, q):
        return p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]

    return 0.5 * (cross(a, b) + cross(b, c) + cross(c, d) + cross(d, a))


def _centre(polys: list[list[list[float]]]) -> tuple[float, float]:
    """Mean direction of all corners (deg): robust across RA = 0."""
    pts = np.radians(np.array([c for p in polys for c in p]))
    v = np.stack(
        [
            np.cos(pts[:, 1]) * np.cos(pts[:, 0]),
            np.cos(pts[:, 1]) * np.sin(pts[:, 0]),
            np.sin(pts[:, 1]),
        ]
    ).mean(axis=1)
    ra = math.degrees(math.atan2(v[1], v[0])) % 360.0
    dec = math.degrees(math.atan2(v[2], math.hypot(v[0], v[1])))
    return ra, dec


def _exposure_id(prim: fits.Header, name: str, ctx: _Ctx) -> str:
    """ROOTNAME (else the file name's stem), checked like any input: it becomes a table
    key and a segment of product keys, so ``../../x`` must never get through."""
    root = _value(prim, "ROOTNAME", ctx, "primary header")
    if isinstance(root, str) and root.strip():
        eid, origin = root.strip().lower(), f"ROOTNAME {root.strip()!r}"
    else:
        eid = name.split(".")[0].split("_")[0].lower()
        origin = f"the file name {name!r} (no ROOTNAME in the primary header)"
        if EXPOSURE_ID_RE.match(eid):
            ctx.note(
                f"no ROOTNAME in the primary header: exposure id {eid!r} taken from the file name"
            )
    if not EXPOSURE_ID_RE.match(eid):
        raise ctx.fail(
            f"{origin} is not an exposure id: use 1-64 lower-case letters, digits, '_' or '-' "
            "(HST rootnames are 9 characters, e.g. jbt122x8q)"
        )
    return eid


def _field_id(target: str | None, ctx: _Ctx) -> str:
    fid = field_id_from_target(target)
    if len(fid) > 64:
        raise ctx.fail(f"TARGNAME {target!r} gives a field id of {len(fid)} characters; at most 64")
    return fid


def _check_duplicates(info: HduInfo, keys: tuple[str, ...], where: str, ctx: _Ctx) -> None:
    """Refuse a keyword cloudphot reads that is written twice (which value holds?)."""
    twice = sorted(set(keys) & info.duplicates)
    if twice:
        raise ctx.fail(
            f"{twice[0]} is given twice in the {where}: remove one so its value is unambiguous"
        )


def _check_scaling(info: HduInfo, label: str, ctx: _Ctx) -> None:
    """BSCALE/BZERO of an image cloudphot reads pixels from.

    Floating-point images (every calibrated HST SCI and ERR) are stored unscaled; an
    integer image may be scaled (BZERO = 32768 is unsigned 16-bit) as long as every
    value stays finite and non-degenerate.
    """
    if info.bscale is None and info.bzero is None:
        return
    values = {}
    for key, v, default in (("BSCALE", info.bscale, 1.0), ("BZERO", info.bzero, 0.0)):
        if v is None:
            values[key] = default
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ctx.fail(f"{key} of {label} is {v!r}: it must be a finite number")
        values[key] = float(v)
    bscale, bzero = values["BSCALE"], values["BZERO"]
    if bscale == 0:
        raise ctx.fail(f"BSCALE of {label} is 0: every pixel would read as BZERO")
    if info.bitpix < 0:
        if (bscale, bzero) != (1.0, 0.0):
            raise ctx.fail(
                f"{label} is a floating-point image with BSCALE={bscale:g}, BZERO={bzero:g}: "
                "calibrated exposures store floats unscaled"
            )
        return
    largest = abs(bzero) + abs(bscale) * 2.0 ** (info.bitpix - 1)
    if largest > 2.0**64:
        raise ctx.fail(
            f"{label} has BSCALE={bscale:g}, BZERO={bzero:g}: its {info.bitpix}-bit values "
            f"would reach {largest:.3g}, beyond any detector's range"
        )


# --- the check ----------------------------------------------------------------


_TAKES = (
    "cloudphot takes calibrated HST exposures, *_flc.fits or *_flt.fits (SCI, ERR, DQ per chip)"
)


def _hdu_word(h: HduInfo) -> str:
    kind = "PRIMARY" if h.xtension is None else str(h.xtension).strip().upper()
    name = f" {h.extname}" if h.extname else ""
    size = "x".join(str(n) for n in reversed(h.shape)) if h.shape and all(h.shape) else "no data"
    return f"{kind}{name} ({size})"


def _check_is_an_exposure(hdus: list[HduInfo], prim: fits.Header, ctx: _Ctx) -> None:
    """A drizzled image, a table or a plain image is named as such, before any keyword
    an exposure has is asked for (they were 'missing keyword INSTRUME')."""
    names = {str(h.extname).upper() for h in hdus[1:] if h.extname}
    drizzled = sorted(names & {"WHT", "CTX"})
    stem = Path(ctx.source).name.lower()
    if drizzled or "NDRIZIM" in prim or re.search(r"_dr[zc][._]", stem):
        why = f"{'/'.join(['SCI', *drizzled])} extensions" if drizzled else "its name"
        if "NDRIZIM" in prim:
            why += f", NDRIZIM = {prim['NDRIZIM']}"
        raise ctx.fail(
            f"a drizzled image (drz/drc: {why}), not an exposure: photometry is measured on "
            f"the exposures that were drizzled into it; {_TAKES}"
        )
    if "SCI" not in names:
        listed = ", ".join(_hdu_word(h) for h in hdus[:6]) + (", ..." if len(hdus) > 6 else "")
        raise ctx.fail(f"not an flc/flt exposure: no SCI extension (its HDUs: {listed}); {_TAKES}")


def read_exposure(path: str | os.PathLike, *, source: str | None = None) -> ExposureMetadata:
    """Validate a calibrated HST exposure and return its metadata.

    Parameters
    ----------
    path : local flc/flt file.
    source : how errors name the file (e.g. its S3 key); default the file name.

    Raises
    ------
    cloudphot.errors.InvalidExposure
        ``reason`` says exactly what is wrong, e.g. ``missing keyword EXPTIME in the
        primary header`` or ``SCI,1 has a non-celestial WCS (CTYPE1='PIXEL', ...)``.
    """
    path = Path(path)
    ctx = _Ctx(source or path.name)
    hdus = scan_fits(path, source=ctx.source)
    for h in hdus:
        for n in h.notes:
            ctx.note(f"{h.label}: {n}")
    prim = _header(path, hdus[0], ctx)
    where = "primary header"
    _check_duplicates(hdus[0], _PRIMARY_READ, where, ctx)
    _check_is_an_exposure(hdus, prim, ctx)

    instrument = _text(prim, "INSTRUME", where, ctx).upper()
    if instrument not in SUPPORTED:
        legacy = (
            " (legacy WFPC2 files have no ERR/DQ extensions and GEIS-style WCS)"
            if instrument == "WFPC2"
            else ""
        )
        raise ctx.fail(
            f"INSTRUME is {instrument!r}: not supported{legacy}; cloudphot reduces "
            "ACS/WFC, WFC3/UVIS and WFC3/IR flc/flt exposures"
        )
    detector = _value(prim, "DETECTOR", ctx)
    if detector is None or (isinstance(detector, str) and not detector.strip()):
        raise ctx.fail(f"missing keyword DETECTOR in the {where}")
    detector = str(detector).strip().upper()
    if detector not in SUPPORTED[instrument]:
        raise ctx.fail(
            f"DETECTOR is {detector!r}: {instrument}/{detector} is not supported "
            f"(only {', '.join(instrument + '/' + d for d in SUPPORTED[instrument])})"
        )
    obstype = _value(prim, "OBSTYPE", ctx)
    if isinstance(obstype, str) and obstype.strip() and obstype.strip().upper() != "IMAGING":
        raise ctx.fail(f"OBSTYPE is {obstype.strip()!r}: cloudphot measures imaging only")
    filt = _filter(prim, instrument, ctx)

    exptime = _number(prim, "EXPTIME", where, ctx)
    if exptime == 0:
        raise ctx.fail("EXPTIME is 0: a zero-length exposure has no photometry")
    if exptime < 0:
        raise ctx.fail(f"EXPTIME is {exptime:g}: an exposure time cannot be negative")
    if exptime > MAX_EXPTIME:
        raise ctx.fail(
            f"EXPTIME is {exptime:g} s: longer than a day, not one HST exposure "
            f"(at most {MAX_EXPTIME:g} s)"
        )
    mjd_start = _number(prim, "EXPSTART", where, ctx)
    if not 40000.0 <= mjd_start <= 100000.0:  # HST launched at MJD 48005
        raise ctx.fail(f"EXPSTART is {mjd_start:g}: not a plausible MJD for an HST exposure")
    mjd_end = _number(prim, "EXPEND", where, ctx, required=False, strict=False)
    if mjd_end is None:
        mjd_end = mjd_start + exptime / 86400.0
        ctx.note("no EXPEND: taken as EXPSTART + EXPTIME")
    elif mjd_end < mjd_start:
        raise ctx.fail(f"EXPEND ({mjd_end}) is before EXPSTART ({mjd_start})")
    elapsed = (mjd_end - mjd_start) * 86400.0
    if elapsed > MAX_EXPTIME:
        raise ctx.fail(
            f"EXPEND - EXPSTART is {elapsed:.0f} s: longer than a day, not one HST exposure"
        )
    # EXPEND is written to 1e-5 day (0.9 s); an exposure cannot outlast its own span
    if exptime > elapsed + 2.0 + 0.01 * exptime:
        raise ctx.fail(
            f"EXPTIME ({exptime:g} s) is longer than EXPEND - EXPSTART ({elapsed:.1f} s)"
        )
    date_obs = _text(prim, "DATE-OBS", where, ctx, required=False, strict=False)
    if date_obs is None or not re.match(r"^\d{4}-\d{2}-\d{2}", date_obs):
        derived = (datetime(1858, 11, 17) + timedelta(days=mjd_start)).strftime("%Y-%m-%d")
        ctx.note(f"DATE-OBS is {date_obs!r}: using {derived} from EXPSTART")
        date_obs = derived
    else:
        date_obs = date_obs[:10]

    target = _text(prim, "TARGNAME", where, ctx, required=False, strict=False)
    if target is None:
        ctx.note("no TARGNAME: field 'unknown'")
    proposal = _value(prim, "PROPOSID", ctx)
    proposal_id = (
        int(proposal)
        if isinstance(proposal, (int, np.integer)) and not isinstance(proposal, bool)
        else None
    )
    ra_targ = _number(prim, "RA_TARG", where, ctx, required=False, strict=False)
    dec_targ = _number(prim, "DEC_TARG", where, ctx, required=False, strict=False)
    if ra_targ is not None and not 0.0 <= ra_targ <= 360.0:
        ctx.note(f"RA_TARG is {ra_targ:g}, not an RA in degrees: ignored")
        ra_targ = None
    if dec_targ is not None and not -90.0 <= dec_targ <= 90.0:
        ctx.note(f"DEC_TARG is {dec_targ:g}, not a declination in degrees: ignored")
        dec_targ = None

    chips, has_pixels = _chips(path, hdus, prim, instrument, detector, filt, ctx)
    pra, pdec = _centre([c.footprint for c in chips])
    image = path.name if source is None else Path(source).name
    return ExposureMetadata(
        exposure_id=_exposure_id(prim, image, ctx),
        image=image,
        instrument=instrument,
        detector=detector,
        filter=filt,
        exptime=exptime,
        mjd_start=mjd_start,
        mjd_end=mjd_end,
        mjd_mid=0.5 * (mjd_start + mjd_end),
        date_obs=date_obs,
        target=target,
        field_id=_field_id(target, ctx),
        proposal_id=proposal_id,
        ra_targ=ra_targ,
        dec_targ=dec_targ,
        pointing_ra=pra,
        pointing_dec=pdec,
        chips=chips,
        has_pixels=has_pixels,
        notes=ctx.notes,
    )


def _chips(
    path: Path,
    hdus: list[HduInfo],
    prim: fits.Header,
    instrument: str,
    detector: str,
    filt: str,
    ctx: _Ctx,
) -> tuple[list[ChipMetadata], bool]:
    by_name: dict[tuple[str, int], HduInfo] = {}
    for h in hdus[1:]:
        if h.extname:
            by_name.setdefault((h.extname, h.extver or 1), h)
    sci = sorted(v for (n, v) in by_name if n == "SCI")
    if not sci:
        raise ctx.fail("no SCI extension: a calibrated flc/flt has EXTNAME='SCI' per chip")
    chips: list[ChipMetadata] = []
    pixels: list[bool] = []
    offset = ab_minus_vega(instrument, detector, filt)
    if offset is None:
        ctx.note(
            f"no published AB-Vega offset for {instrument}/{detector} {filt}: zpt_vega is None"
        )
    for v in sci:
        info = by_name[("SCI", v)]
        label = f"SCI,{v}"
        for ext in ("ERR", "DQ"):
            if (ext, v) not in by_name:
                raise ctx.fail(
                    f"missing {ext},{v} extension ({instrument}/{detector} "
                    f"exposures have SCI, ERR and DQ per chip)"
                )
        for ext in ("SCI", "ERR", "DQ"):
            other = by_name[(ext, v)]
            if other.xtension != "IMAGE":
                raise ctx.fail(
                    f"{ext},{v} is a {other.xtension} extension: a chip's {ext} must be an IMAGE"
                )
            _check_scaling(other, f"{ext},{v}", ctx)
        hdr = _header(path, info, ctx)
        _check_duplicates(info, _SCI_READ, label, ctx)
        has = info.data_bytes > 0
        if has:
            if len(info.shape) != 2:
                raise ctx.fail(f"{label} is {len(info.shape)}-dimensional: a chip image is 2-D")
            shape = (info.shape[0], info.shape[1])
            siz = (_value(hdr, "SIZAXIS2", ctx), _value(hdr, "SIZAXIS1", ctx))
            if all(isinstance(s, int) for s in siz) and tuple(siz) != shape:
                ctx.note(
                    f"{label} is {shape[1]}x{shape[0]} pixels but SIZAXIS1/2 say "
                    f"{siz[1]}x{siz[0]} (cut-out or subarray)"
                )
            for ext in ("ERR", "DQ"):
                other = by_name[(ext, v)]
                if other.data_bytes > 0 and other.shape != info.shape:
                    raise ctx.fail(
                        f"{ext},{v} has shape {list(other.shape)}, SCI,{v} has {list(info.shape)}"
                    )
            dq = by_name[("DQ", v)]
            if dq.data_bytes > 0 and dq.bitpix < 0:
                raise ctx.fail(f"DQ,{v} has BITPIX={dq.bitpix}: data quality must be integer flags")
        else:
            ny = _number(hdr, "SIZAXIS2", label, ctx, required=False, strict=False)
            nx = _number(hdr, "SIZAXIS1", label, ctx, required=False, strict=False)
            if not ny or not nx or ny < 1 or nx < 1:
                raise ctx.fail(
                    f"{label} has no pixels and no SIZAXIS1/SIZAXIS2: its footprint is unknown"
                )
            shape = (int(ny), int(nx))
            ctx.note(
                f"{label} has no pixels (header-only file): shape {list(shape)} from "
                "SIZAXIS1/SIZAXIS2"
            )
        pixels.append(has)
        w = _sky_wcs(hdr, info, label, ctx)
        scale = _check_scale(w, label, _NOMINAL_SCALE[(instrument, detector)], ctx)
        poly = _footprint(w, shape, scale, label, ctx)
        photflam = _number(hdr, "PHOTFLAM", label, ctx, required=False)
        photplam = _number(hdr, "PHOTPLAM", label, ctx, required=False)
        if photflam is None:
            photflam = _number(prim, "PHOTFLAM", "primary header", ctx, required=False)
        if photplam is None:
            photplam = _number(prim, "PHOTPLAM", "primary header", ctx, required=False)
        if photflam is None:
            raise ctx.fail(
                f"missing keyword PHOTFLAM in {label} and in the primary header: "
                "the exposure is not flux-calibrated"
            )
        if photflam <= 0:
            raise ctx.fail(f"PHOTFLAM of {label} is {photflam:g}: it must be positive")
        if not _PHOTFLAM_RANGE[0] <= photflam <= _PHOTFLAM_RANGE[1]:
            raise ctx.fail(
                f"PHOTFLAM of {label} is {photflam:g} erg/s/cm2/A per e-/s: not an HST "
                f"inverse sensitivity (between {_PHOTFLAM_RANGE[0]:g} and {_PHOTFLAM_RANGE[1]:g})"
            )
        if photplam is not None and photplam <= 0:
            raise ctx.fail(f"PHOTPLAM of {label} is {photplam:g}: it must be positive")
        if photplam is not None and not _PHOTPLAM_RANGE[0] <= photplam <= _PHOTPLAM_RANGE[1]:
            raise ctx.fail(
                f"PHOTPLAM of {label} is {photplam:g} A: not a pivot wavelength of an "
                f"ACS/WFC3 filter (between {_PHOTPLAM_RANGE[0]:g} and {_PHOTPLAM_RANGE[1]:g} A)"
            )
        if photplam is None:
            ctx.note(f"{label}: no PHOTPLAM: zpt_ab and zpt_vega are None")
        zp = zeropoints(instrument, detector, filt, photflam, photplam)
        ccd = _value(hdr, "CCDCHIP", ctx)
        ccdchip = (
            int(ccd)
            if isinstance(ccd, (int, np.integer)) and not isinstance(ccd, bool)
            else 1
            if detector == "IR"
            else v
        )
        chips.append(
            ChipMetadata(
                extver=v,
                ccdchip=ccdchip,
                shape=[shape[0], shape[1]],
                photflam=photflam,
                photplam=photplam,
                zpt_st=zp["zpt_st"],
                zpt_ab=zp["zpt_ab"],
                zpt_vega=zp["zpt_vega"],
                footprint=poly,
            )
        )
    if any(pixels) and not all(pixels):
        raise ctx.fail("some SCI extensions have pixels and others none: the file is incomplete")
    return chips, all(pixels)
