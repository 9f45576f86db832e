"""HEALPix covers are conservative everywhere: at the poles, on RA = 0/360 and on pixel edges.

Issue 15.1: astropy-healpix's cone search, which the partition pruning and the
``_healpix_29`` ranges trusted, misses pixels near the poles, so cones in the
Dec > 89.5 cap lost rows. Every point drawn inside a cone here must fall in a pixel
of the cone's cover (points are assigned to pixels by astropy-healpix, the same
function that computes the catalog's ``_healpix_29``).
"""

import astropy.units as u
import numpy as np
import pytest
from astropy_healpix import HEALPix

from cloudphot.catalog import covers, ids
from cloudphot.catalog.query import Cone, IdPixels, partitions_touched, restriction_ranges


def _xyz(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], -1)


def _radec(v):
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360, np.degrees(
        np.arcsin(np.clip(v[..., 2], -1, 1))
    )


def points_in_cone(rng, ra0, dec0, r_deg, n):
    """Random points within ``r_deg`` of the centre, a third of them on the rim."""
    c = _xyz(ra0, dec0)
    a = np.cross(c, [0.0, 0.0, 1.0] if abs(c[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(c, a)
    theta = np.radians(r_deg) * np.sqrt(rng.random(n))
    theta[: n // 3] = np.radians(r_deg) * (1 - 1e-9)
    phi = rng.uniform(0, 2 * np.pi, n)
    t = np.cos(phi)[:, None] * a + np.sin(phi)[:, None] * b
    return _radec(np.cos(theta)[:, None] * c + np.sin(theta)[:, None] * t)


def _cones(rng, n, where):
    """(ra, dec, radius_deg) of hostile cones: polar caps, the RA wrap, pixel corners/edges."""
    r = 10 ** rng.uniform(np.log10(1 / 3600), np.log10(0.5), n)
    if where == "pole":
        dec = rng.uniform(89.5, 90.0, n) * rng.choice([-1, 1], n)
        dec[:5] = [90.0, -90.0, 89.99999, 90 - 1e-9, -89.9]
        return rng.uniform(0, 360, n), dec, r
    if where == "wrap":
        ra = rng.normal(0, 0.2, n) % 360
        ra[:3] = [0.0, 359.9999999, 1e-9]
        return ra, rng.uniform(-89, 89, n), r
    # pixel corners and edge points at random orders, near the poles, the polar-cap
    # boundary (Dec = +-41.8) and the equator
    out_ra, out_dec = [], []
    for i in range(n):
        k = int(rng.integers(0, 16))
        hp = HEALPix(nside=2**k, order="nested")
        zone = rng.choice([89.8, 41.81, 0.0, -41.81, -89.8])
        pix = int(hp.lonlat_to_healpix(rng.uniform(0, 360) * u.deg, zone * u.deg))
        lon, lat = hp.boundaries_lonlat([pix], step=4)
        j = i % lon.shape[1]
        out_ra.append(lon[0, j].to_value(u.deg))
        out_dec.append(lat[0, j].to_value(u.deg))
    return np.array(out_ra), np.array(out_dec), r


def test_pixel_centres_match_astropy_healpix():
    rng = np.random.default_rng(0)
    for k in range(0, 30):
        hp = HEALPix(nside=2**k, order="nested")
        npix = 12 * 4**k
        pix = np.unique(np.r_[rng.integers(0, npix, 2000), np.arange(min(npix, 500)), npix - 1])
        lon, lat = hp.healpix_to_lonlat(pix)
        want = _xyz(lon.to_value(u.deg), lat.to_value(u.deg))
        assert np.abs(covers.pixel_xyz(k, pix) - want).max() < 1e-14, k


@pytest.mark.parametrize("order", range(0, 6))
def test_max_pixrad_bounds_every_pixel(order):
    """The proof's one premise, on densely sampled boundaries of every pixel."""
    hp = HEALPix(nside=2**order, order="nested")
    pix = np.arange(hp.npix)
    blon, blat = hp.boundaries_lonlat(pix, step=24)
    b = _xyz(blon.to_value(u.deg), blat.to_value(u.deg))
    c = covers.pixel_xyz(order, pix)[:, None, :]
    d = 2 * np.arcsin(np.linalg.norm(b - c, axis=-1) / 2)
    assert d.max() <= covers.max_pixrad(order) * (1 + 1e-12)
    assert d.max() >= covers.max_pixrad(order) * (1 - 1e-3)  # and it is the maximum


def test_max_pixrad_bounds_deep_pixels_at_poles_and_cap_edges():
    rng = np.random.default_rng(1)
    for order in (8, 12, 16, 20, 24, 29):
        hp = HEALPix(nside=2**order, order="nested")
        lat = rng.choice([89.99, -89.99, 90.0, 41.81, -41.81, 0.0], 400) + rng.normal(0, 1e-3, 400)
        pix = np.unique(
            hp.lonlat_to_healpix(rng.uniform(0, 360, 400) * u.deg, lat.clip(-90, 90) * u.deg)
        )
        blon, blat = hp.boundaries_lonlat(pix, step=16)
        b = _xyz(blon.to_value(u.deg), blat.to_value(u.deg))
        d = np.linalg.norm(b - covers.pixel_xyz(order, pix)[:, None, :], axis=-1)
        assert (2 * np.arcsin(d / 2)).max() <= covers.max_pixrad(order) * (1 + 1e-9), order


@pytest.mark.parametrize("where", ["pole", "wrap", "edges"])
def test_cone_ranges_contain_every_point_of_the_cone(where):
    """The ``_healpix_29`` ranges in the SQL (failed at the pole before covers.py)."""
    rng = np.random.default_rng({"pole": 11, "wrap": 12, "edges": 13}[where])
    ra0, dec0, r = _cones(rng, 250, where)
    for a, d, rad in zip(ra0, dec0, r):
        pra, pdec = points_in_cone(rng, a, d, rad, 300)
        hp29 = ids.healpix29(pra, pdec)
        ranges = np.array(ids.cone_ranges29(a, d, rad))
        i = np.searchsorted(ranges[:, 1], hp29)
        assert ((i < len(ranges)) & (ranges[np.minimum(i, len(ranges) - 1), 0] <= hp29)).all(), (
            a,
            d,
            rad * 3600,
        )


@pytest.mark.parametrize("where", ["pole", "wrap", "edges"])
@pytest.mark.parametrize("order", [3, 7, 10, 12])
def test_partition_pruning_keeps_every_partition_the_cone_touches(where, order):
    rng = np.random.default_rng(order * 10 + len(where))
    ra0, dec0, r = _cones(rng, 60, where)
    hp = HEALPix(nside=2**order, order="nested")
    for a, d, rad in zip(ra0, dec0, r):
        pra, pdec = points_in_cone(rng, a, d, rad, 300)
        need = np.unique(hp.lonlat_to_healpix(pra * u.deg, pdec * u.deg))
        # the partitions that exist: those the points are in, and a ring of others
        with np.errstate(invalid="ignore"):  # -1 where a base-pixel corner has 7
            ring = np.asarray(hp.neighbours(need)).ravel()
        have = np.unique(np.r_[need, ring[ring >= 0]])
        got = set(partitions_touched(have, order, Cone(a, d, rad)))
        assert set(need.tolist()) <= got, (a, d, rad * 3600)
        # and the cover stays a few times the cone (or one cover pixel), not the sky
        ranges = restriction_ranges(Cone(a, d, rad))
        area = (ranges[:, 1] - ranges[:, 0]).sum() * 4 * np.pi / (12 * 4.0**29)
        pixel = 4 * np.pi / (12 * 4.0 ** covers.cover_order(rad))
        assert area <= 25 * max(2 * np.pi * (1 - np.cos(np.radians(rad))), pixel)


def test_mixed_order_partitions():
    """Adaptive HATS partitions mix orders: a cone touches the coarse and the fine ones."""
    # order 5 pixel 0 split into its children at order 6, except child 3 split again
    parts = [(6, 0), (6, 1), (6, 2)] + [(7, 12 + i) for i in range(4)] + [(5, 1), (5, 2)]
    orders = [k for k, _ in parts]
    pixels = [p for _, p in parts]
    hp7 = HEALPix(nside=2**7, order="nested")
    lon, lat = hp7.healpix_to_lonlat([13])
    cone = Cone(float(lon.to_value(u.deg)[0]), float(lat.to_value(u.deg)[0]), 0.01)
    hit = covers.ranges_touch(restriction_ranges(cone), orders, pixels)
    assert [parts[i] for i in np.flatnonzero(hit)] == [(7, 13)]
    # a cone over the whole area touches all of them (the parts lie at Dec ~2 deg: a cone
    # at Dec 80 touched them only through a coarse cover's overshoot, and must not now)
    ra0, dec0 = float(lon.to_value(u.deg)[0]), float(lat.to_value(u.deg)[0])
    wide = restriction_ranges(Cone(ra0, dec0, 10.0))
    assert covers.ranges_touch(wide, orders, pixels).all()
    far = restriction_ranges(Cone(ra0, 80.0, 30.0))
    assert not covers.ranges_touch(far, orders, pixels).any()


def test_objid_cover_holds_rows_that_drifted_from_the_first_position():
    """An objid's rows lie within OBJID_DRIFT of its level-12 pixel, also at the pole."""
    from cloudphot.catalog.query import OBJID_DRIFT_ARCSEC

    rng = np.random.default_rng(5)
    hp12 = HEALPix(nside=4096, order="nested")
    for dec in (90.0, -89.999, 89.9, 41.81, 0.0):
        ra = rng.uniform(0, 360, 50)
        first = hp12.lonlat_to_healpix(ra * u.deg, np.full(50, dec) * u.deg)
        for p, a in zip(first, ra):
            pra, pdec = points_in_cone(rng, a, dec, OBJID_DRIFT_ARCSEC / 3600 * 0.999, 50)
            for order in (8, 10, 12, 14):
                hp = HEALPix(nside=2**order, order="nested")
                need = {int(q) for q in hp.lonlat_to_healpix(pra * u.deg, pdec * u.deg)}
                got = set(partitions_touched(need | {0}, order, IdPixels(frozenset([int(p)]))))
                assert need <= got


def test_invalid_radius_is_an_error():
    for r in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError, match="radius"):
            covers.cone_cover(10.0, 20.0, r, 10)


def test_whole_sky_and_zero_radius():
    assert len(covers.cone_cover(0.0, 0.0, 180.0, 2)) == 12 * 16
    assert len(covers.cone_cover(10.0, 20.0, 0.0, 29)) >= 1


@pytest.mark.parametrize("where", ["pole", "wrap", "edges"])
def test_query_cone_ranges_contain_every_point_and_wide_cones_are_tighter(where):
    """The ranges the DuckDB SQL carries (``Cone.ranges``, capped): every point of the cone
    is inside them; cones of 5" and more are covered two orders deeper than
    ``cover_order``, so their cover meets fewer row groups (and is never larger)."""
    from cloudphot.catalog.query import FINE_COVER_DEG

    rng = np.random.default_rng({"pole": 21, "wrap": 22, "edges": 23}[where])
    ra0, dec0, r = _cones(rng, 150, where)
    tighter = 0
    for a, d, rad in zip(ra0, dec0, r):
        got = Cone(a, d, rad).ranges()
        capped = np.array(covers.capped(got))
        pra, pdec = points_in_cone(rng, a, d, rad, 300)
        hp29 = ids.healpix29(pra, pdec)
        for ranges in (got, np.c_[capped[:, 0], capped[:, 1] + 1]):
            i = np.searchsorted(ranges[:, 1], hp29, side="right")
            ok = (i < len(ranges)) & (ranges[np.minimum(i, len(ranges) - 1), 0] <= hp29)
            assert ok.all(), (a, d, rad * 3600)
        order = covers.cover_order(rad)
        coarse = covers.merged_ranges29(order, covers.cone_cover(a, d, rad, order))
        area, coarse_area = (np.diff(x, axis=1).sum() for x in (got, coarse))
        assert area <= coarse_area
        if rad >= FINE_COVER_DEG:
            tighter += area < coarse_area
    assert tighter > 0.8 * (r >= FINE_COVER_DEG).sum()
