"""The query path: hostile SQL refused with reasons; spatial rewrites exact and pruning."""

import numpy as np
import pytest

from cloudphot.catalog import ids
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.query import QueryTimeout, check_and_rewrite
from cloudphot.errors import QueryRefused

REFUSED = {
    "DROP TABLE phat_v2.phot_mod": "DROP is not allowed",
    "CREATE TABLE x AS SELECT * FROM phat_v2.phot_mod": "CREATE is not allowed",
    "INSERT INTO phat_v2.phot_mod (ra) VALUES (1)": "INSERT is not allowed",
    "UPDATE phat_v2.phot_mod SET ra = 0": "UPDATE is not allowed",
    "DELETE FROM phat_v2.phot_mod": "DELETE is not allowed",
    "SELECT 1; DROP TABLE phat_v2.phot_mod": "2 statements",
    "SELECT 1; SELECT 2": "2 statements",
    "SELECT * FROM read_csv('/etc/passwd')": "table function read_csv() is not allowed",
    "SELECT * FROM read_parquet('/tmp/x.parquet')": "table function",
    "SELECT * FROM read_csv_auto('s3://bucket/x.csv')": "table function",
    "SELECT * FROM 'https://example.com/x.parquet'": "not in the catalog",
    "SELECT * FROM glob('/etc/*')": "table function glob() is not allowed",
    "SELECT read_text('/etc/passwd')": "allow-list",
    "SELECT getenv('HOME')": "allow-list",
    "SELECT current_setting('threads')": "allow-list",
    "SELECT pg_read_file('/etc/passwd')": "allow-list",
    "COPY phat_v2.phot_mod TO '/tmp/out.csv'": "COPY is not allowed",
    "ATTACH '/tmp/other.db' AS other": "ATTACH is not allowed: no other database",
    "INSTALL httpfs": "INSTALL is not allowed: extensions cannot be installed",
    "FORCE INSTALL httpfs": "FORCE INSTALL is not allowed",
    "LOAD httpfs": "LOAD is not allowed: extensions cannot be loaded",
    "DETACH other": "DETACH is not allowed",
    "EXPORT DATABASE '/tmp/x'": "EXPORT is not allowed: queries cannot write files",
    "CALL pragma_version()": "CALL is not allowed",
    "VALUES (1)": "VALUES is not allowed",
    "SELECT 'abc": "could not read it",
    "SELECT version()": "function version() is not on the allow-list",
    "PRAGMA database_list": "PRAGMA is not allowed",
    "SET threads = 64": "SET is not allowed",
    "SELECT * INTO newtable FROM phat_v2.phot_mod": "INTO",
    "SELECT * FROM pg_catalog.pg_tables": "not in the catalog",
    "SELECT * FROM information_schema.tables": "not in the catalog",
    "SELECT * FROM other.phot_mod": "not in the catalog",
    "SELECT * FROM phat_v2.phot_mod LIMIT 100000000": "exceeds the per-query row limit",
    "": "empty",
    "SELECT * FROM phat_v2.phot_mod WHERE CONTAINS(POINT('GALACTIC', ra, dec), "
    "CIRCLE('GALACTIC', 1, 2, 0.1)) = 1": "coordinate system",
    "SELECT POINT('ICRS', ra, dec) FROM phat_v2.phot_mod": "CONTAINS(POINT(...), CIRCLE(...)) = 1",
}


@pytest.mark.parametrize("sql,reason", list(REFUSED.items()))
def test_hostile_sql_is_refused(built, sql, reason):
    _, cat, _, _ = built
    with pytest.raises(QueryRefused, match="query refused") as info:
        cat.query(sql)
    assert reason in str(info.value)


def test_refusal_happens_before_anything_runs(built):
    # the checker alone refuses (no engine needed), and names the offending function
    with pytest.raises(QueryRefused, match="read_text"):
        check_and_rewrite("SELECT read_text('x')", "phat_v2")


def test_engine_itself_cannot_reach_files(built):
    """Defence in depth: even SQL we generate cannot read outside the catalog folder."""
    import duckdb

    _, cat, _, _ = built
    with pytest.raises(duckdb.PermissionException):
        cat.engine._con.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(duckdb.Error):
        cat.engine._con.execute("SET enable_external_access = true")


def test_cartesian_join_hits_the_timeout(built):
    settings, _, _, _ = built
    with Catalog(settings, timeout_s=0.5) as cat, pytest.raises(QueryTimeout, match="timeout"):
        cat.query(
            "SELECT count(*) FROM phat_v2.phot_meas a, phat_v2.phot_meas b, "
            "phat_v2.phot_meas c WHERE a.mjd + b.mjd > c.mjd"
        )


def test_row_limit_truncates_unbounded_results(built):
    settings, _, _, _ = built
    with Catalog(settings, max_rows=50) as cat:
        t = cat.query("SELECT objid FROM phat_v2.phot_meas")
        assert len(t) == 50 and t.meta["TRUNC"] is True
        t = cat.query("SELECT objid FROM phat_v2.phot_mod LIMIT 20")
        assert len(t) == 20 and t.meta["TRUNC"] is False


def _brute(cat, table, ra0, dec0, r_deg):
    t = cat.query(
        f"SELECT objid, ra, dec, mjd FROM phat_v2.{table}"
        if table == "phot_meas"
        else f"SELECT objid, ra, dec FROM phat_v2.{table}"
    )
    ra, dec = np.radians(t["ra"]), np.radians(t["dec"])
    a, d = np.radians(ra0), np.radians(dec0)
    h = np.sin((dec - d) / 2) ** 2 + np.cos(dec) * np.cos(d) * np.sin((ra - a) / 2) ** 2
    dist = np.degrees(2 * np.arcsin(np.sqrt(h)))
    return t[dist <= r_deg]


@pytest.mark.parametrize("radius_arcsec", [1.0, 5.0, 20.0, 120.0])
def test_cone_matches_brute_force(built, radius_arcsec):
    _, cat, _, _ = built
    ra0, dec0, r = 10.692, 41.276, radius_arcsec / 3600
    expect = _brute(cat, "phot_mod", ra0, dec0, r)
    q3c = cat.query(
        f"SELECT objid FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {ra0}, {dec0}, {r})"
    )
    adql = cat.query(
        f"SELECT objid FROM phat_v2.phot_mod WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        f"CIRCLE('ICRS', {ra0}, {dec0}, {r}))"
    )
    api = cat.cone(ra0, dec0, radius_arcsec)
    assert (
        sorted(q3c["objid"])
        == sorted(expect["objid"])
        == sorted(adql["objid"])
        == sorted(api["objid"])
    )
    assert (np.diff(api["dist_arcsec"]) >= 0).all() and (api["dist_arcsec"] <= radius_arcsec).all()


def test_cone_on_measurements_and_distance_functions(built):
    _, cat, _, _ = built
    ra0, dec0, r = 10.69, 41.275, 8 / 3600
    expect = _brute(cat, "phot_meas", ra0, dec0, r)
    got = cat.query(
        f"SELECT objid, mjd, q3c_dist(ra, dec, {ra0}, {dec0}) AS d, "
        f"DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', {ra0}, {dec0})) AS d2 "
        f"FROM phat_v2.phot_meas WHERE q3c_radial_query(ra, dec, {ra0}, {dec0}, {r})"
    )
    assert len(got) == len(expect) > 0
    assert np.allclose(got["d"], got["d2"]) and (np.asarray(got["d"]) <= r).all()


def test_cone_prunes_partitions_and_uses_index_ranges(built):
    _, cat, _, _ = built
    sql = cat.engine.to_duckdb(
        "SELECT * FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, 11.02203, 41.23451, 1/3600.)"
    )
    assert "_healpix_29 BETWEEN" in sql
    all_files = cat.engine.files("phot_mod")
    used = [f for f in all_files if f in sql]
    assert len(all_files) >= 2 and len(used) == 1
    # a cone outside the survey reads no partition and returns no rows (with the columns)
    t = cat.query("SELECT * FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, 200, -30, 0.01)")
    assert len(t) == 0 and "objid" in t.colnames
    # a cone inside an OR must not narrow partitions (it is not a restriction of the table)
    sql = cat.engine.to_duckdb(
        "SELECT objid FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, 11.02203, 41.23451, "
        "1/3600.) OR objid = 5"
    )
    assert all(f in sql for f in all_files)


def test_q3c_join_matches_kdtree(built):
    from scipy.spatial import cKDTree

    _, cat, _, _ = built
    r_arcsec = 20.0
    got = cat.query(
        f"SELECT a.objid AS a, b.objid AS b FROM phat_v2.phot_mod a, phat_v2.phot_mod b "
        f"WHERE q3c_join(a.ra, a.dec, b.ra, b.dec, {r_arcsec}/3600.) AND a.objid < b.objid"
    )
    t = cat.query("SELECT objid, ra, dec FROM phat_v2.phot_mod")
    xyz = ids.radec_to_xyz(t["ra"], t["dec"])
    pairs = cKDTree(xyz).query_pairs(2 * np.sin(np.radians(r_arcsec / 3600) / 2))
    oid = np.asarray(t["objid"])
    expect = {tuple(sorted((oid[i], oid[j]))) for i, j in pairs}
    assert {(a, b) for a, b in zip(got["a"], got["b"])} == expect and len(expect) > 0


def test_objid_lookup_reads_few_row_groups(built):
    _, cat, _, _ = built
    oid = int(cat.query("SELECT objid FROM phat_v2.phot_mod LIMIT 1")["objid"][0])
    assert len(cat.lightcurve(oid)) >= 60
    assert len(cat.query(f"SELECT * FROM phat_v2.phot_mod WHERE objid = {oid}")) == 1


def test_older_api_forms(built):
    _, cat, _, _ = built
    # CTEs, subqueries, unions and window functions are allowed
    t = cat.query(
        "WITH b AS (SELECT objid, f814w_vega FROM phat_v2.phot_mod WHERE f814w_vega < 22) "
        "SELECT count(*) AS n FROM b UNION ALL SELECT count(*) FROM phat_v2.phot_mod "
        "WHERE objid IN (SELECT objid FROM phat_v2.phot_meas WHERE filter = 'F475W')"
    )
    assert len(t) == 2
    t = cat.query(
        "SELECT objid, row_number() OVER (ORDER BY f814w_vega) AS rk FROM phot_mod LIMIT 3"
    )
    assert list(t["rk"]) == [1, 2, 3]


def test_crossmatch_matches_kdtree(built):
    from scipy.spatial import cKDTree

    _, cat, _, _ = built
    t = cat.query("SELECT objid, ra, dec FROM phat_v2.phot_mod")
    rng = np.random.default_rng(5)
    n = 500
    pick = rng.integers(0, len(t), n)
    ra = np.asarray(t["ra"])[pick] + rng.normal(0, 0.4, n) / 3600 / np.cos(np.radians(41.27))
    dec = np.asarray(t["dec"])[pick] + rng.normal(0, 0.4, n) / 3600
    got = cat.crossmatch(ra, dec, radius_arcsec=1.0)
    tree = cKDTree(ids.radec_to_xyz(t["ra"], t["dec"]))
    d, j = tree.query(
        ids.radec_to_xyz(ra, dec), distance_upper_bound=2 * np.sin(np.radians(1 / 3600) / 2)
    )
    ok = np.isfinite(d)
    assert list(got["index"]) == list(np.flatnonzero(ok))
    assert list(got["objid"]) == list(np.asarray(t["objid"])[j[ok]])
    assert 0.5 * n < len(got) <= n


def test_objid_lookup_prunes_partitions(built):
    from cloudphot.catalog.query import IdPixels

    _, cat, _, _ = built
    far = cat.query("SELECT objid FROM phat_v2.phot_mod WHERE field_id = 'b16_f01' LIMIT 2")
    oids = [int(o) for o in far["objid"]]
    expect = cat.engine.files(
        "phot_meas", IdPixels(frozenset(o >> ids.OBJID_SERIAL_BITS for o in oids))
    )
    assert cat.engine.files("phot_meas", IdPixels(frozenset([0]))) == []  # far from M31
    for sql in (
        f"SELECT * FROM phat_v2.phot_meas WHERE objid = {oids[0]}",
        f"SELECT * FROM phat_v2.phot_meas m WHERE m.objid IN ({oids[0]}, {oids[1]}) "
        f"AND m.filter = 'F814W'",
    ):
        duck = cat.engine.to_duckdb(sql)
        used = [f for f in cat.engine.files("phot_meas") if f in duck]
        assert set(used) <= set(expect) and used
        assert len(cat.query(sql)) > 0
    # the same answer as an unpruned query
    a = cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid = {oids[0]} ORDER BY mjd")
    b = cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid + 0 = {oids[0]} ORDER BY mjd")
    assert list(a["mjd"]) == list(b["mjd"]) and len(a) > 0


def test_adql_top_and_contains(built):
    _, cat, _, _ = built
    t = cat.query(
        "SELECT TOP 5 objid, ra FROM phat_v2.phot_mod WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        "CIRCLE('ICRS', 10.692, 41.276, 0.02)) ORDER BY ra"
    )
    assert len(t) == 5 and list(t["ra"]) == sorted(t["ra"])
    with pytest.raises(QueryRefused, match="exceeds the per-query row limit"):
        cat.query("SELECT TOP 100000000 objid FROM phat_v2.phot_mod")


def test_integer_columns_with_nulls_keep_their_type_and_digits():
    import pyarrow as pa

    from cloudphot.catalog.api import arrow_to_astropy

    big = 2**62 + 1  # not representable in float64
    t = arrow_to_astropy(
        pa.table(
            {"objid": pa.array([big, None], pa.int64()), "gst": pa.array([True, None], pa.bool_())}
        )
    )
    assert t["objid"].dtype == np.int64 and int(t["objid"][0]) == big
    assert list(t["objid"].mask) == [False, True] and list(t["gst"].mask) == [False, True]
    assert t["gst"].dtype == bool and bool(t["gst"][0])


def test_float_averages_are_sums_over_counts_with_avg_semantics(built):
    from cloudphot.catalog.query import check_and_rewrite

    _, cat, _, _ = built
    sql = check_and_rewrite(
        "SELECT avg(ra), avg(DISTINCT ra), avg(ra) OVER (), avg(nmeas) FROM phat_v2.phot_mod",
        "phat_v2",
    ).sql()
    assert sql.count("SUM(ra)") == 1 and "AVG(DISTINCT ra)" in sql and "AVG(ra) OVER" in sql
    assert "AVG(nmeas)" in sql  # integer columns keep avg
    ra = np.asarray(cat.query("SELECT ra FROM phat_v2.phot_mod")["ra"], float)
    got = cat.query("SELECT avg(ra) AS a, avg(f275w_vega) AS m FROM phat_v2.phot_mod")
    assert abs(float(got["a"][0]) - ra.mean()) < 1e-12 * ra.mean()
    empty = cat.query("SELECT avg(ra) AS a FROM phat_v2.phot_mod WHERE ra < -1")
    assert len(empty) == 1 and bool(np.ma.getmaskarray(empty["a"])[0])  # NULL, not an error
    # NULLs are skipped as avg skips them; an all-NULL column gives NULL
    half = cat.query(
        "SELECT avg(ra) AS a FROM (SELECT CASE WHEN objid % 2 = 0 THEN NULL "
        "ELSE ra END AS ra FROM phat_v2.phot_mod)"
    )
    odd = cat.query("SELECT ra FROM phat_v2.phot_mod WHERE objid % 2 = 1")
    assert 0 < len(odd) < len(ra)
    assert np.isclose(float(half["a"][0]), np.mean(odd["ra"]), rtol=1e-12)
    none = cat.query("SELECT avg(f110w_rate) AS a, count(f110w_rate) AS n FROM phat_v2.phot_mod")
    assert int(none["n"][0]) == 0 and bool(np.ma.getmaskarray(none["a"])[0])


def _point_on_a_partition_edge(order: int, ra0: float, dec0: float) -> tuple[float, float]:
    """The point on a HEALPix ``order`` pixel boundary nearest to (ra0, dec0)."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    hp = HEALPix(nside=2**order, order="nested")
    pix = int(hp.lonlat_to_healpix(ra0 * u.deg, dec0 * u.deg))
    lon, lat = hp.boundaries_lonlat([pix], step=200)
    lon, lat = lon.to_value(u.deg).ravel(), lat.to_value(u.deg).ravel()
    d = np.hypot((lon - ra0) * np.cos(np.radians(dec0)), lat - dec0)
    return float(lon[d.argmin()]), float(lat[d.argmin()])


@pytest.mark.parametrize("order", [11, 13])
def test_objid_pruning_never_loses_a_measurement(tmp_path, order):
    """A star pinned on a partition edge has measurements on both sides (their positions
    scatter); its light curve, and every other object's, has all the rows an unpruned
    scan finds. Order 13 partitions (25") are finer than the objid's level-12 pixel."""
    from cloudphot.catalog.synthetic import M31_DEC_DEG, M31_RA_DEG

    from .conftest import make_workspace

    edge = _point_on_a_partition_edge(order, M31_RA_DEG, M31_DEC_DEG)
    _, cat, _ = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.02, epochs_per_filter=4, pinned=(edge,)
    )
    with cat:
        cat.build(partition_order=order)
        star = cat.nearest_objid(*edge, radius_arcsec=0.5)
        straddle = cat.query(
            f"SELECT count(DISTINCT _healpix_29 >> {2 * (29 - order)}) AS n "
            f"FROM (SELECT * FROM phat_v2.phot_meas) WHERE objid + 0 = {star}"
        )
        assert int(straddle["n"][0]) == 2  # the test exercises an edge
        full = cat.query("SELECT objid, count(*) AS n FROM phat_v2.phot_meas GROUP BY objid")
        want = {int(o): int(n) for o, n in zip(full["objid"], full["n"])}
        got = {
            o: len(cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid = {o}")) for o in want
        }
        assert got == want


# ---------------------------------------------------------------- issue 15 items 3-5
@pytest.mark.parametrize(
    "sql,names",
    [
        ("SELECT objid, objid FROM phat_v2.phot_mod LIMIT 3", ["objid", "objid_1"]),
        (
            "SELECT a.objid, b.objid, a.ra FROM phat_v2.phot_mod a, phat_v2.phot_mod b "
            "WHERE a.objid = b.objid LIMIT 3",
            ["objid", "objid_1", "ra"],
        ),
        (
            "SELECT objid, objid AS objid_1, objid FROM phat_v2.phot_mod LIMIT 3",
            ["objid", "objid_1", "objid_2"],
        ),
    ],
)
def test_duplicate_column_names_get_suffixes(built, sql, names):
    """astropy's 'Duplicate column names' ended these queries with a traceback (15.3)."""
    _, cat, _, _ = built
    t = cat.query(sql)
    assert t.colnames == names and len(t) == 3
    assert (t[names[0]] == t[names[1]]).all()


def test_join_using_gives_unique_names(built, tmp_path):
    _, cat, _, _ = built
    t = cat.query("SELECT * FROM phat_v2.phot_mod a JOIN phat_v2.phot_meas b USING (objid) LIMIT 5")
    assert len(set(t.colnames)) == len(t.colnames) and "ra_1" in t.colnames and len(t) == 5
    t.write(tmp_path / "j.fits")  # FITS and VOTable need distinct names too
    t.write(tmp_path / "j.vot", format="votable")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * 50 + "1" + ")" * 50 + " FROM phat_v2.phot_mod",  # 108 characters
        "SELECT * FROM " + "(SELECT * FROM " * 300 + "phat_v2.phot_mod" + ") AS t" * 300,
        "SELECT " + "NOT " * 2000 + "true",
        "SELECT " + "CASE WHEN true THEN " * 400 + "1" + " END" * 400,
    ],
)
def test_deep_nesting_is_refused_not_a_recursion_error(built, sql):
    _, cat, _, _ = built
    with pytest.raises(QueryRefused, match="nests") as info:
        cat.query(sql)
    assert "flatten it" in str(info.value)


def test_nesting_up_to_the_limit_runs_from_a_deep_stack(built):
    from cloudphot.catalog.query import MAX_NESTING

    _, cat, _, _ = built
    # a q3c cone (rewritten into nested functions) inside MAX_NESTING parentheses,
    # called with 300 frames already on the stack (a web server's, say)
    sql = (
        "SELECT count(*) AS n FROM phat_v2.phot_mod WHERE "
        + "(" * (MAX_NESTING - 2)
        + "q3c_radial_query(ra, dec, 10.692, 41.276, 20/3600.)"
        + ")" * (MAX_NESTING - 2)
    )

    def deep(k):
        return deep(k - 1) if k else cat.query(sql)

    assert int(deep(300)["n"][0]) == len(cat.cone(10.692, 41.276, 20))


@pytest.mark.parametrize(
    "cone,why",
    [
        ("11, 41, 0/0", "radius is nan deg, NaN"),
        ("11, 41, 'NaN'::float8", "radius is nan deg, NaN"),
        ("11, 41, CAST('Infinity' AS DOUBLE)", "infinite"),
        ("11, 41, 1e400", "infinite"),
        ("11, 41, -0.001", "negative"),
        ("11, 41, 3600", "arcseconds? divide by 3600"),
        ("11, 95, 0.1", "Dec is 95.0 deg, outside the sphere"),
        ("11, -90.0001, 0.1", "outside the sphere"),
        ("0/0, 41, 0.1", "RA is nan"),
    ],
)
def test_invalid_cones_are_refused(built, cone, why):
    """A NaN radius returned the whole table (15.4); PostgreSQL raises."""
    _, cat, _, _ = built
    ra0, dec0, r = (s.strip() for s in cone.split(","))
    for sql in (
        f"SELECT objid FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {cone})",
        f"SELECT objid FROM phat_v2.phot_mod WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        f"CIRCLE('ICRS', {cone}))",
    ):
        with pytest.raises(QueryRefused, match="query refused") as info:
            cat.query(sql)
        assert why in str(info.value)
    if dec0 == "41" and ra0 == "11":  # q3c_join has a radius only
        with pytest.raises(QueryRefused) as info:
            cat.query(
                "SELECT a.objid FROM phat_v2.phot_mod a, phat_v2.phot_mod b "
                f"WHERE q3c_join(a.ra, a.dec, b.ra, b.dec, {r})"
            )
        assert why in str(info.value)


def test_invalid_cones_from_columns_fail_at_run_time(built):
    from cloudphot.catalog.query import QueryFailed

    _, cat, _, _ = built
    for sql in (
        "SELECT objid FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, 11, 41, ra - ra - 1)",
        "SELECT objid FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, ra, dec + 100, 0.1)",
        "SELECT a.objid FROM phat_v2.phot_mod a, phat_v2.phot_mod b "
        "WHERE q3c_join(a.ra, a.dec, b.ra, b.dec, a.ra / 0 - a.ra / 0)",
    ):
        with pytest.raises(QueryFailed, match="not on the sphere"):
            cat.query(sql)
    # and valid per-row cones still run
    t = cat.query(
        "SELECT count(*) AS n FROM phat_v2.phot_mod a, phat_v2.phot_mod b "
        "WHERE q3c_join(a.ra, a.dec, b.ra, b.dec, 0 * a.ra + 1/3600.)"
    )
    assert int(t["n"][0]) >= len(cat.query("SELECT objid FROM phat_v2.phot_mod"))


def test_api_cone_refuses_invalid_input(built):
    _, cat, _, _ = built
    for args in ((10.0, 41.0, float("nan")), (10.0, 91.0, 1.0), (float("inf"), 41.0, 1.0)):
        with pytest.raises(QueryRefused):
            cat.cone(*args)


def test_string_literals_are_values_not_urls(built):
    """Any literal containing http:// was refused as a URL (15.5)."""
    _, cat, _, _ = built
    t = cat.query("SELECT 'see http://example.com/x' AS note, count(*) AS n FROM phat_v2.phot_mod")
    assert t["note"][0] == "see http://example.com/x"
    t = cat.query("SELECT count(*) AS n FROM phat_v2.phot_meas WHERE image LIKE 'http://%'")
    assert int(t["n"][0]) == 0
    with pytest.raises(QueryRefused, match="not in the catalog"):
        cat.query("SELECT * FROM 'http://example.com/x.parquet'")


def test_refusals_name_what_was_refused(built):
    _, cat, _, _ = built
    for sql, word in (
        ("INSTALL httpfs", "INSTALL"),
        ("DETACH db", "DETACH"),
        ("SHOW TABLES", "SHOW"),
    ):
        with pytest.raises(QueryRefused) as info:
            cat.query(sql)
        msg = str(info.value)
        assert f"{word} is not allowed" in msg and "ALIAS" not in msg and "COLUMN" not in msg
