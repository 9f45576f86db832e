"""Images for SIA v2 and cutouts: which exposures cover a position, and FITS cutouts
read with ranged reads.

The image list is the exposures table the pipeline fills at ingest (instrument,
filter, MJD span, exposure time, footprint polygon, the object holding the file), so
SIA needs no index of its own and sees an exposure as soon as it is registered.
Mosaics (issue 11) will be added to the same list when the pipeline writes them.

A cutout reads the file's headers block by block (2,880 bytes at a time, ranged
reads), finds on each science chip the pixel box around the requested circle from
its WCS, and reads only the rows of that box (one ranged read per extension:
rows x full width; SCI, and ERR and DQ of the same chip), so a small cutout of a
large image reads a small part of it. The cutout's WCS is the original's with the
reference pixel moved by the box origin (SIP terms are relative to CRPIX and stay
valid); ``LTV1/2`` record the offset as IRAF does. Compressed images are refused
(their tiles cannot be sliced by rows).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..errors import DataError, ObjectNotFound, QueryRefused
from ..storage.objects import ObjectStore

__all__ = [
    "FILTER_BANDS_M",
    "ImageRecord",
    "cutout_fits",
    "fits_layout",
    "images_from_exposures",
    "overlaps_circle",
]

BLOCK = 2880
#: HST wide filters: (lower, upper) wavelength in metres (about the filter's FWHM)
FILTER_BANDS_M = {
    "F275W": (2.42e-7, 3.10e-7),
    "F336W": (3.20e-7, 3.60e-7),
    "F475W": (3.95e-7, 5.55e-7),
    "F606W": (4.70e-7, 7.20e-7),
    "F814W": (6.90e-7, 9.60e-7),
    "F110W": (8.90e-7, 1.41e-6),
    "F160W": (1.39e-6, 1.70e-6),
}


@dataclass(frozen=True)
class ImageRecord:
    """One image SIA can return (an ObsCore-like record)."""

    obs_id: str
    bucket: str
    key: str
    instrument: str
    filter: str
    t_min: float
    t_max: float
    exptime: float
    footprint: tuple[tuple[float, float], ...]
    field_id: str = ""
    target: str = ""
    calib_level: int = 2
    dataproduct_type: str = "image"
    collection: str = "cloudphot exposures"

    @property
    def centre(self) -> tuple[float, float]:
        v = np.array([_unit(r, d) for r, d in self.footprint]).sum(0)
        return _radec(v)

    @property
    def fov_deg(self) -> float:
        c = self.centre
        return 2 * max(_sep(c, p) for p in self.footprint)

    @property
    def band(self) -> tuple[float, float] | None:
        return FILTER_BANDS_M.get(self.filter.upper())


def _unit(ra: float, dec: float) -> np.ndarray:
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def _radec(v: np.ndarray) -> tuple[float, float]:
    v = v / np.linalg.norm(v)
    return math.degrees(math.atan2(v[1], v[0])) % 360.0, math.degrees(math.asin(v[2]))


def _sep(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, float(_unit(*a) @ _unit(*b))))))


def _tangent(ra: float, dec: float, ra0: float, dec0: float) -> tuple[float, float]:
    a, d, a0, d0 = map(math.radians, (ra, dec, ra0, dec0))
    cosc = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(a - a0)
    if cosc <= 0:
        return math.inf, math.inf
    x = math.cos(d) * math.sin(a - a0) / cosc
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(a - a0)) / cosc
    return x, y


def overlaps_circle(
    footprint: Iterable[tuple[float, float]], ra: float, dec: float, r: float
) -> bool:
    """Whether a footprint polygon and a circle (degrees) overlap, in the tangent plane
    about the circle's centre (great circles are lines there; exact for fields < 90 deg)."""
    pts = [_tangent(a, d, ra, dec) for a, d in footprint]
    if any(math.isinf(x) for x, _ in pts):
        return False
    rr = math.tan(math.radians(r))
    inside, n = False, len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if (y1 > 0) != (y2 > 0) and 0 < (x2 - x1) * (0 - y1) / (y2 - y1) + x1:
            inside = not inside
        dx, dy = x2 - x1, y2 - y1
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / (dx * dx + dy * dy)))
        if math.hypot(x1 + t * dx, y1 + t * dy) <= rr:
            return True
    return inside


def images_from_exposures(items: Iterable[dict]) -> list[ImageRecord]:
    """Image records from the exposures table's items (each holds its ingest record)."""
    out = []
    for item in items:
        try:
            rec = (
                json.loads(item["record"])
                if isinstance(item.get("record"), str)
                else item["record"]
            )
            polys = rec.get("footprint") or []
            if not polys or not rec.get("has_pixels", True):
                continue
            out.append(
                ImageRecord(
                    obs_id=str(rec["exposure_id"]),
                    bucket=str(rec.get("bucket") or item["bucket"]),
                    key=str(rec.get("key") or item["key"]),
                    instrument=f"{rec.get('instrument', '')}/{rec.get('detector', '')}".strip("/"),
                    filter=str(rec.get("filter", "")),
                    t_min=float(rec["mjd_start"]),
                    t_max=float(rec["mjd_end"]),
                    exptime=float(rec.get("exptime", 0.0)),
                    # one polygon per chip; the union's hull is their vertices together
                    footprint=tuple((float(a), float(d)) for poly in polys for a, d in poly)
                    if len(polys) == 1
                    else tuple((float(a), float(d)) for a, d in _hull(polys)),
                    field_id=str(rec.get("field_id", "")),
                    target=str(rec.get("target", "")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # an exposure without usable metadata is not offered
    return out


def _hull(polys) -> list[tuple[float, float]]:
    """Convex hull (tangent plane about the mean) of several chips' corners."""
    pts = [(float(a), float(d)) for poly in polys for a, d in poly]
    c = _radec(np.array([_unit(*p) for p in pts]).sum(0))
    plane = sorted({(_tangent(*p, *c), p) for p in pts})

    def cross(o, a, b):
        return (a[0][0] - o[0][0]) * (b[0][1] - o[0][1]) - (a[0][1] - o[0][1]) * (b[0][0] - o[0][0])

    lower: list = []
    upper: list = []
    for p in plane:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(plane):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return [p for _, p in lower[:-1] + upper[:-1]]


# ---------------------------------------------------------------- ranged FITS reading
@dataclass(frozen=True)
class HduLayout:
    index: int
    header: fits.Header
    data_start: int
    data_bytes: int


def fits_layout(store: ObjectStore, bucket: str, key: str, max_hdus: int = 64) -> list[HduLayout]:
    """Every HDU's header and where its data lies, from ranged reads of the headers only."""
    try:
        size = store.head(bucket, key).size
    except ObjectNotFound:
        raise DataError(f"image {key!r} is not in the store any more") from None
    out: list = []
    pos = 0
    while pos < size and len(out) < max_hdus:
        raw = b""
        while True:
            block = store.get_range(bucket, key, pos, pos + BLOCK)
            if len(block) < BLOCK:
                raise DataError(f"{key}: truncated FITS header at byte {pos}")
            raw += block
            pos += BLOCK
            if any(block[i : i + 8] == b"END     " for i in range(0, BLOCK, 80)):
                break
            if len(raw) > 200 * BLOCK:
                raise DataError(f"{key}: a FITS header without END")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdr = fits.Header.fromstring(raw.decode("ascii", "replace"))
        naxis = int(hdr.get("NAXIS", 0))
        n = (
            abs(int(hdr.get("BITPIX", 8)))
            // 8
            * (math.prod(int(hdr.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)) if naxis else 0)
        )
        n = (n + int(hdr.get("PCOUNT", 0))) * int(hdr.get("GCOUNT", 1))
        out.append(HduLayout(len(out), hdr, pos, n))
        pos += -(-n // BLOCK) * BLOCK
    return out


_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _read_rows(
    store, bucket, key, hdu: HduLayout, y0: int, y1: int, x0: int, x1: int
) -> np.ndarray:
    h = hdu.header
    nx = int(h["NAXIS1"])
    bpp = abs(int(h["BITPIX"])) // 8
    start = hdu.data_start + y0 * nx * bpp
    raw = store.get_range(bucket, key, start, start + (y1 - y0) * nx * bpp)
    rows = np.frombuffer(raw, dtype=_DTYPES[int(h["BITPIX"])]).reshape(y1 - y0, nx)
    data = rows[:, x0:x1].astype(rows.dtype.newbyteorder("="))
    if "BSCALE" in h or "BZERO" in h:
        data = data * float(h.get("BSCALE", 1.0)) + float(h.get("BZERO", 0.0))
    return data


def _shifted(header: fits.Header, x0: int, y0: int, shape) -> fits.Header:
    out = header.copy()
    for k in ("BSCALE", "BZERO", "CHECKSUM", "DATASUM"):
        out.remove(k, ignore_missing=True)
    out["NAXIS1"], out["NAXIS2"] = shape[1], shape[0]
    for axis, off in ((1, x0), (2, y0)):
        if f"CRPIX{axis}" in out:
            out[f"CRPIX{axis}"] = float(out[f"CRPIX{axis}"]) - off
        out[f"LTV{axis}"] = float(out.get(f"LTV{axis}", 0.0)) - off
    return out


def cutout_fits(
    store: ObjectStore,
    bucket: str,
    key: str,
    ra: float,
    dec: float,
    radius_deg: float,
    *,
    max_pixels: int = 4096 * 4096,
) -> bytes:
    """A FITS cutout around (ra, dec) of every science chip of the image that holds it.

    Raises QueryRefused when the circle misses every chip or the box is larger than
    ``max_pixels``; DataError for files that cannot be cut by rows.
    """
    if not (-90 <= dec <= 90) or not (0 < radius_deg <= 1):
        raise QueryRefused("CIRCLE needs dec in [-90, 90] and a radius in (0, 1] degrees")
    layout = fits_layout(store, bucket, key)
    if not layout:
        raise DataError(f"{key}: no FITS HDUs")
    primary = layout[0].header.copy()
    hdus = [fits.PrimaryHDU(header=primary)]
    chips = [h for h in layout if h.header.get("EXTNAME", "").strip() == "SCI"] or [
        h for h in layout if int(h.header.get("NAXIS", 0)) == 2
    ]
    for sci in chips:
        h = sci.header
        if h.get("ZIMAGE") or h.get("XTENSION", "").strip() == "BINTABLE":
            raise DataError(
                f"{key}: compressed images cannot be cut by rows; store it uncompressed"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(h)
        ny, nx = int(h["NAXIS2"]), int(h["NAXIS1"])
        # pixel box of the circle: its centre and 32 points on it through the WCS (the
        # image may be rotated and distorted), one pixel wider for the pixels it cuts
        ring = [(ra, dec)]
        cosd = max(math.cos(math.radians(dec)), 1e-6)
        for ang in np.linspace(0, 2 * math.pi, 32, endpoint=False):
            ring.append(
                (
                    ra + radius_deg * math.sin(ang) / cosd,
                    max(-90.0, min(90.0, dec + radius_deg * math.cos(ang))),
                )
            )
        px = np.asarray(wcs.all_world2pix(np.array(ring), 0))
        if not np.all(np.isfinite(px)):
            continue
        x0 = max(0, math.floor(px[:, 0].min()) - 1)
        x1 = min(nx, math.ceil(px[:, 0].max()) + 2)
        y0 = max(0, math.floor(px[:, 1].min()) - 1)
        y1 = min(ny, math.ceil(px[:, 1].max()) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        if (x1 - x0) * (y1 - y0) > max_pixels:
            raise QueryRefused(
                f"the cutout would be {(x1 - x0)} x {(y1 - y0)} pixels; ask for less"
            )
        extver = h.get("EXTVER", 1)
        for hdu in layout:
            name = hdu.header.get("EXTNAME", "").strip()
            same = hdu is sci or (
                name in ("ERR", "DQ")
                and hdu.header.get("EXTVER", 1) == extver
                and int(hdu.header.get("NAXIS1", 0)) == nx
                and int(hdu.header.get("NAXIS2", 0)) == ny
            )
            if not same:
                continue
            data = _read_rows(store, bucket, key, hdu, y0, y1, x0, x1)
            hdus.append(fits.ImageHDU(data=data, header=_shifted(hdu.header, x0, y0, data.shape)))
    if len(hdus) == 1:
        raise QueryRefused(f"({ra}, {dec}) radius {radius_deg} deg is not on image {key}")
    primary["NEXTEND"] = len(hdus) - 1
    primary["CUTRA"], primary["CUTDEC"], primary["CUTRAD"] = ra, dec, radius_deg
    primary.add_history(f"cloudphot cutout of {key}")
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf, output_verify="silentfix")
    return buf.getvalue()
