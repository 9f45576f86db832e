"""ADQL translation: TOP/OFFSET/LOG, geometry against independent computations, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from cloudphot.errors import QueryRefused
from cloudphot.service.adql import to_checked_sql

PHOT_MOD = "phat_v2.phot_mod"


def _unit(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], -1)


def _inside_convex(ra, dec, verts):
    """Independent test: inside a convex spherical polygon (counter-clockwise or not)."""
    p = _unit(np.asarray(ra), np.asarray(dec))
    v = _unit(*np.asarray(verts).T)
    signs = [np.sign(np.cross(v[i], v[(i + 1) % len(v)]) @ p.T) for i in range(len(v))]
    signs = np.array(signs)
    return np.all(signs >= 0, axis=0) | np.all(signs <= 0, axis=0)


def _objects(cat):
    t = cat.query(f"SELECT objid, ra, dec FROM {PHOT_MOD}")
    return np.asarray(t["objid"]), np.asarray(t["ra"]), np.asarray(t["dec"])


def _run(cat, adql):
    return set(np.asarray(cat.query(to_checked_sql(adql, "ADQL"))["objid"]).tolist())


def test_top_offset_and_log(demo_catalog):
    _, cat, _ = demo_catalog
    sql = to_checked_sql(f"SELECT TOP 5 objid FROM {PHOT_MOD} ORDER BY objid OFFSET 3", "ADQL")
    assert "LIMIT 5" in sql and "OFFSET 3" in sql
    first8 = cat.query(f"SELECT objid FROM {PHOT_MOD} ORDER BY objid LIMIT 8")["objid"]
    assert list(cat.query(sql)["objid"]) == list(first8[3:8])
    # ADQL LOG is natural, LOG10 decimal; TRUNCATE and CEILING are PostgreSQL's TRUNC/CEIL
    t = cat.query(
        to_checked_sql(
            f"SELECT TOP 1 LOG(100.0) AS ln, LOG10(100.0) AS lg, TRUNCATE(2.7) AS tr, "
            f"CEILING(2.1) AS ce FROM {PHOT_MOD}",
            "ADQL",
        )
    )
    assert t["ln"][0] == pytest.approx(np.log(100))
    assert t["lg"][0] == pytest.approx(2.0)
    assert t["tr"][0] == 2 and t["ce"][0] == 3


def test_polygon_matches_an_independent_point_in_polygon_test(demo_catalog):
    _, cat, _ = demo_catalog
    objid, ra, dec = _objects(cat)
    r0, d0 = float(np.median(ra)), float(np.median(dec))
    verts = [(r0 - 0.01, d0 - 0.006), (r0 + 0.012, d0 - 0.004), (r0 + 0.004, d0 + 0.009)]
    flat = ", ".join(f"{a!r}, {b!r}" for a, b in verts)
    got = _run(
        cat,
        f"SELECT objid FROM {PHOT_MOD} WHERE "
        f"CONTAINS(POINT('ICRS', ra, dec), POLYGON('ICRS', {flat})) = 1",
    )
    want = set(objid[_inside_convex(ra, dec, verts)].tolist())
    assert len(want) > 20 and got == want
    # INTERSECTS(region, POINT) is the same test; = 0 the complement
    assert got == _run(
        cat,
        f"SELECT objid FROM {PHOT_MOD} WHERE 1 = INTERSECTS(POLYGON('ICRS', {flat}), "
        f"POINT('ICRS', ra, dec))",
    )
    outside = _run(
        cat,
        f"SELECT objid FROM {PHOT_MOD} WHERE "
        f"CONTAINS(POINT('ICRS', ra, dec), POLYGON('ICRS', {flat})) = 0",
    )
    assert outside == set(objid.tolist()) - want


def test_concave_polygon(demo_catalog):
    """A chevron: the crossing count handles what a convex test cannot."""
    _, cat, _ = demo_catalog
    objid, ra, dec = _objects(cat)
    r0, d0 = float(np.median(ra)), float(np.median(dec))
    s = 0.01
    a = [(r0 - s, d0 - s), (r0, d0), (r0 - s, d0 + s)]  # left wing triangle
    b = [(r0 + s, d0 - s), (r0 + s, d0 + s), (r0, d0)]  # right wing triangle
    base = [(r0 - s, d0 - s), (r0 + s, d0 - s), (r0, d0)]  # bottom triangle
    chevron = [(r0 - s, d0 - s), (r0 + s, d0 - s), (r0 + s, d0 + s), (r0, d0), (r0 - s, d0 + s)]
    want = _inside_convex(ra, dec, a) | _inside_convex(ra, dec, b) | _inside_convex(ra, dec, base)
    flat = ", ".join(f"{x!r}, {y!r}" for x, y in chevron)
    got = _run(
        cat,
        f"SELECT objid FROM {PHOT_MOD} WHERE "
        f"CONTAINS(POINT('ICRS', ra, dec), POLYGON('ICRS', {flat})) = 1",
    )
    assert got == set(objid[want].tolist()) and len(got) > 20


def test_box_matches_tangent_plane_corners(demo_catalog):
    _, cat, _ = demo_catalog
    objid, ra, dec = _objects(cat)
    r0, d0, w, h = float(np.median(ra)), float(np.median(dec)), 0.02, 0.012
    got = _run(
        cat,
        f"SELECT objid FROM {PHOT_MOD} WHERE "
        f"CONTAINS(POINT('ICRS', ra, dec), BOX('ICRS', {r0}, {d0}, {w}, {h})) = 1",
    )
    # independent corners: a TAN (gnomonic) WCS about the centre, sides are great circles
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [r0, d0]
    wcs.wcs.crpix = [1, 1]  # 1-based: 0-based pixel (0, 0) is the centre
    wcs.wcs.cdelt = [1, 1]
    tx, ty = np.degrees(np.tan(np.radians(w / 2))), np.degrees(np.tan(np.radians(h / 2)))
    corners = wcs.wcs_pix2world([[-tx, -ty], [tx, -ty], [tx, ty], [-tx, ty]], 0)
    want = set(objid[_inside_convex(ra, dec, corners)].tolist())
    assert len(want) > 10 and got == want


def test_coord_functions_and_four_argument_distance(demo_catalog):
    _, cat, _ = demo_catalog
    t = cat.query(
        to_checked_sql(
            f"SELECT TOP 3 ra, COORD1(POINT('ICRS', ra, dec)) AS c1, "
            f"COORD2(POINT('ICRS', ra, dec)) AS c2, COORDSYS(POINT('ICRS', ra, dec)) AS cs, "
            f"DISTANCE(ra, dec, 10.68, 41.27) AS d4, "
            f"DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 10.68, 41.27)) AS d2 "
            f"FROM {PHOT_MOD}",
            "ADQL",
        )
    )
    assert list(t["c1"]) == list(t["ra"]) and set(t["cs"]) == {"ICRS"}
    assert np.allclose(t["d4"], t["d2"])


@pytest.mark.parametrize(
    "adql, why",
    [
        ("SELECT POINT('ICRS', ra, dec) FROM phat_v2.phot_mod", "cannot be returned"),
        (
            "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(POINT('GALACTIC', ra, dec), "
            "CIRCLE('GALACTIC', 1, 2, 0.1)) = 1",
            "ICRS",
        ),
        (
            "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(CIRCLE('ICRS', 1, 2, 0.1), "
            "POINT('ICRS', ra, dec)) = 1",
            "POINT and a CIRCLE",
        ),
        (
            "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(POINT('ICRS', ra, dec), "
            "POLYGON('ICRS', 1, 2, 3, 4)) = 1",
            "POLYGON takes",
        ),
        (
            "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(POINT('ICRS', ra, dec), "
            "BOX('ICRS', 1, 2, ra, 4)) = 1",
            "numeric constants",
        ),
        (
            "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(POINT('ICRS', ra, dec), "
            "POLYGON('ICRS', 0, 0, 120, 0, 240, 0)) = 1",
            "90 degrees",
        ),
        ("SELECT AREA(CIRCLE('ICRS', 1, 2, 3)) FROM phat_v2.phot_mod", "geometry"),
        ("SELECT TOP 1 * FROM a; DROP TABLE b", "2 statements"),
        ("SELEKT 1", "could not parse"),
        ("", "empty"),
    ],
)
def test_refusals_name_the_reason(adql, why):
    with pytest.raises(QueryRefused, match=why):
        to_checked_sql(adql, "ADQL")


def test_unknown_language_and_native_sql_passthrough():
    with pytest.raises(QueryRefused, match="LANG"):
        to_checked_sql("SELECT 1", "PQL")
    sql = (
        "SELECT * FROM phat_v2.phot_meas WHERE q3c_radial_query(ra,dec,11.02203,41.23451,0.2/3600)"
    )
    assert "Q3C_RADIAL_QUERY" in to_checked_sql(sql, "SQL", 11).upper()
    # LOG stays decimal in the native dialect
    assert "LN(" not in to_checked_sql("SELECT log(2.0) FROM phat_v2.phot_mod", "SQL")
