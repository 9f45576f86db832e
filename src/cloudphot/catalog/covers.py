"""Conservative HEALPix covers: every pixel a cone can have rows in, provably.

Each query that narrows a table by position (the partition files a cone reads, the
``_healpix_29`` ranges that let DuckDB and Athena skip row groups, the partitions an
objid lookup reads) asks one question: *which NESTED pixels can hold a point within
``r`` of ``c``?* Missing one loses rows silently, so the answer here is a superset
with a proof, then the exact distance cut follows in SQL.

The proof. HEALPix's ``max_pixrad`` (HEALPix C++ ``T_Healpix_Base::max_pixrad``) is
the largest angular distance from a pixel's centre to any point of that pixel at
an order (``tests/catalog/test_covers.py`` checks it against densely sampled pixel
boundaries). A pixel P at order ``t`` therefore touches the cone only if
``dist(c, centre(P)) <= r + R_t``; an ancestor A of P at order ``k`` contains
``centre(P)``, so ``dist(c, centre(A)) <= r + R_t + R_k``. Descending from the 12
base pixels and keeping exactly the ancestors that pass this test keeps every
pixel the cone touches (the triangle inequality, nothing else). Distances are
compared as chords ``|a - b|`` of unit vectors, exact to ~1e-16 at any order
(``arccos`` of a dot product is not, below ~1e-8 rad), with a margin of
:data:`EPS_RAD` for rounding, which also covers a point exactly on a pixel edge
being assigned to either side.

Why our own code and not astropy-healpix's ``cone_search_lonlat``: near the poles it
misses pixels the cone touches (issue 15.1: 1.6 % of cones in the Dec > 89.5 cap
lost rows), and importing it (astropy) costs a one-shot ``cloudphot query`` about
half a second. The pixel centres are HEALPix's own formulas (``nest2xyf`` and
``xyf2loc`` of the C++ library) in numpy, checked against astropy-healpix to 1e-15.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "EPS_RAD",
    "MAX_ORDER",
    "capped",
    "cone_cover",
    "cone_ranges29",
    "cover_order",
    "max_pixrad",
    "merged_ranges29",
    "pixel_xyz",
    "pixels_cover",
    "ranges_touch",
]

#: deepest HEALPix order (the HATS ``_healpix_29`` index)
MAX_ORDER = 29
#: rounding margin of every distance test, radians (0.2 micro-arcseconds)
EPS_RAD = 1e-12
# HEALPix C++ face tables: ring number and phi offset of each base pixel's south corner
_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.float64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.float64)
#: children per descent step: 4**3 for a single cone (fewer numpy calls), 4 for many
_STEP_ONE, _STEP_MANY = 3, 1


def max_pixrad(order: int) -> float:
    """Largest centre-to-boundary angular distance of a pixel at ``order``, radians."""
    nside = 1 << int(order)

    def vec(z: float, phi: float) -> np.ndarray:
        s = math.sqrt((1 - z) * (1 + z))
        return np.array([s * math.cos(phi), s * math.sin(phi), z])

    t1 = (1.0 - 1.0 / nside) ** 2
    va, vb = vec(2.0 / 3.0, math.pi / (4 * nside)), vec(1 - t1 / 3, 0.0)
    return 2 * math.asin(min(1.0, float(np.linalg.norm(va - vb)) / 2))


_PIXRAD = [max_pixrad(k) for k in range(MAX_ORDER + 1)]


def _compact_bits(v: np.ndarray) -> np.ndarray:
    """Every other bit of ``v`` (bits 0, 2, 4, ...) packed together: NESTED de-interleaving."""
    x = v & 0x5555555555555555
    x = (x | (x >> 1)) & 0x3333333333333333
    x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0F
    x = (x | (x >> 4)) & 0x00FF00FF00FF00FF
    x = (x | (x >> 8)) & 0x0000FFFF0000FFFF
    return (x | (x >> 16)) & 0x00000000FFFFFFFF


def pixel_xyz(order: int, pix) -> np.ndarray:
    """Unit vectors (n, 3) of the centres of NESTED pixels ``pix`` at ``order``."""
    pix = np.asarray(pix, dtype=np.int64)
    nside = 1 << int(order)
    face = pix >> (2 * int(order))
    ipf = pix & ((1 << (2 * int(order))) - 1)
    x = (_compact_bits(ipf) + 0.5) / nside
    y = (_compact_bits(ipf >> 1) + 0.5) / nside
    jr = _JRLL[face] - x - y  # 0..4: north cap below 1, south cap above 3
    north, south = jr < 1, jr > 3
    nr = np.where(north, jr, np.where(south, 4 - jr, 1.0))
    tmp = nr * nr / 3
    z = np.where(north, 1 - tmp, np.where(south, tmp - 1, (2 - jr) * (2.0 / 3.0)))
    # in the caps sin(theta) from tmp directly: 1 - z*z loses all digits near a pole
    sth = np.where(north | south, np.sqrt(tmp * (2 - tmp)), np.sqrt((1 - z) * (1 + z)))
    t = np.mod(_JPLL[face] * nr + x - y, 8.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(nr < 1e-15, 0.0, (math.pi / 4) * t / np.where(nr < 1e-15, 1.0, nr))
    return np.stack([sth * np.cos(phi), sth * np.sin(phi), z], axis=-1)


#: orders whose pixel centres are tabulated on first use (12 * 4**6 = 49,152 pixels, 1.2 MB):
#: the descent's first levels become lookups
_TABLE_ORDER = 6
_TABLES: dict[int, np.ndarray] = {}


def _centres(order: int, pix: np.ndarray) -> np.ndarray:
    if order > _TABLE_ORDER:
        return pixel_xyz(order, pix)
    table = _TABLES.get(order)
    if table is None:
        table = _TABLES[order] = pixel_xyz(order, np.arange(12 << (2 * order)))
    return table[pix]


def _xyz(ra_deg, dec_deg) -> np.ndarray:
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1).reshape(-1, 3)


def _chord(angle_rad: float) -> float:
    """Chord length of an angle (2 for anything at or beyond pi: the whole sphere)."""
    return 2.0 if angle_rad >= math.pi else 2 * math.sin(angle_rad / 2)


def cover_order(radius_deg: float) -> int:
    """Order whose pixels are about the radius across (a cone touches a handful)."""
    r = float(radius_deg)
    if not r > 0:
        return MAX_ORDER
    return int(np.clip(math.floor(math.log2(58.6 / r)), 0, MAX_ORDER))


def _descend(centres: np.ndarray, radius_rad: float, order: int) -> np.ndarray:
    """NESTED pixels at ``order`` within ``radius_rad`` of any of ``centres`` (n, 3), sorted."""
    m = len(centres)
    if m == 0:
        return np.empty(0, np.int64)
    target = radius_rad + _PIXRAD[order]
    cone = np.repeat(np.arange(m), 12)
    pix = np.tile(np.arange(12, dtype=np.int64), m)
    step = _STEP_ONE if m == 1 else _STEP_MANY
    k = 0
    while True:
        lim = target + (_PIXRAD[k] if k < order else 0.0) + EPS_RAD
        if lim < math.pi:
            d = np.linalg.norm(centres[cone] - _centres(k, pix), axis=1)
            keep = d <= _chord(lim)
            cone, pix = cone[keep], pix[keep]
        if k == order:
            return np.unique(pix)
        s = min(step, order - k)
        kids = 1 << (2 * s)
        pix = (pix[:, None] * kids + np.arange(kids, dtype=np.int64)).ravel()
        cone = np.repeat(cone, kids)
        k += s


def cone_cover(ra_deg: float, dec_deg: float, radius_deg: float, order: int) -> np.ndarray:
    """Every NESTED pixel at ``order`` that a point within ``radius_deg`` can lie in (sorted).

    A superset (see the module docstring for the proof); the pixels whose centres are
    a little further than the radius plus a pixel are the price of the guarantee.
    """
    r = float(radius_deg)
    if not (math.isfinite(r) and r >= 0):
        raise ValueError(f"cone radius {radius_deg!r} deg is not a finite angle >= 0")
    return _descend(_xyz(ra_deg, dec_deg), math.radians(r), int(order))


def pixels_cover(pix, pix_order: int, margin_deg: float, order: int) -> np.ndarray:
    """Every pixel at ``order`` holding a point within ``margin_deg`` of the ``pix_order`` pixels.

    A point within the margin of a pixel lies within ``max_pixrad + margin`` of that
    pixel's centre: the same descent with one cone per pixel.
    """
    pix = np.unique(np.asarray(pix, dtype=np.int64))
    radius = _PIXRAD[int(pix_order)] + math.radians(float(margin_deg))
    return _descend(pixel_xyz(pix_order, pix), radius, int(order))


def merged_ranges29(order: int, pix) -> np.ndarray:
    """Half-open ``_healpix_29`` ranges ``(n, 2)`` of NESTED pixels at ``order``, merged.

    A pixel ``p`` covers ``[p << s, (p + 1) << s)`` with ``s = 2 * (29 - order)``, as
    :func:`cloudphot.catalog.partitioning.pixel_ranges29` (unmerged) has it.
    """
    pix = np.unique(np.asarray(pix, dtype=np.int64))
    shift = 2 * (MAX_ORDER - int(order))
    if len(pix) == 0:
        return np.empty((0, 2), np.int64)
    breaks = np.flatnonzero(np.diff(pix) != 1) + 1  # consecutive pixels make one range
    first = pix[np.r_[0, breaks]]
    last = pix[np.r_[breaks - 1, len(pix) - 1]]
    return np.stack([first << shift, (last + 1) << shift], axis=1)


def cone_ranges29(
    ra_deg: float, dec_deg: float, radius_deg: float, max_ranges: int = 64
) -> list[tuple[int, int]]:
    """Inclusive ``_healpix_29`` ranges covering a cone (a superset; exact distance follows).

    The cover is computed at :func:`cover_order`; see :func:`capped` for the merging.
    """
    order = cover_order(radius_deg)
    return capped(
        merged_ranges29(order, cone_cover(ra_deg, dec_deg, radius_deg, order)), max_ranges
    )


def capped(ranges29, max_ranges: int = 64) -> list[tuple[int, int]]:
    """Half-open ranges as inclusive ``(lo, hi)`` pairs, the closest merged until at most
    ``max_ranges`` remain (fewer, wider ranges keep the SQL short; wider is still a superset)."""
    ranges = [[int(a), int(b) - 1] for a, b in np.asarray(ranges29).reshape(-1, 2)]
    while len(ranges) > max_ranges:
        gaps = [ranges[i + 1][0] - ranges[i][1] for i in range(len(ranges) - 1)]
        i = int(np.argmin(gaps))
        ranges[i][1] = ranges[i + 1][1]
        del ranges[i + 1]
    return [(lo, hi) for lo, hi in ranges]


def ranges_touch(ranges29, orders, pix) -> np.ndarray:
    """Which pixels (``orders[i]``, ``pix[i]``; mixed orders allowed) meet the ranges.

    ``ranges29`` are sorted, disjoint, half-open ``_healpix_29`` ranges ``(n, 2)``, as
    :func:`merged_ranges29` returns them.
    """
    r = np.asarray(ranges29, dtype=np.int64).reshape(-1, 2)
    orders = np.asarray(orders, dtype=np.int64)
    pix = np.asarray(pix, dtype=np.int64)
    if len(r) == 0 or len(pix) == 0:
        return np.zeros(len(pix), bool)
    shift = 2 * (MAX_ORDER - orders)
    plo, phi = pix << shift, (pix + 1) << shift
    i = np.searchsorted(r[:, 1], plo, side="right")  # first range ending after the start
    ok = i < len(r)
    out = np.zeros(len(pix), bool)
    out[ok] = r[i[ok], 0] < phi[ok]
    return out
