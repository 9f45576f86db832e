"""TAP sync and VOSI over real HTTP: pyvo, every output format, limits, error documents."""

from __future__ import annotations

import contextlib
import io

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import pyvo
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Table

from .conftest import LIMITS, PAPER_DEC, PAPER_RA


def _sync(tap_url, **params):
    return httpx.post(f"{tap_url}/sync", data={"LANG": "ADQL", **params}, timeout=60)


def _error_text(resp) -> str:
    vot = parse(io.BytesIO(resp.content))
    infos = [i for r in vot.resources for i in r.infos if i.name == "QUERY_STATUS"]
    assert infos and infos[0].value == "ERROR"
    return infos[0].content


def test_pyvo_search_returns_the_catalog_rows(tap_url, demo_catalog, tap):
    _, cat, _ = demo_catalog
    svc = tap
    res = svc.search("SELECT TOP 100 * FROM phat_v2.phot_mod ORDER BY objid")
    t = res.to_table()
    want = cat.query("SELECT * FROM phat_v2.phot_mod ORDER BY objid LIMIT 100")
    assert len(t) == 100 and t.colnames == want.colnames
    assert np.array_equal(t["objid"], want["objid"])
    assert np.allclose(t["ra"], want["ra"]) and str(t["ra"].unit) == "deg"
    assert res.fieldname_with_ucd("pos.eq.ra;meta.main") == "ra"


def test_the_papers_three_queries_through_pyvo(tap_url, demo_catalog, tap):
    """README's photometry database section, unchanged, in the native SQL dialect."""
    _, cat, _ = demo_catalog
    svc = tap
    first = svc.search("SELECT * FROM phat_v2.phot_mod LIMIT 100", language="SQL").to_table()
    assert len(first) == 100
    group = svc.run_sync(
        "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
        "FROM phat_v2.phot_mod GROUP BY pix4096",
        language="SQL",
    ).to_table()
    assert int(group["nb"].sum()) == len(cat.query("SELECT objid FROM phat_v2.phot_mod"))
    cone = svc.search(
        f"SELECT * FROM phat_v2.phot_meas WHERE "
        f"q3c_radial_query(ra,dec,{PAPER_RA},{PAPER_DEC},0.2/3600)",
        language="SQL",
    ).to_table()
    assert len(cone) > 0 and set(np.round(cone["dec"], 3)) == {round(PAPER_DEC, 3)}


def test_adql_cone_matches_the_python_api(tap_url, demo_catalog, tap):
    _, cat, _ = demo_catalog
    svc = tap
    t = svc.search(
        "SELECT objid FROM phat_v2.phot_mod WHERE "
        "1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.68, 41.27, 0.005))"
    ).to_table()
    want = cat.cone(10.68, 41.27, 0.005 * 3600, columns="objid")
    assert sorted(t["objid"]) == sorted(want["objid"]) and len(t) > 5


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "csv", "fits", "parquet"])
def test_every_output_format_holds_the_same_rows(tap_url, fmt):
    q = "SELECT TOP 20 objid, ra, f814w_vega, f475w_gst FROM phat_v2.phot_mod ORDER BY objid"
    resp = _sync(tap_url, QUERY=q, RESPONSEFORMAT=fmt)
    assert resp.status_code == 200, resp.text
    data = io.BytesIO(resp.content)
    if fmt.startswith("votable"):
        t = parse(data).get_first_table().to_table()
        assert resp.headers["content-type"].startswith("application/x-votable+xml")
    elif fmt == "csv":
        t = Table.read(resp.text, format="ascii.csv")
    elif fmt == "fits":
        with fits.open(data) as hdul:
            t = Table(hdul[1].data)
    else:
        t = Table(pq.read_table(data).to_pandas().to_dict("list"))
    assert len(t) == 20 and list(t.colnames) == ["objid", "ra", "f814w_vega", "f475w_gst"]
    assert np.all(np.diff(np.asarray(t["objid"], dtype=np.int64)) > 0)


def test_maxrec_overflow_is_flagged_after_the_table(tap_url):
    resp = _sync(tap_url, QUERY="SELECT objid FROM phat_v2.phot_mod", MAXREC="7")
    vot = parse(io.BytesIO(resp.content))
    assert len(vot.get_first_table().array) == 7
    text = resp.text
    assert text.index('value="OVERFLOW"') > text.index("</TABLE>")
    # MAXREC=0: the columns, no rows
    t = parse(
        io.BytesIO(_sync(tap_url, QUERY="SELECT objid FROM phat_v2.phot_mod", MAXREC="0").content)
    )
    assert len(t.get_first_table().array) == 0


def test_sync_row_limit_says_to_use_async(tap_url):
    resp = _sync(tap_url, QUERY="SELECT objid FROM phat_v2.phot_meas", MAXREC="100000000")
    assert resp.status_code == 200
    assert len(parse(io.BytesIO(resp.content)).get_first_table().array) == LIMITS.sync_max_rows
    assert "async" in resp.headers["x-query-note"] and "async" in resp.text


@pytest.mark.parametrize(
    "params, why",
    [
        ({"QUERY": "DROP TABLE phat_v2.phot_mod"}, "DROP is not allowed"),
        ({"QUERY": "SELECT * FROM read_csv('/etc/passwd')"}, "not"),
        ({"QUERY": "SELECT * FROM pg_catalog.pg_tables"}, "not in the catalog"),
        ({"QUERY": "SELECT 1; SELECT 2"}, "2 statements"),
        ({"QUERY": "SELECT nosuchcolumn FROM phat_v2.phot_mod"}, "query failed"),
        ({"QUERY": "SELECT * FROM phat_v2.phot_mod", "LANG": "PQL"}, "LANG"),
        ({"QUERY": "SELECT * FROM phat_v2.phot_mod", "RESPONSEFORMAT": "xls"}, "not offered"),
        ({"QUERY": "SELECT * FROM phat_v2.phot_mod", "MAXREC": "many"}, "not an integer"),
        ({"QUERY": "SELECT * FROM phat_v2.phot_mod", "REQUEST": "getCapabilities"}, "doQuery"),
        ({"QUERY": ""}, "QUERY is missing"),
        ({"QUERY": "SELECT * FROM phat_v2.phot_mod WHERE ra = '" + "x" * 30000 + "'"}, "longer"),
    ],
)
def test_hostile_or_wrong_requests_get_votable_errors(tap_url, params, why):
    resp = _sync(tap_url, **params)
    assert resp.status_code == 400
    assert why in _error_text(resp)
    assert "Traceback" not in resp.text


def test_pyvo_raises_the_services_reason(tap_url, tap):
    svc = tap
    with pytest.raises(pyvo.dal.DALQueryError, match="DROP is not allowed"):
        svc.search("DROP TABLE phat_v2.phot_mod")


def test_tap_schema_is_queryable_and_matches_the_documented_columns(tap_url, tap):
    from cloudphot.catalog.schema import PHOT_MEAS

    svc = tap
    t = svc.search(
        "SELECT column_name, unit, ucd, description, datatype FROM TAP_SCHEMA.columns "
        "WHERE table_name = 'phat_v2.phot_meas' ORDER BY column_index"
    ).to_table()
    names = [n.strip('"') for n in t["column_name"]]
    assert names == list(PHOT_MEAS)
    row = dict(zip(names, t))
    assert row["mjd"]["unit"] == "d" and row["mjd"]["description"] == PHOT_MEAS["mjd"][2]
    assert row["ra"]["ucd"].startswith("pos.eq.ra")
    assert t["column_name"][names.index("round")] == '"round"'  # an ADQL reserved word
    keys = svc.search(
        "SELECT k.from_table, k.target_table, c.from_column FROM TAP_SCHEMA.keys AS k "
        "JOIN TAP_SCHEMA.key_columns AS c ON k.key_id = c.key_id WHERE k.key_id = 'meas_objid'"
    ).to_table()
    assert list(keys[0]) == ["phat_v2.phot_meas", "phat_v2.phot_mod", "objid"]


def test_vosi_documents(tap_url, tap):
    svc = tap
    tables = svc.tables
    assert "phat_v2.phot_mod" in tables.keys() and "TAP_SCHEMA.columns" in tables.keys()
    cols = {c.name: c for c in tables["phat_v2.phot_mod"].columns}
    assert cols["f814w_vega"].unit == "mag" and cols["f814w_vega"].ucd.startswith("phot.mag")
    caps = {c.standardid for c in svc.capabilities}
    assert "ivo://ivoa.net/std/tap" in {s.lower() for s in caps}
    assert svc.maxrec == LIMITS.default_maxrec and svc.hardlimit == LIMITS.async_max_rows
    assert {"adql"} <= {lang.name.lower() for lang in svc.get_tap_capability().languages}
    avail = httpx.get(f"{tap_url}/availability", timeout=30)
    assert b"<available>true</available>" in avail.content.replace(b" ", b"")
    one = httpx.get(f"{tap_url}/tables/phat_v2.phot_meas", timeout=30)
    assert one.status_code == 200 and b"mjd" in one.content
    assert httpx.get(f"{tap_url}/tables/nope.nope", timeout=30).status_code == 404


def test_busy_service_refuses_with_503_instead_of_queueing_forever(service, tap_url):
    """Every engine held: a sync query waits ``wait_s``, then gets a 503 with Retry-After."""
    _, app = service
    pool = app.state.parts.queries.pool
    with contextlib.ExitStack() as hold:
        for _ in range(pool.size):
            hold.enter_context(pool.engine(0))
        resp = _sync(tap_url, QUERY="SELECT TOP 1 objid FROM phat_v2.phot_mod")
        assert resp.status_code == 503 and resp.headers["retry-after"]
        assert "busy" in _error_text(resp) and "async" in _error_text(resp)
    # and the service is fine afterwards
    assert _sync(tap_url, QUERY="SELECT TOP 1 objid FROM phat_v2.phot_mod").status_code == 200
