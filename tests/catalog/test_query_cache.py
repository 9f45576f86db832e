"""The per-engine plan cache and the kept Parquet footers: faster, never looser."""

import numpy as np
import pytest

from cloudphot.catalog import query as query_mod
from cloudphot.catalog.api import Catalog
from cloudphot.errors import QueryRefused

from .conftest import make_workspace
from .test_query import REFUSED

GROUP = (
    "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
    "FROM phat_v2.phot_mod GROUP BY pix4096"
)


def test_cached_plan_gives_identical_results(built):
    _, cat, _, _ = built
    eng = cat.engine
    first = cat.query(GROUP + " ORDER BY pix4096")
    assert (GROUP + " ORDER BY pix4096", frozenset()) in eng._plans
    again = cat.query(GROUP + " ORDER BY pix4096")
    assert first.as_array().tolist() == again.as_array().tolist()
    assert eng.to_duckdb(GROUP) == eng._plan(GROUP)[0]


@pytest.mark.parametrize("sql", sorted(REFUSED))
def test_hostile_sql_is_never_cached_and_refused_every_time(built, sql):
    _, cat, _, _ = built
    for _ in range(2):
        with pytest.raises(QueryRefused):
            cat.query(sql)
    assert (sql, frozenset()) not in cat.engine._plans
    assert not any(sql == k for k, _ in cat.engine._plans)


def test_cache_is_bounded(built, monkeypatch):
    _, cat, _, _ = built
    monkeypatch.setattr(query_mod, "PLAN_CACHE_SIZE", 3)
    eng = cat.engine
    for i in range(6):
        eng.to_duckdb(f"SELECT objid FROM phat_v2.phot_mod LIMIT {i + 1}")
    assert len(eng._plans) == 3


def test_cached_plan_keeps_the_sandbox(built):
    _, cat, _, _ = built
    cat.query(GROUP)
    with pytest.raises(Exception):
        cat.engine._con.execute("SET parquet_metadata_cache = false")
    with pytest.raises(Exception):
        cat.engine._con.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()


def test_new_catalog_version_is_seen(tmp_path):
    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.05, epochs_per_filter=2
    )
    ids_all = [f.field_id for f in survey.fields]
    sql = "SELECT count(*) AS n FROM phat_v2.phot_mod"
    with cat:
        cat.build(ids_all[:1])
        n1 = int(cat.query(sql)["n"][0])
        assert cat.query(sql).meta["CATVERS"] == 1
        cat.build(ids_all)
        res = cat.query(sql)
        assert res.meta["CATVERS"] == 2
        n2 = int(res["n"][0])
        assert n2 > n1
    # a catalog pinned to version 1 still answers with version 1's rows
    with Catalog(settings, version=1) as old:
        assert int(old.query(sql)["n"][0]) == n1


def test_distance_template_is_never_shared_between_queries():
    a = query_mod.check_and_rewrite(
        "SELECT * FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, 10.5, 41.1, 0.001)",
        "phat_v2",
    ).sql()
    b = query_mod.check_and_rewrite(
        "SELECT q3c_dist(m.ra, m.dec, 11.25, 42.5) AS d FROM phat_v2.phot_mod AS m", "phat_v2"
    ).sql()
    assert "10.5" in a and "41.1" in a and "11.25" not in a
    assert "11.25" in b and "10.5" not in b
    # arguments that are not plain columns or numbers fill the parsed template tree
    c = query_mod.check_and_rewrite(
        "SELECT q3c_dist(m.ra + 0, m.dec, 12.75, 43.5) AS d FROM phat_v2.phot_mod AS m", "phat_v2"
    ).sql()
    assert "12.75" in c and "m.ra + 0" in c
    assert "__ra1__" in query_mod._dist_template().sql() and "__" not in a + b + c


def test_partitions_store_floats_byte_stream_split(built):
    import pyarrow.parquet as pq

    _, cat, _, _ = built
    md = pq.read_metadata(cat.engine.files("phot_mod")[0])
    names = [md.schema.column(i).name for i in range(md.num_columns)]
    rg = md.row_group(0)
    assert "BYTE_STREAM_SPLIT" in rg.column(names.index("ra")).encodings
    assert rg.column(names.index("ra")).compression == "ZSTD"


def test_concurrent_queries_on_one_engine_agree_with_serial_ones(built):
    from concurrent.futures import ThreadPoolExecutor

    _, cat, _, _ = built
    sqls = [
        GROUP + " ORDER BY pix4096",
        "SELECT objid, ra FROM phat_v2.phot_mod ORDER BY objid LIMIT 50",
        "SELECT count(*) AS n FROM phat_v2.phot_meas",
    ] * 4
    serial = [cat.query(s).as_array().tolist() for s in sqls]
    with ThreadPoolExecutor(6) as pool:
        parallel = list(pool.map(lambda s: cat.query(s).as_array().tolist(), sqls))
    assert parallel == serial


CONE = (
    "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {}, {}, {}/3600)"
)


def _no_parsing(monkeypatch):
    """Planning a query the ordinary way now fails the test (shape plans must serve it)."""

    def fail(*a, **k):
        raise AssertionError("the query was parsed again")

    monkeypatch.setattr(query_mod.shapes, "VERIFY", False)
    monkeypatch.setattr(query_mod, "_check_and_rewrite", fail)


def _truth(cat, ra0, dec0, r_arcsec):
    t = cat.query("SELECT objid, ra, dec FROM phat_v2.phot_mod")
    a, d = np.radians(t["ra"]), np.radians(t["dec"])
    a0, d0 = np.radians(ra0), np.radians(dec0)
    h = np.sin((d - d0) / 2) ** 2 + np.cos(d) * np.cos(d0) * np.sin((a - a0) / 2) ** 2
    sep = np.degrees(2 * np.arcsin(np.sqrt(np.minimum(1, h)))) * 3600
    return sorted(int(o) for o in t["objid"][sep <= r_arcsec])


def test_new_cone_centres_reuse_the_shape_plan_exactly(built, monkeypatch):
    """One parse per query shape: the next centres and radii are parameters, re-checked."""
    _, cat, _, _ = built
    t = cat.query("SELECT ra, dec FROM phat_v2.phot_mod ORDER BY objid LIMIT 40")
    cones = [(float(t["ra"][i]), float(t["dec"][i]), 1 + i % 7) for i in range(1, 40, 3)]
    truth = [_truth(cat, *c) for c in cones]
    cat.query(CONE.format(float(t["ra"][0]), float(t["dec"][0]), 2))
    _no_parsing(monkeypatch)
    for c, want in zip(cones, truth):
        got = sorted(int(o) for o in cat.query(CONE.format(*c))["objid"])
        assert got == want and got
    # the shape's numbers are still checked: a NaN (0/0) or over-180-degree radius
    # and a centre off the sphere are refused on a plan of the same shape
    with pytest.raises(QueryRefused, match="NaN"):
        cat.query(CONE.format(10.5, 41.2, 0).replace("/3600", "/0"))
    with pytest.raises(QueryRefused, match="above 180"):
        cat.query(CONE.format(10.5, 41.2, 900000))
    with pytest.raises(QueryRefused, match="Dec"):
        cat.query(CONE.format(10.5, 95.5, 1))


def test_numbers_that_steer_a_plan_are_part_of_its_key(built, monkeypatch):
    _, cat, _, _ = built
    eng = cat.engine
    small = "SELECT objid FROM phat_v2.phot_mod ORDER BY objid LIMIT {}"
    assert len(cat.query(small.format(5))) == 5
    assert len(cat.query(small.format(7))) == 7
    with pytest.raises(QueryRefused, match="LIMIT"):
        cat.query(small.format(eng.max_rows + 1))
    inside = (
        "SELECT objid FROM phat_v2.phot_mod WHERE "
        "CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {}, {}, 0.01)) = {}"
    )
    n = len(cat.query("SELECT objid FROM phat_v2.phot_mod"))
    a = len(cat.query(inside.format(11.02203, 41.23451, 1)))
    b = len(cat.query(inside.format(11.02203, 41.23451, 0)))
    assert a > 0 and a + b == n


def test_light_curves_of_new_objids_reuse_the_plan_and_prune(built, monkeypatch):
    _, cat, _, _ = built
    curve = "SELECT objid, mjd FROM phat_v2.phot_meas WHERE objid = {} ORDER BY mjd"
    objids = [int(o) for o in cat.query("SELECT objid FROM phat_v2.phot_mod")["objid"]]
    picks = objids[:: max(1, len(objids) // 12)]
    want = {
        o: len(cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid + 0 = {o}")) for o in picks
    }
    cat.query(curve.format(picks[0]))
    _no_parsing(monkeypatch)
    files = cat.engine.files("phot_meas")
    for o in picks:
        got = cat.query(curve.format(o))
        assert len(got) == want[o] > 0 and set(got["objid"]) == {o}
        assert sum(f in cat.engine.to_duckdb(curve.format(o)) for f in files) < len(files)


def test_one_deadline_thread_fires_only_what_is_due():
    import threading
    import time

    fired = []
    dl = query_mod._Deadlines()
    cancelled = [dl.after(0.05, lambda i=i: fired.append(("x", i))) for i in range(50)]
    for d in cancelled:
        d.cancel()
    done = threading.Event()
    late = dl.after(0.3, done.set)
    early = dl.after(0.1, lambda: fired.append("early"))
    assert done.wait(5) and late.fired and early.fired
    time.sleep(0.05)
    assert fired == ["early"] and not any(d.fired for d in cancelled)


class _PublicOnly:
    """A DuckDB connection seen without its ``_submit`` (as other DuckDB versions have it)."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql):
        return self._con.execute(sql)

    def sql(self, sql):
        return self._con.sql(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE "
        "q3c_radial_query(ra, dec, 10.692, 41.276, 20/3600.) ORDER BY objid",
        "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE "
        "q3c_radial_query(ra, dec, 10.692, 41.276, 20/3600.) ORDER BY objid LIMIT 7",
        GROUP + " ORDER BY pix4096",
    ],
)
def test_streamed_results_equal_the_public_api_s(built, sql):
    """The engine streams through DuckDB's ``_submit`` when it has one; the rows, types
    and names are those of the public ways (execute, a relation) it falls back to."""
    _, cat, _, _ = built
    eng = cat.engine
    duck_sql, limit = eng._planned(sql, frozenset())
    assert hasattr(eng._con, "_submit")  # the fast path is the one taken here
    fast = query_mod._arrow_stream(eng._con, duck_sql, limit, 100, 3).read_all()
    slow = query_mod._arrow_stream(_PublicOnly(eng._con), duck_sql, limit, 100, 3).read_all()
    assert fast.num_rows > 0 and fast.equals(slow)


def test_partition_paths_are_the_resolved_paths_without_resolving_each(built):
    """The engine joins keys to the resolved catalog root instead of resolving each file
    (200 ms per engine on a 593-partition catalog); the paths are the same, and a key
    with an empty, ``.`` or ``..`` part goes the careful way: the store refuses it."""
    from pathlib import Path

    _, cat, _, _ = built
    eng = cat.engine
    m = eng.manifest
    keys = [e["key"] for t in m["tables"] for _, _, e in query_mod.manifest_partitions(m, t)]
    assert keys
    for key in keys:
        assert eng._local_path(key) == str(Path(eng.store.path_of(eng.bucket, key)).resolve())
    from cloudphot.errors import StorageError

    for sneaky in ("catalogs/phat_v2/../../x.parquet", "catalogs//x.parquet", "catalogs/./x"):
        with pytest.raises(StorageError, match="invalid object key"):
            eng._local_path(sneaky)
