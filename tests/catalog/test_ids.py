"""Spatial identifiers against astropy-healpix and the HTM construction."""

import astropy.units as u
import numpy as np
import pytest
from astropy_healpix import HEALPix

from cloudphot.catalog import ids


@pytest.fixture
def points():
    rng = np.random.default_rng(3)
    n = 2000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return ra, dec


def test_objid_keeps_pixel_and_serial(points):
    ra, dec = points
    p = ids.pix4096_nest(ra, dec)
    serial = np.arange(len(ra)) * 7919
    objid = ids.make_objid(p, serial)
    assert objid.dtype == np.int64 and (objid > 0).all()
    assert (ids.objid_pix4096(objid) == p).all()
    assert ((objid & (2**ids.OBJID_SERIAL_BITS - 1)) == serial).all()
    # sorting by objid sorts by level-12 pixel, as Gaia source_id does
    assert (np.diff(ids.objid_pix4096(np.sort(objid))) >= 0).all()
    with pytest.raises(ValueError):
        ids.make_objid(p[:1], np.array([2**ids.OBJID_SERIAL_BITS]))


def test_pix256_is_ring_of_order8(points):
    ra, dec = points
    nest8 = HEALPix(nside=256, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg)
    ring = HEALPix(nside=256, order="nested").nested_to_ring(nest8)
    assert (ids.pix256_ring(ra, dec) == ring).all()
    assert (ids.pix4096_nest(ra, dec) == ids.healpix29(ra, dec) >> 34).all()


def test_random_id_deterministic_uniform():
    objid = np.arange(1, 100001, dtype=np.int64) << 35
    r = ids.random_id(objid)
    assert ((r >= 0) & (r < 100)).all()
    assert (ids.random_id(objid) == r).all()
    hist, _ = np.histogram(r, bins=10, range=(0, 100))
    assert hist.min() > 9000 and hist.max() < 11000


def _trixel_vertices(htmid: int):
    path = []
    while htmid >= 16:
        path.append(htmid & 3)
        htmid >>= 2
    root = {r[0]: r[1:] for r in ids._ROOTS}[htmid]
    v = [ids._V[i].astype(float) for i in root]
    for c in reversed(path):
        w0 = (v[1] + v[2]) / np.linalg.norm(v[1] + v[2])
        w1 = (v[0] + v[2]) / np.linalg.norm(v[0] + v[2])
        w2 = (v[0] + v[1]) / np.linalg.norm(v[0] + v[1])
        v = [[v[0], w2, w1], [v[1], w0, w2], [v[2], w1, w0], [w0, w1, w2]][c]
    return v


def test_htm9_range_and_containment(points):
    ra, dec = points
    h = ids.htm9(ra, dec)
    assert ((h >= 8 * 4**9) & (h < 16 * 4**9)).all()
    xyz = ids.radec_to_xyz(ra, dec)
    for k in range(0, len(ra), 50):
        a, b, c = _trixel_vertices(int(h[k]))
        p = xyz[k]
        for s, t in ((a, b), (b, c), (c, a)):
            assert np.dot(np.cross(s, t), p) >= -1e-12
    # the M31 centre sits in the northern hemisphere: an N trixel (ids 12..15 at level 0)
    assert 12 <= int(ids.htm9([10.68], [41.27])[0]) >> 18 <= 15


@pytest.mark.parametrize("radius_arcsec", [1.0, 10.0, 60.0, 600.0])
def test_cone_ranges_cover_the_cone(radius_arcsec):
    rng = np.random.default_rng(int(radius_arcsec))
    ra0, dec0 = 10.68, 41.27
    r = radius_arcsec / 3600
    # points inside the cone, including near its edge
    n = 3000
    rho = r * np.sqrt(rng.uniform(0, 1, n)) * 0.999
    phi = rng.uniform(0, 2 * np.pi, n)
    dec = dec0 + rho * np.sin(phi)
    ra = ra0 + rho * np.cos(phi) / np.cos(np.radians(dec0))
    hp29 = ids.healpix29(ra, dec)
    ranges = ids.cone_ranges29(ra0, dec0, r)
    assert 1 <= len(ranges) <= 64
    inside = np.zeros(n, bool)
    for lo, hi in ranges:
        inside |= (hp29 >= lo) & (hp29 <= hi)
    assert inside.all()
    # and the cover is tight-ish: not the whole sky
    total = sum(hi - lo + 1 for lo, hi in ranges)
    assert total < 12 * 4**29 / 1000
