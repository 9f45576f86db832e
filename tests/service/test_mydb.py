"""Accounts and personal tables: anonymous read, tokens, mydb isolation between users."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import pyvo
import requests
from astropy.io.votable import parse
from astropy.table import Table

from cloudphot.cli import main
from cloudphot.service.accounts import UserStore


@pytest.fixture(scope="module")
def tokens(demo_catalog):
    settings, _, _ = demo_catalog
    users = UserStore(settings.home / "service.sqlite")
    return {name: users.add(name) for name in ("alice", "bob")}


def _h(token):
    return {"Authorization": f"Bearer {token}"}


def _sync(tap_url, query, token=None, **extra):
    return httpx.post(
        f"{tap_url}/sync",
        data={"LANG": "ADQL", "QUERY": query, **extra},
        headers=_h(token) if token else {},
        timeout=60,
    )


def _rows(resp):
    assert resp.status_code == 200, resp.text
    return parse(io.BytesIO(resp.content)).get_first_table().to_table()


def test_anonymous_users_query_but_cannot_create_tables(tap_url, tokens):
    assert len(_rows(_sync(tap_url, "SELECT TOP 2 objid FROM phat_v2.phot_mod"))) == 2
    r = _sync(tap_url, "SELECT TOP 2 objid INTO mydb.mine FROM phat_v2.phot_mod")
    assert r.status_code == 400 and "authenticated user" in r.text
    assert httpx.get(f"{tap_url}/mydb").status_code == 401
    up = httpx.post(f"{tap_url}/mydb", data={"name": "t"}, files={"table": ("t.csv", b"a\n1\n")})
    assert up.status_code == 401
    r = _sync(tap_url, "SELECT * FROM mydb.mine")
    assert r.status_code == 400 and "authenticated" in r.text


def test_a_wrong_token_is_refused_not_taken_as_anonymous(tap_url, tokens):
    r = _sync(tap_url, "SELECT TOP 1 objid FROM phat_v2.phot_mod", token="not-a-token")
    assert r.status_code == 401 and "not valid" in r.text and r.headers["www-authenticate"]
    basic = base64.b64encode(f"bob:{tokens['alice']}".encode()).decode()
    r = httpx.get(f"{tap_url}/mydb", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 401  # alice's token is not bob's password


def test_select_into_then_join_with_the_catalog(tap_url, tokens, demo_catalog):
    a = tokens["alice"]
    r = _sync(
        tap_url,
        "SELECT TOP 10 objid, ra, dec INTO mydb.bright FROM phat_v2.phot_mod "
        "WHERE f814w_vega < 90 ORDER BY f814w_vega",
        token=a,
    )
    assert len(_rows(r)) == 10 and "stored as mydb.bright" in r.headers["x-query-note"]
    joined = _rows(
        _sync(
            tap_url,
            "SELECT b.objid, count(*) AS n FROM mydb.bright AS b JOIN phat_v2.phot_meas AS m "
            "ON m.objid = b.objid GROUP BY b.objid",
            token=a,
        )
    )
    assert len(joined) == 10 and np.all(joined["n"] > 0)
    # a second INTO of the same name does not overwrite it
    again = _sync(tap_url, "SELECT TOP 1 objid INTO mydb.bright FROM phat_v2.phot_mod", token=a)
    assert again.status_code == 400 and "already have" in again.text
    listing = _rows(httpx.get(f"{tap_url}/mydb", headers=_h(a)))
    assert "bright" in list(listing["name"])


def test_users_cannot_read_list_or_drop_each_others_tables(tap_url, tokens):
    a, b = tokens["alice"], tokens["bob"]
    _sync(tap_url, "SELECT TOP 3 objid INTO mydb.secret FROM phat_v2.phot_mod", token=a)
    # bob's mydb.secret is bob's own (none): he cannot name alice's table at all
    r = _sync(tap_url, "SELECT * FROM mydb.secret", token=b)
    assert r.status_code == 400 and "no table mydb.secret" in r.text
    assert "secret" not in list(_rows(httpx.get(f"{tap_url}/mydb", headers=_h(b)))["name"])
    assert httpx.delete(f"{tap_url}/mydb/secret", headers=_h(b)).status_code == 400
    assert b"secret" not in httpx.get(f"{tap_url}/tables", headers=_h(b)).content
    # alice still has it, and sees it in /tables
    assert len(_rows(_sync(tap_url, "SELECT * FROM mydb.secret", token=a))) == 3
    assert b"mydb.secret" in httpx.get(f"{tap_url}/tables", headers=_h(a)).content
    # bob making his own 'secret' leaves alice's alone
    _sync(tap_url, "SELECT TOP 1 objid INTO mydb.secret FROM phat_v2.phot_mod", token=b)
    assert len(_rows(_sync(tap_url, "SELECT * FROM mydb.secret", token=a))) == 3
    assert len(_rows(_sync(tap_url, "SELECT * FROM mydb.secret", token=b))) == 1
    # and alice drops hers
    assert httpx.delete(f"{tap_url}/mydb/secret", headers=_h(a)).status_code == 200
    assert _sync(tap_url, "SELECT * FROM mydb.secret", token=a).status_code == 400


@pytest.mark.parametrize("fmt", ["csv", "votable", "parquet"])
def test_upload_a_table_in_each_format(tap_url, tokens, fmt):
    a = tokens["alice"]
    t = Table({"star": np.arange(4), "ra0": [10.68, 10.69, 10.7, 10.71]})
    buf = io.BytesIO()
    if fmt == "csv":
        text = io.StringIO()
        t.write(text, format="ascii.csv")
        buf.write(text.getvalue().encode())
    elif fmt == "votable":
        t.write(buf, format="votable")
    else:
        pq.write_table(pa.table({"star": t["star"], "ra0": t["ra0"]}), buf)
    r = httpx.post(
        f"{tap_url}/mydb",
        data={"name": f"up_{fmt}"},
        files={"table": (f"t.{fmt}", buf.getvalue())},
        headers=_h(a),
    )
    assert r.status_code == 201, r.text
    got = _rows(_sync(tap_url, f"SELECT star, ra0 FROM mydb.up_{fmt} ORDER BY star", token=a))
    assert list(got["star"]) == [0, 1, 2, 3] and np.allclose(got["ra0"], t["ra0"])
    dl = httpx.get(f"{tap_url}/mydb/up_{fmt}", params={"RESPONSEFORMAT": "csv"}, headers=_h(a))
    assert dl.status_code == 200 and dl.text.splitlines()[0] == '"star","ra0"'


@pytest.mark.parametrize(
    "name, why", [("../escape", "table name"), ("x" * 80, "table name"), ("1abc", "table name")]
)
def test_hostile_table_names(tap_url, tokens, name, why):
    r = httpx.post(
        f"{tap_url}/mydb",
        data={"name": name},
        files={"table": ("t.csv", b"a\n1\n")},
        headers=_h(tokens["alice"]),
    )
    assert r.status_code == 400 and why in r.text


def test_async_jobs_store_results_and_belong_to_their_owner(tap_url, tokens):
    a, b = tokens["alice"], tokens["bob"]
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {a}"
        svc = pyvo.dal.TAPService(tap_url, session=s)
        job = svc.submit_job("SELECT TOP 7 objid FROM phat_v2.phot_mod", mydb="seven")
        job.run().wait(timeout=60)
        assert job.phase == "COMPLETED" and job.owner == "alice"
        url = job.url
        assert len(svc.search("SELECT * FROM mydb.seven").to_table()) == 7
    assert httpx.get(url, headers=_h(b)).status_code == 403
    assert httpx.get(url).status_code == 403
    assert httpx.post(url + "/phase", data={"PHASE": "ABORT"}, headers=_h(b)).status_code == 403
    listing = httpx.get(f"{tap_url}/async", headers=_h(b)).text
    assert url.rsplit("/", 1)[1] not in listing
    assert url.rsplit("/", 1)[1] in httpx.get(f"{tap_url}/async", headers=_h(a)).text


def test_user_command(tmp_path, capsys):
    home = tmp_path / "ws"
    assert main(["--workdir", str(home), "init"]) == 0
    assert main(["--workdir", str(home), "user", "add", "carol"]) == 0
    out = capsys.readouterr().out
    token = out.split("token ")[1].split()[0]
    assert UserStore(home / "service.sqlite").check(token) == "carol"
    assert main(["--workdir", str(home), "user", "list"]) == 0
    assert "carol" in capsys.readouterr().out
    assert main(["--workdir", str(home), "user", "add", "carol"]) != 0
    assert main(["--workdir", str(home), "user", "add", "Bad Name"]) != 0
