"""TAP async: UWS 1.1 jobs through pyvo and plain HTTP (phases, limits, errors, uploads)."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
import pytest
import pyvo
from astropy.io.votable import parse
from astropy.table import Table

from cloudphot.service.jobs import SqliteJobStore, TapJob, now_iso
from cloudphot.service.uws import AsyncJobs

from .conftest import LIMITS


def _jobs(service) -> AsyncJobs:
    return service[1].state.parts.jobs


def _phase(url) -> str:
    return httpx.get(url + "/phase", timeout=30).text


def _wait(url, phases=("COMPLETED", "ERROR", "ABORTED"), timeout=60):
    deadline = time.monotonic() + timeout
    while (p := _phase(url)) not in phases:
        assert time.monotonic() < deadline, f"job stuck in {p}"
        time.sleep(0.1)
    return p


def test_pyvo_run_async_returns_the_rows(tap_url, demo_catalog, tap):
    _, cat, _ = demo_catalog
    svc = tap
    t = svc.run_async("SELECT TOP 50 objid, ra FROM phat_v2.phot_mod ORDER BY objid").to_table()
    want = cat.query("SELECT objid FROM phat_v2.phot_mod ORDER BY objid LIMIT 50")
    assert np.array_equal(t["objid"], want["objid"])


def test_async_may_return_more_than_sync(tap_url, tap):
    """The sync limit is 500 rows here, the async one 5000."""
    svc = tap
    with pytest.warns(pyvo.dal.exceptions.DALOverflowWarning, match="truncated at 500"):
        n_sync = len(svc.search("SELECT objid FROM phat_v2.phot_meas", maxrec=10**6).to_table())
    job = svc.submit_job("SELECT objid FROM phat_v2.phot_meas", maxrec=10**6)
    job.run().wait(timeout=60)
    assert job.phase == "COMPLETED"
    with pytest.warns(pyvo.dal.exceptions.DALOverflowWarning, match="truncated at 5000"):
        n_async = len(job.fetch_result().to_table())
    assert n_sync == LIMITS.sync_max_rows and n_async == LIMITS.async_max_rows
    job.delete()


def test_job_lifecycle_over_http(tap_url):
    r = httpx.post(
        f"{tap_url}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 3 objid FROM phat_v2.phot_mod", "RUNID": "t1"},
        timeout=30,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    assert _phase(url) == "PENDING"
    doc = httpx.get(url, timeout=30).text
    assert "<uws:runId>t1</uws:runId>" in doc and 'id="query"' in doc
    # PENDING jobs take a shorter EXECUTIONDURATION and a DESTRUCTION (capped)
    assert (
        httpx.post(url + "/executionduration", data={"EXECUTIONDURATION": "30"}).status_code == 303
    )
    assert httpx.get(url + "/executionduration").text == "30"
    httpx.post(url + "/destruction", data={"DESTRUCTION": "2200-01-01T00:00:00Z"})
    assert httpx.get(url + "/destruction").text < "2200"
    assert httpx.post(url + "/phase", data={"PHASE": "RUN"}).status_code == 303
    assert _wait(url) == "COMPLETED"
    res = httpx.get(url + "/results", timeout=30).text
    assert 'id="result"' in res
    t = parse(io.BytesIO(httpx.get(url + "/results/result", timeout=30).content))
    assert len(t.get_first_table().array) == 3
    # completed: the duration is fixed now
    assert (
        httpx.post(url + "/executionduration", data={"EXECUTIONDURATION": "5"}).status_code == 400
    )
    # listed, then deleted: 303 to the list, and the job is gone (404)
    listing = httpx.get(f"{tap_url}/async", timeout=30).text
    assert url.rsplit("/", 1)[1] in listing
    assert httpx.post(url, data={"ACTION": "DELETE"}).status_code == 303
    assert httpx.get(url, timeout=30).status_code == 404


def test_blocking_wait_returns_when_the_phase_changes(tap_url):
    r = httpx.post(
        f"{tap_url}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 3 objid FROM phat_v2.phot_mod", "PHASE": "RUN"},
    )
    url = r.headers["location"]
    doc = httpx.get(url, params={"WAIT": "30", "PHASE": "QUEUED"}, timeout=60).text
    doc = httpx.get(url, params={"WAIT": "30", "PHASE": "EXECUTING"}, timeout=60).text
    assert "COMPLETED" in doc or "EXECUTING" in doc


def test_errors_become_error_documents(tap_url):
    r = httpx.post(
        f"{tap_url}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT nosuch FROM phat_v2.phot_mod", "PHASE": "RUN"},
    )
    url = r.headers["location"]
    assert _wait(url) == "ERROR"
    assert "errorSummary" in httpx.get(url).text
    err = parse(io.BytesIO(httpx.get(url + "/error").content))
    info = next(i for i in err.resources[0].infos if i.name == "QUERY_STATUS")
    assert info.value == "ERROR" and "nosuch" in info.content
    # a hostile query's job ends in ERROR with the checker's reason, nothing runs
    bad = httpx.post(
        f"{tap_url}/async", data={"LANG": "ADQL", "QUERY": "DROP TABLE x", "PHASE": "RUN"}
    ).headers["location"]
    assert _wait(bad) == "ERROR" and "DROP is not allowed" in httpx.get(bad + "/error").text


def test_abort_stops_a_running_query(service, tap_url):
    """A cartesian self-join runs until aborted; ABORT interrupts its engine."""
    slow = (
        "SELECT count(*) FROM phat_v2.phot_meas a, phat_v2.phot_meas b, phat_v2.phot_meas c "
        "WHERE a.mjd + b.mjd > c.mjd"
    )
    r = httpx.post(
        f"{tap_url}/async", data={"LANG": "SQL", "QUERY": slow, "PHASE": "RUN"}, timeout=30
    )
    url = r.headers["location"]
    _wait(url, ("EXECUTING",))
    t0 = time.monotonic()
    assert httpx.post(url + "/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert _phase(url) == "ABORTED"
    # the engine is free again soon: a sync query gets through
    r = httpx.post(
        f"{tap_url}/sync",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 objid FROM phat_v2.phot_mod"},
    )
    assert r.status_code == 200 and time.monotonic() - t0 < 30
    time.sleep(0.5)
    assert _phase(url) == "ABORTED"  # the interrupted worker did not overwrite it


def test_execution_duration_is_enforced(tap_url):
    slow = (
        "SELECT count(*) FROM phat_v2.phot_meas a, phat_v2.phot_meas b, phat_v2.phot_meas c "
        "WHERE a.mjd + b.mjd > c.mjd"
    )
    r = httpx.post(
        f"{tap_url}/async",
        data={"LANG": "SQL", "QUERY": slow, "EXECUTIONDURATION": "1"},
        timeout=30,
    )
    url = r.headers["location"]
    httpx.post(url, data={"EXECUTIONDURATION": "1", "PHASE": "RUN"})
    assert _wait(url) == "ERROR"
    assert "1 s" in httpx.get(url + "/error").text


def test_upload_joins_the_catalog_sync_and_async(tap_url, demo_catalog, tap):
    _, cat, _ = demo_catalog
    some = cat.query("SELECT objid, ra, dec FROM phat_v2.phot_mod ORDER BY objid LIMIT 5")
    mine = Table(
        {"id": np.arange(5), "ra0": np.asarray(some["ra"]), "dec0": np.asarray(some["dec"])}
    )
    svc = tap
    q = (
        "SELECT u.id, m.objid FROM TAP_UPLOAD.mine AS u JOIN phat_v2.phot_mod AS m "
        "ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', u.ra0, u.dec0, 0.1/3600)) "
        "ORDER BY u.id"
    )
    got = svc.search(q, uploads={"mine": mine}).to_table()
    assert list(got["objid"]) == list(some["objid"])
    job = svc.submit_job(q, uploads={"mine": mine})
    job.run().wait(timeout=60)
    assert list(job.fetch_result().to_table()["objid"]) == list(some["objid"])
    job.delete()


@pytest.mark.parametrize(
    "body, why",
    [
        (b"\x00\x01garbage\xff" * 10, "could not be read"),
        (b"", "empty"),
        (b"a,a\n1,2\n", "appears twice"),
        (b"<VOTABLE><RESOURCE></RESOURCE></VOTABLE>", "without a TABLE"),
    ],
)
def test_hostile_uploads_are_refused_with_the_reason(tap_url, body, why):
    r = httpx.post(
        f"{tap_url}/sync",
        data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:f"},
        files={"f": ("t.csv", body)},
        timeout=30,
    )
    assert r.status_code == 400 and why in r.text


def test_upload_urls_pointing_inward_are_refused(tap_url):
    r = httpx.post(
        f"{tap_url}/sync",
        data={
            "LANG": "ADQL",
            "QUERY": "SELECT * FROM TAP_UPLOAD.t",
            "UPLOAD": "t,http://169.254.169.254/latest/meta-data/",
        },
        timeout=30,
    )
    assert r.status_code == 400 and "private or local" in r.text


def test_upload_by_url_from_this_machine(tap_url):
    """upload-http: the table at a URL (loopback is allowed for a service on localhost)."""
    src = f"{tap_url}/sync?LANG=ADQL&QUERY=SELECT+TOP+4+objid+FROM+phat_v2.phot_mod"
    r = httpx.post(
        f"{tap_url}/sync",
        data={
            "LANG": "ADQL",
            "QUERY": "SELECT count(*) AS n FROM TAP_UPLOAD.t",
            "UPLOAD": f"t,{src}",
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert parse(io.BytesIO(r.content)).get_first_table().array["n"][0] == 4


def test_queue_is_bounded(service, tap_url, monkeypatch):
    jobs = _jobs(service)
    monkeypatch.setattr(jobs, "limits", LIMITS.__class__(async_queue=0))
    r = httpx.post(
        f"{tap_url}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 objid FROM phat_v2.phot_mod", "PHASE": "RUN"},
    )
    assert r.status_code == 503 and "queue is full" in r.text


def test_destroyed_jobs_are_swept(service, tmp_path):
    jobs = _jobs(service)
    job = TapJob("0123456789abcdef", None, "COMPLETED", now_iso(-10), 60, now_iso(-1))
    jobs.store.create(job)
    jobs.objects.put_bytes(jobs.bucket, "service/tap-jobs/0123456789abcdef/result", b"x")
    assert jobs.sweep() >= 1
    with pytest.raises(Exception, match="no job"):
        jobs.store.get("0123456789abcdef")
    assert not jobs.objects.exists(jobs.bucket, "service/tap-jobs/0123456789abcdef/result")


def test_a_restart_requeues_unfinished_jobs(tmp_path, service):
    store = SqliteJobStore(tmp_path / "s.sqlite")
    for jid, phase in (("a" * 16, "QUEUED"), ("b" * 16, "EXECUTING"), ("c" * 16, "PENDING")):
        store.create(TapJob(jid, None, phase, now_iso(), 60, now_iso(60)))
    jobs = AsyncJobs(store, _jobs(service).objects, "products", _jobs(service).queries)

    class Runner:
        def __init__(self):
            self.submitted = []

        def submit(self, job_id):
            self.submitted.append(job_id)

    jobs.runner = Runner()
    assert sorted(jobs.requeue()) == ["a" * 16, "b" * 16]
    assert store.get("b" * 16).phase == "QUEUED" and store.get("c" * 16).phase == "PENDING"
