"""HEALPix maps of the catalog: star density, mean magnitude, mean colour.

Aggregation is one SQL query on ``pix4096`` (NESTED, so a coarser order is a bit
shift) through the same checked query path as everything else; the image draws
each pixel's true boundary (astropy-healpix) in RA/Dec, which is right for a
survey-sized patch of sky where a full-sky projection would show a dot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np

from ..errors import DataError
from . import ids
from ._plots import save_figure
from .schema import PHAT_FILTERS

__all__ = ["QUANTITIES", "HealpixMap", "healpix_map", "plot_map"]

QUANTITIES = ("density", "mean_mag", "color")


@dataclass
class HealpixMap:
    order: int
    pixels: np.ndarray  # NESTED indices at ``order``
    values: np.ndarray
    counts: np.ndarray
    quantity: str
    label: str


def _filter(name: str) -> str:
    f = name.upper()
    if f not in PHAT_FILTERS:
        raise DataError(f"unknown filter {name!r}; the catalog has {PHAT_FILTERS}")
    return f.lower()


def healpix_map(
    catalog,
    quantity: str = "density",
    *,
    order: int = 12,
    filter: str = "F814W",
    color: str = "F475W-F814W",
    mag_max: float | None = None,
) -> HealpixMap:
    """Aggregate phot_mod per HEALPix pixel at ``order`` (<= 12, the pix4096 order)."""
    if quantity not in QUANTITIES:
        raise DataError(f"--quantity must be one of {QUANTITIES}, not {quantity!r}")
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
    if quantity == "density":
        area = ids._healpix(order).pixel_area.to(u.arcmin**2).value
        values = values / area
    return HealpixMap(order, pix, values, counts, quantity, label)


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
    polys = np.stack([ra, dec], axis=-1)
    fig, ax = plt.subplots(figsize=(6, 5))
    coll = PolyCollection(list(polys), array=m.values, cmap="viridis", edgecolors="none")
    ax.add_collection(coll)
    ax.set_xlim(ra.max(), ra.min())
    ax.set_ylim(dec.min(), dec.max())
    ax.set_aspect(1 / np.cos(np.radians(np.median(dec))))
    ax.set_xlabel("RA (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.set_title(title or f"{m.quantity}, HEALPix order {m.order}")
    fig.colorbar(coll, ax=ax, label=m.label)
    return save_figure(fig, path)
