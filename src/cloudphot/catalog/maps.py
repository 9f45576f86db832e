"""HEALPix maps of the catalog: star density, mean magnitude, mean colour.

Aggregation is one SQL query on ``pix4096`` (NESTED, so a coarser order is a bit
shift) through the same checked query path as everything else; the image draws
each pixel's true boundary (astropy-healpix) in RA/Dec, which is right for a
survey-sized patch of sky where a full-sky projection would show a dot.

A density is stars per arcmin² of sky the exposures cover: a field's edge cuts
HEALPix pixels, and dividing by whole pixel areas showed a single field as 2,291
and 72 stars/arcmin² where the sky held ~4,700 everywhere. The footprints are the
chips' polygons the exposures table records at ingest (:func:`catalog_footprint`);
each pixel's covered fraction is measured on a grid of its NESTED children
(:func:`covered_fraction`), and the plot is clipped to the footprint. Without
footprints (a catalog whose exposures are not in this workspace) whole pixel areas
are used and the map says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np

from ..errors import DataError
from . import ids
from ._plots import save_figure
from .schema import PHAT_FILTERS

__all__ = [
    "QUANTITIES",
    "HealpixMap",
    "catalog_footprint",
    "covered_fraction",
    "default_order",
    "healpix_map",
    "plot_map",
]

QUANTITIES = ("density", "mean_mag", "color")
#: the finest order the catalog's pix4096 column gives
MAX_ORDER = 12
#: a default map has at most about this many pixels on the footprint
_MAX_PIXELS = 4000
#: sample points per covered-fraction measurement, over all pixels
_MAX_SAMPLES = 2_000_000


@dataclass
class HealpixMap:
    order: int
    pixels: np.ndarray  # NESTED indices at ``order``
    values: np.ndarray
    counts: np.ndarray
    quantity: str
    label: str
    #: fraction of each pixel the exposures cover (None: footprints unknown)
    coverage: np.ndarray | None = None
    #: the chips' polygons, (n, 2) arrays of (ra, dec) degrees
    footprint: list[np.ndarray] = field(default_factory=list)

    @property
    def covered_arcmin2(self) -> float | None:
        """Sky area of the footprint inside the map's pixels, arcmin²."""
        if self.coverage is None:
            return None
        area = ids._healpix(self.order).pixel_area.to_value(u.arcmin**2)
        return float(self.coverage.sum() * area)


def catalog_footprint(catalog) -> list[np.ndarray]:
    """The chips' polygons (ra, dec degrees) of every registered exposure of the fields
    in the catalog, from the exposures table; [] when none are on record."""
    t = catalog.query(f"SELECT DISTINCT field_id FROM {catalog.survey}.phot_mod")
    tables = catalog.platform.tables
    polys = []
    for fid in sorted({str(f) for f in t["field_id"]}):
        for item in tables.query("exposures", "by_field", fid):
            rec = json.loads(item["record"]) if isinstance(item.get("record"), str) else item
            for poly in rec.get("footprint") or []:
                p = np.asarray(poly, float)
                if p.ndim == 2 and p.shape[0] >= 3 and p.shape[1] == 2 and np.isfinite(p).all():
                    polys.append(p)
    return polys


def _tangent(ra, dec, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection about (ra0, dec0), degrees in and out (x grows with RA)."""
    a, d = np.radians(ra), np.radians(dec)
    a0, d0 = np.radians(ra0), np.radians(dec0)
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    x = np.cos(d) * np.sin(a - a0) / cosc
    y = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cosc
    return np.degrees(x), np.degrees(y)


def _centre(polys: list[np.ndarray]) -> tuple[float, float]:
    pts = np.concatenate(polys)
    ra, dec = np.radians(pts[:, 0]), np.radians(pts[:, 1])
    v = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]).sum(1)
    return float(np.degrees(np.arctan2(v[1], v[0])) % 360), float(
        np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1])))
    )


def covered_fraction(order: int, pixels: np.ndarray, polys: list[np.ndarray]) -> np.ndarray:
    """Fraction of each NESTED pixel at ``order`` inside the union of ``polys``, measured
    at the centres of its children a few orders finer (4**k of them, k <= 6)."""
    from matplotlib.path import Path as PolyPath

    pixels = np.asarray(pixels, np.int64)
    if len(pixels) == 0 or not polys:
        return np.zeros(len(pixels))
    k = 6
    while k > 2 and len(pixels) * 4**k > _MAX_SAMPLES:
        k -= 1
    k = min(k, 29 - order)
    children = (pixels[:, None] << (2 * k)) + np.arange(4**k, dtype=np.int64)[None, :]
    lon, lat = ids._healpix(order + k).healpix_to_lonlat(children.ravel())
    ra0, dec0 = _centre(polys)
    x, y = _tangent(lon.to_value(u.deg), lat.to_value(u.deg), ra0, dec0)
    inside = np.zeros(x.shape, bool)
    for poly in polys:
        px, py = _tangent(poly[:, 0], poly[:, 1], ra0, dec0)
        near = (x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max()) & ~inside
        if near.any():
            path = PolyPath(np.column_stack([px, py]))
            inside[near] = path.contains_points(np.column_stack([x[near], y[near]]))
    return inside.reshape(len(pixels), -1).mean(axis=1)


def default_order(polys: list[np.ndarray]) -> int:
    """The finest order (<= 12) that puts at most ~4,000 pixels on the footprint."""
    if not polys:
        return MAX_ORDER
    ra0, dec0 = _centre(polys)
    area = 0.0  # deg², chips summed (overlaps counted twice: an upper bound)
    for poly in polys:
        x, y = _tangent(poly[:, 0], poly[:, 1], ra0, dec0)
        area += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    order = MAX_ORDER
    while order > 0 and area / ids._healpix(order).pixel_area.to_value(u.deg**2) > _MAX_PIXELS:
        order -= 1
    return order


def _filter(name: str) -> str:
    f = name.upper()
    if f not in PHAT_FILTERS:
        raise DataError(f"unknown filter {name!r}; the catalog has {PHAT_FILTERS}")
    return f.lower()


def healpix_map(
    catalog,
    quantity: str = "density",
    *,
    order: int | None = None,
    filter: str = "F814W",
    color: str = "F475W-F814W",
    mag_max: float | None = None,
    footprint: list[np.ndarray] | None = None,
) -> HealpixMap:
    """Aggregate phot_mod per HEALPix pixel at ``order`` (<= 12, the pix4096 order;
    default: :func:`default_order` of the footprint). ``footprint`` defaults to
    :func:`catalog_footprint`; densities are per arcmin² of it."""
    if quantity not in QUANTITIES:
        raise DataError(f"--quantity must be one of {QUANTITIES}, not {quantity!r}")
    polys = catalog_footprint(catalog) if footprint is None else footprint
    if order is None:
        order = default_order(polys)
    if not 0 <= order <= 12:
        raise DataError("map order must be between 0 and 12 (pix4096 is order 12)")
    shift = 2 * (12 - order)
    f = _filter(filter)
    cut = f" AND {f}_vega <= {float(mag_max)!r}" if mag_max is not None else ""
    if quantity == "density":
        value, label = "count(*)", "stars / arcmin²"
        where = f"WHERE {f}_vega < 90{cut}" if mag_max is not None else ""
    elif quantity == "mean_mag":
        value, label = f"avg({f}_vega)", f"mean {filter.upper()} (Vega mag)"
        where = f"WHERE {f}_vega < 90{cut}"
    else:
        blue, _, red = color.partition("-")
        b, r = _filter(blue), _filter(red)
        value, label = f"avg({b}_vega - {r}_vega)", f"mean {blue.upper()} - {red.upper()}"
        where = f"WHERE {b}_vega < 90 AND {r}_vega < 90{cut}"
    sql = (
        f"SELECT pix4096 >> {shift} AS pix, {value} AS value, count(*) AS n "
        f"FROM {catalog.survey}.phot_mod {where} GROUP BY pix4096 >> {shift} ORDER BY pix"
    )
    t = catalog.query(sql)
    pix = np.asarray(t["pix"], np.int64)
    values = np.asarray(t["value"], float)
    counts = np.asarray(t["n"], np.int64)
    coverage = covered_fraction(order, pix, polys) if polys else None
    if quantity == "density":
        area = ids._healpix(order).pixel_area.to(u.arcmin**2).value
        if coverage is None:
            label = "stars / arcmin² of whole pixels (footprints unknown: edges diluted)"
            values = values / area
        else:  # stars where no recorded footprint is (its exposures not on record): whole pixel
            values = values / (area * np.where(coverage > 0, coverage, 1.0))
    return HealpixMap(order, pix, values, counts, quantity, label, coverage, list(polys))


def plot_map(m: HealpixMap, path: str | Path, *, title: str = "") -> Path:
    """PNG of the map: each HEALPix pixel drawn with its true boundary, RA increasing left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    if len(m.pixels) == 0:
        raise DataError("the map is empty: no objects matched")
    hp = ids._healpix(m.order)
    lon, lat = hp.boundaries_lonlat(m.pixels, step=2)
    ra = lon.to_value(u.deg)
    dec = lat.to_value(u.deg)
    ra = np.where(ra - np.median(ra) > 180, ra - 360, ra)
    ra_mid = float(np.median(ra))
    polys = np.stack([ra, dec], axis=-1)
    fig, ax = plt.subplots(figsize=(6, 5))
    coll = PolyCollection(list(polys), array=m.values, cmap="viridis", edgecolors="none")
    ax.add_collection(coll)
    if m.footprint:  # draw only the sky the exposures cover, and outline it
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as PolyPath

        chips = []
        for poly in m.footprint:
            p = np.array(poly, float)
            p[:, 0] = np.where(p[:, 0] - ra_mid > 180, p[:, 0] - 360, p[:, 0])
            # one orientation for every chip, so the non-zero rule clips to their union
            signed = np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))
            chips.append(p if signed > 0 else p[::-1])
        clip = PolyPath.make_compound_path(*(PolyPath(p, closed=False) for p in chips))
        patch = PathPatch(clip, facecolor="none", edgecolor="0.4", linewidth=0.5)
        ax.add_patch(patch)
        coll.set_clip_path(patch)
        if m.coverage is not None and (m.coverage >= 0.5).any():  # slivers do not set the scale
            well = m.values[m.coverage >= 0.5]
            coll.set_clim(float(well.min()), float(well.max()))
        ra = np.concatenate([p[:, 0] for p in chips])  # the axes frame the footprint
        dec = np.concatenate([p[:, 1] for p in chips])
    ax.set_xlim(ra.max(), ra.min())
    ax.set_ylim(dec.min(), dec.max())
    ax.set_aspect(1 / np.cos(np.radians(np.median(dec))))
    ax.set_xlabel("RA (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.set_title(title or f"{m.quantity}, HEALPix order {m.order}")
    fig.colorbar(coll, ax=ax, label=m.label)
    return save_figure(fig, path)
