"""The per-engine plan cache and the kept Parquet footers: faster, never looser."""

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
    assert GROUP + " ORDER BY pix4096" in eng._plans
    again = cat.query(GROUP + " ORDER BY pix4096")
    assert first.as_array().tolist() == again.as_array().tolist()
    assert eng.to_duckdb(GROUP)[0] == eng._plan(GROUP)[0]


@pytest.mark.parametrize("sql", sorted(REFUSED))
def test_hostile_sql_is_never_cached_and_refused_every_time(built, sql):
    _, cat, _, _ = built
    for _ in range(2):
        with pytest.raises(QueryRefused):
            cat.query(sql)
    assert sql not in cat.engine._plans


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
