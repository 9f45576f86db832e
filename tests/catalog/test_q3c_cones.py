"""Cones at the poles, on RA = 0/360 and on partition edges: the same rows as PostgreSQL + Q3C.

Issue 15.1: cones in the Dec > 89.5 cap lost rows silently (the HEALPix covers were
not conservative). Here two catalogs of different shapes, each loaded into
PostgreSQL 15 + Q3C from the very Parquet partitions cloudphot queries, answer
well over a thousand cones each, and every row set must be identical:

- the dense M31 field of the other tests (:mod:`cloudphot.catalog.synthetic`);
- a sparse multi-region sky from an independent generator
  (``benchmarks/sparse_sky.py``: an RA-wrap region, both polar caps, stars exactly
  on HEALPix edges, duplicate positions, NaN magnitudes).

Cones are q3c_radial_query on phot_mod and phot_meas and ADQL CONTAINS, with centres
given as RA < 0 or >= 360 on the wrap, objid lookups, and a cross-match. Skipped
when PostgreSQL, q3c or psycopg are absent (.ci/run installs them).
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudphot.catalog._postgres import TempPostgres, q3c_available

psycopg = pytest.importorskip("psycopg")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not q3c_available(), reason="PostgreSQL 15 + q3c not installed"),
]


@pytest.fixture(scope="module")
def shapes(built, sparse):
    return {"dense": built[1], "sparse": sparse}


@pytest.fixture(scope="module")
def pg(shapes):
    with TempPostgres() as server:
        conn = server.connect()
        for name, cat in shapes.items():
            for table in ("phot_mod", "phot_meas"):
                server.load_table(conn, name, table, cat.engine.files(table))
        yield conn
        conn.close()


def _pg_rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _objects(cat):
    t = cat.query("SELECT objid, ra, dec FROM phat_v2.phot_mod")
    return np.asarray(t["objid"]), np.asarray(t["ra"], float), np.asarray(t["dec"], float)


def _edge_centres(cat, rng, n):
    """Points on the catalog's partition boundaries (corners and edges), near its objects."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    order = int(cat.manifest()["partition_order"])
    hp = HEALPix(nside=2**order, order="nested")
    _, ra, dec = _objects(cat)
    pick = rng.integers(0, len(ra), n)
    pix = hp.lonlat_to_healpix(ra[pick] * u.deg, dec[pick] * u.deg)
    lon, lat = hp.boundaries_lonlat(pix, step=8)
    j = rng.integers(0, lon.shape[1], n)
    return lon.to_value(u.deg)[np.arange(n), j], lat.to_value(u.deg)[np.arange(n), j]


def _cones(cat, shape, rng):
    """(label, ra, dec, radius_deg) of the cones asked of one catalog."""
    _, ra, dec = _objects(cat)
    out = []

    def radii(n):
        return 10 ** rng.uniform(np.log10(1 / 3600), np.log10(0.5), n)

    def near_objects(mask, n, label):
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        pick = rng.choice(idx, n)
        r = radii(n)
        # centres within the radius of a real object (so most cones hold rows)
        off = r * np.sqrt(rng.random(n)) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
        cd = np.cos(np.radians(np.clip(dec[pick], -89.999, 89.999)))
        c_ra = (ra[pick] + off.real / cd) % 360
        c_dec = np.clip(dec[pick] + off.imag, -90, 90)
        out.extend(zip([label] * n, c_ra, c_dec, r))

    if shape == "sparse":
        near_objects(dec > 89.5, 260, "north cap")
        near_objects(dec < -89.5, 100, "south cap")
        out.extend(zip(["pole itself"] * 40, rng.uniform(0, 360, 40), [90.0] * 40, radii(40)))
        near_objects((ra < 0.3) | (ra > 359.7), 300, "RA wrap")
        near_objects((np.abs(dec - 41.8103) < 0.3), 150, "cap boundary edge stars")
    else:
        near_objects(np.ones(len(ra), bool), 300, "field")
    e_ra, e_dec = _edge_centres(cat, rng, 300 if shape == "sparse" else 400)
    out.extend(zip(["partition edge"] * len(e_ra), e_ra, e_dec, radii(len(e_ra))))
    return out


def _sql_forms(i, ra0, dec0, r):
    """Our SQL and PostgreSQL's for one cone, cycling through the spellings."""
    ra0, dec0, r = float(ra0), float(dec0), float(r)
    shown_ra = ra0
    if i % 5 == 3 and ra0 > 180:
        shown_ra = ra0 - 360  # RA given below 0
    elif i % 5 == 4 and ra0 < 180:
        shown_ra = ra0 + 360  # or above 360
    if i % 3 == 0:
        ours = (
            f"SELECT objid FROM phat_v2.phot_mod WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {shown_ra!r}, {dec0!r}, {r!r}))"
        )
    else:
        ours = (
            f"SELECT objid FROM phat_v2.phot_mod WHERE "
            f"q3c_radial_query(ra, dec, {shown_ra!r}, {dec0!r}, {r!r})"
        )
    theirs = f"SELECT objid FROM {{schema}}.phot_mod WHERE q3c_radial_query(ra, dec, {ra0!r}, {dec0!r}, {r!r})"
    return ours, theirs


@pytest.mark.parametrize("shape", ["sparse", "dense"])
def test_cones_return_the_rows_q3c_returns(shapes, pg, shape):
    cat = shapes[shape]
    rng = np.random.default_rng(1515)
    cones = _cones(cat, shape, rng)
    assert len(cones) >= 700
    differing, nonempty = [], 0
    for i, (label, ra0, dec0, r) in enumerate(cones):
        ours_sql, theirs_sql = _sql_forms(i, ra0, dec0, r)
        ours = sorted(int(o) for o in cat.query(ours_sql)["objid"])
        theirs = sorted(row[0] for row in _pg_rows(pg, theirs_sql.format(schema=shape)))
        nonempty += bool(theirs)
        if ours != theirs:
            differing.append((label, ra0, dec0, r * 3600, len(ours), len(theirs)))
    assert not differing, f"{len(differing)} of {len(cones)} cones differ: {differing[:5]}"
    assert nonempty > len(cones) // 2  # the cones do hold rows


@pytest.mark.parametrize("shape", ["sparse", "dense"])
def test_measurement_cones_and_objid_lookups_match_q3c(shapes, pg, shape):
    cat = shapes[shape]
    rng = np.random.default_rng(77)
    cones = _cones(cat, shape, rng)[::3]
    differing = []
    for label, ra0, dec0, r in cones:
        ra0, dec0, r = float(ra0), float(dec0), min(float(r), 0.05)
        q = f"q3c_radial_query(ra, dec, {ra0!r}, {dec0!r}, {r!r})"
        ours = cat.query(f"SELECT objid, mjd, filter FROM phat_v2.phot_meas WHERE {q}")
        mine = sorted(zip(map(int, ours["objid"]), np.round(ours["mjd"], 6), ours["filter"]))
        rows = _pg_rows(pg, f"SELECT objid, mjd, filter FROM {shape}.phot_meas WHERE {q}")
        theirs = sorted((o, round(m, 6), f) for o, m, f in rows)
        if mine != theirs:
            differing.append((label, ra0, dec0, r * 3600, len(mine), len(theirs)))
    assert not differing, f"{len(differing)} of {len(cones)} cones differ: {differing[:5]}"
    # light curves by objid, for objects at the poles, the wrap and partition edges
    oid, ra, dec = _objects(cat)
    hard = np.flatnonzero((np.abs(dec) > 89.5) | (ra < 0.3) | (ra > 359.7))
    pick = np.r_[rng.choice(hard, min(len(hard), 150)), rng.integers(0, len(oid), 150)]
    for o in oid[pick]:
        n = len(cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid = {int(o)}"))
        assert n == _pg_rows(pg, f"SELECT count(*) FROM {shape}.phot_meas WHERE objid = {o}")[0][0]


def test_crossmatch_at_the_pole_and_on_the_wrap_matches_q3c_join(shapes, pg):
    cat = shapes["sparse"]
    rng = np.random.default_rng(9)
    _, ra, dec = _objects(cat)
    hard = np.flatnonzero((np.abs(dec) > 89.5) | (ra < 0.3) | (ra > 359.7))
    pick = rng.choice(hard, 1500)
    cd = np.cos(np.radians(np.clip(dec[pick], -89.9999, 89.9999)))
    xra = (ra[pick] + rng.normal(0, 0.5, len(pick)) / 3600 / cd) % 360
    xdec = np.clip(dec[pick] + rng.normal(0, 0.5, len(pick)) / 3600, -90, 90)
    got = cat.crossmatch(xra, xdec, radius_arcsec=1.0)
    mine = {int(i): int(o) for i, o in zip(got["index"], got["objid"])}
    with pg.cursor() as cur:
        cur.execute("CREATE TEMP TABLE up (idx int, ra float8, dec float8)")
        with cur.copy("COPY up FROM STDIN") as cp:
            for i, (a, d) in enumerate(zip(xra, xdec)):
                cp.write_row((i, float(a), float(d)))
    rows = _pg_rows(
        pg,
        "SELECT DISTINCT ON (u.idx) u.idx, m.objid FROM up u JOIN sparse.phot_mod m "
        "ON q3c_join(u.ra, u.dec, m.ra, m.dec, 1/3600.) "
        "ORDER BY u.idx, q3c_dist(u.ra, u.dec, m.ra, m.dec), m.objid",
    )
    assert mine == dict(rows) and len(mine) > 500
