"""Spatial identifiers of the photometry database.

Positions become HEALPix indices through astropy-healpix (as HATS/LSDB do); the covers
that queries prune with are :mod:`.covers` (conservative at the poles, and no astropy
import on the query path).

HTM is written here (``htm9``) because no maintained, pip-installable HTM library
exists for Python 3.11 (esutil's HTM needs a C++ build and is not on the image);
the algorithm is the published one (Kunszt, Szalay & Thakar 2001; the SDSS
``htmIndex`` code): eight octahedron faces S0..S3, N0..N3 numbered 8..15, each
split recursively into four children by edge midpoints.

Identifiers
-----------
``objid``      Gaia-style: ``pix4096_nest << 35 | serial``. The HEALPix level-12
               (NSIDE 4096, NESTED) index of the object's *first* position sits in
               the high bits, so sorting by position also sorts by id and an id
               lookup prunes row groups like a position lookup.
``random_id``  a deterministic pseudo-random float in [0, 100) from ``objid``
               (Data Lab convention: select a random 1 % with ``random_id < 1``).
``htm9``       HTM level-9 trixel id (2**21 .. 2**22 - 1).
``pix256``     HEALPix NSIDE 256, RING.
``pix4096``    HEALPix NSIDE 4096, NESTED.
``_healpix_29`` HEALPix order 29, NESTED: the HATS spatial index column.
"""

from __future__ import annotations

import numpy as np

from .covers import cone_ranges29

__all__ = [
    "HATS_ORDER",
    "OBJID_SERIAL_BITS",
    "cone_ranges29",
    "healpix29",
    "healpix_nest",
    "htm9",
    "htm_id",
    "make_objid",
    "objid_pix4096",
    "pix256_ring",
    "pix4096_nest",
    "radec_to_xyz",
    "random_id",
]

#: low bits of ``objid`` holding the serial number within a level-12 pixel (as Gaia DR3)
OBJID_SERIAL_BITS = 35
#: order of the HATS spatial index column ``_healpix_29``
HATS_ORDER = 29

_HP: dict = {}


def _healpix(order: int, scheme: str = "nested"):
    """astropy-healpix's HEALPix at ``order`` (imported on first use: astropy is slow to
    import, and the query path needs none of it, see :mod:`.covers`)."""
    key = (order, scheme)
    if key not in _HP:
        from astropy_healpix import HEALPix

        _HP[key] = HEALPix(nside=2**order, order=scheme)
    return _HP[key]


def _lonlat_to_healpix(hp, ra_deg, dec_deg) -> np.ndarray:
    import astropy.units as u

    ra = np.asarray(ra_deg, dtype=float)
    dec = np.asarray(dec_deg, dtype=float)
    return np.asarray(hp.lonlat_to_healpix(ra * u.deg, dec * u.deg), dtype=np.int64)


def healpix_nest(ra_deg, dec_deg, order: int) -> np.ndarray:
    """NESTED HEALPix index at ``order`` (NSIDE = 2**order) of ICRS positions in degrees."""
    return _lonlat_to_healpix(_healpix(order), ra_deg, dec_deg)


def pix256_ring(ra_deg, dec_deg) -> np.ndarray:
    """HEALPix NSIDE 256 RING index (Data Lab ``pix256``)."""
    return _lonlat_to_healpix(_healpix(8, "ring"), ra_deg, dec_deg)


def pix4096_nest(ra_deg, dec_deg) -> np.ndarray:
    """HEALPix NSIDE 4096 NESTED index (Data Lab ``pix4096``)."""
    return healpix_nest(ra_deg, dec_deg, 12)


def healpix29(ra_deg, dec_deg) -> np.ndarray:
    """HEALPix order-29 NESTED index: the HATS ``_healpix_29`` column."""
    return healpix_nest(ra_deg, dec_deg, HATS_ORDER)


def make_objid(pix4096: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Compose object ids from the level-12 pixel and a serial number within it."""
    serial = np.asarray(serial, dtype=np.int64)
    if np.any(serial < 0) or np.any(serial >= 2**OBJID_SERIAL_BITS):
        raise ValueError("objid serial out of range")
    return (np.asarray(pix4096, dtype=np.int64) << OBJID_SERIAL_BITS) | serial


def objid_pix4096(objid) -> np.ndarray:
    """The level-12 NESTED pixel encoded in ``objid`` (where the object was first seen)."""
    return np.asarray(objid, dtype=np.int64) >> OBJID_SERIAL_BITS


def random_id(objid) -> np.ndarray:
    """Deterministic uniform float in [0, 100) per object (splitmix64 of ``objid``).

    Deterministic so that a rebuild or a new catalog version keeps every object's
    ``random_id``, and random subsamples stay the same sample.
    """
    z = np.asarray(objid, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53) * 100.0


def radec_to_xyz(ra_deg, dec_deg) -> np.ndarray:
    """Unit vectors, shape (N, 3)."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


_V = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=float)
# (id, v0, v1, v2) of the eight root trixels, from the SDSS htmIndex anchor table
_ROOTS = [
    (8, 1, 5, 2),
    (9, 2, 5, 3),
    (10, 3, 5, 4),
    (11, 4, 5, 1),  # S0..S3
    (12, 1, 0, 4),
    (13, 4, 0, 3),
    (14, 3, 0, 2),
    (15, 2, 0, 1),  # N0..N3
]


def _inside(p, a, b, c, eps=-1e-15):
    return (
        (np.einsum("ij,ij->i", np.cross(a, b), p) >= eps)
        & (np.einsum("ij,ij->i", np.cross(b, c), p) >= eps)
        & (np.einsum("ij,ij->i", np.cross(c, a), p) >= eps)
    )


def _unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def htm_id(ra_deg, dec_deg, level: int) -> np.ndarray:
    """HTM trixel ids at ``level`` (vectorised; level 9 -> 2**21 .. 2**22 - 1)."""
    p = radec_to_xyz(ra_deg, dec_deg).reshape(-1, 3)
    n = len(p)
    ids = np.zeros(n, dtype=np.int64)
    v0 = np.empty((n, 3))
    v1 = np.empty((n, 3))
    v2 = np.empty((n, 3))
    found = np.zeros(n, dtype=bool)
    for rid, a, b, c in _ROOTS:
        A = np.broadcast_to(_V[a], (n, 3))
        B = np.broadcast_to(_V[b], (n, 3))
        C = np.broadcast_to(_V[c], (n, 3))
        m = ~found & _inside(p, A, B, C)
        ids[m] = rid
        v0[m] = _V[a]
        v1[m] = _V[b]
        v2[m] = _V[c]
        found |= m
    for _ in range(level):
        w0 = _unit(v1 + v2)
        w1 = _unit(v0 + v2)
        w2 = _unit(v0 + v1)
        children = [(v0, w2, w1), (v1, w0, w2), (v2, w1, w0), (w0, w1, w2)]
        # child 3 (the central one) is the default when the edge tests are ambiguous
        child = np.full(n, 3, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        for k in range(3):
            a, b, c = children[k]
            m = ~done & _inside(p, a, b, c, eps=0.0)
            child[m] = k
            done |= m
        nv0 = np.where(
            (child == 0)[:, None],
            v0,
            np.where((child == 1)[:, None], v1, np.where((child == 2)[:, None], v2, w0)),
        )
        nv1 = np.where(
            (child == 0)[:, None],
            w2,
            np.where((child == 1)[:, None], w0, np.where((child == 2)[:, None], w1, w1)),
        )
        nv2 = np.where(
            (child == 0)[:, None],
            w1,
            np.where((child == 1)[:, None], w2, np.where((child == 2)[:, None], w0, w2)),
        )
        v0, v1, v2 = nv0, nv1, nv2
        ids = ids * 4 + child
    return ids


def htm9(ra_deg, dec_deg) -> np.ndarray:
    """HTM level-9 id (Data Lab ``htm9``)."""
    return htm_id(ra_deg, dec_deg, 9)
