"""The one door of ``cloudphot serve`` (issue 14.5), for both halves of the app it serves:
the TAP service and the web monitor answer the same Host names, and neither takes a
state-changing request from another site. Built by ``guarded_app``, as the command
builds it, and served over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from cloudphot.events import Event, Job, JobState
from cloudphot.monitor.web import MonitorApp
from cloudphot.service.local import BackgroundServer, guarded_app

from .conftest import LIMITS

QUERY = {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objid FROM phat_v2.phot_mod"}


@pytest.fixture(scope="module")
def served(demo_catalog):
    """(root URL, monitor, platform, a failed job id) of the guarded app.

    Bound to 127.0.0.1 but guarded as ``--host 0.0.0.0 --allow-host monitor.lab.example``:
    the wildcard address is never a Host name answered (a page can fetch
    http://0.0.0.0:PORT/ and reach a local server on Linux)."""
    from cloudphot.runtime.platform import LocalPlatform

    settings, _cat, _ = demo_catalog
    platform = LocalPlatform(settings)
    event = Event(
        event_id="door-e1",
        type="object.created",
        subject="jdoor01q_flc.fits",
        payload={"bucket": "raw", "key": "jdoor01q_flc.fits"},
        source="s3",
    )
    platform.store.record(event)
    job = Job(
        job_id="ingest_exposure-d00d",
        event_id=event.event_id,
        task="ingest_exposure",
        executor={"kind": "state_machine", "name": "IngestExposureStateMachine"},
        input={},
    )
    platform.store.create_job(job)
    platform.store.transition(job.job_id, JobState.FAILED, error="InvalidExposure")
    started = []
    monitor = MonitorApp(platform, run_in_background=lambda: started.append(1))
    app, monitor = guarded_app(
        platform,
        host="0.0.0.0",
        allow_hosts=("monitor.lab.example",),
        limits=LIMITS,
        monitor=monitor,
    )
    try:
        with BackgroundServer(app) as server:
            yield server.url, monitor, platform, job.job_id, started
    finally:
        monitor.wait_idle(30)
        platform.close()


def _port(url: str) -> str:
    return url.rstrip("/").rsplit(":", 1)[1]


READS = ["api/tree", "api/status", "", "tap/availability", "tap/tables"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    "host,status",
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("[::1]:{port}", 200),
        ("monitor.lab.example", 200),  # --allow-host
        ("evil.example:{port}", 421),  # a rebound name
        ("0.0.0.0:{port}", 421),  # the bound wildcard is not a name
        ("127.0.0.1.evil.example", 421),
    ],
)
def test_both_halves_answer_the_same_host_names(served, path, host, status):
    url, *_ = served
    got = httpx.get(url + path, headers={"Host": host.format(port=_port(url))}, timeout=60)
    assert got.status_code == status, (path, host, got.text[:200])


CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Referer": "http://evil.example/page"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: ",".join(h.values()))
def test_cross_site_writes_are_refused_by_both(served, headers):
    url, monitor, platform, job_id, started = served
    tap = httpx.post(url + "tap/async", data=QUERY, headers=headers, timeout=60)
    assert tap.status_code == 403, tap.text
    # the attack: a "simple" text/plain POST at the retry button, with the token
    retry = httpx.post(
        url + f"api/jobs/{job_id}/retry",
        content=b"{}",
        headers={
            **headers,
            "Content-Type": "text/plain",
            "X-Cloudphot-Token": monitor.session_token,
        },
        timeout=60,
    )
    assert retry.status_code == 403, retry.text
    assert platform.store.job(job_id).state is JobState.FAILED and not started


def test_clients_without_an_origin_and_the_page_itself_get_through(served):
    url, monitor, platform, job_id, started = served
    # pyvo, TOPCAT and stilts send no Origin: TAP takes their writes
    assert httpx.post(url + "tap/sync", data=QUERY, timeout=60).status_code == 200
    # the monitor also needs its session token, which only its page carries
    bare = httpx.post(url + f"api/jobs/{job_id}/retry", timeout=60)
    assert bare.status_code == 403 and "token" in bare.text
    origin = url.rstrip("/")
    same = httpx.post(
        url + f"api/jobs/{job_id}/retry",
        headers={"Origin": origin, "X-Cloudphot-Token": monitor.session_token},
        timeout=60,
    )
    assert same.status_code == 202, same.text
    assert platform.store.job(job_id).state is JobState.PENDING
    monitor.wait_idle(30)
    assert started
    platform.store.transition(job_id, JobState.FAILED, error="InvalidExposure")  # as it was
    started.clear()
    async_job = httpx.post(url + "tap/async", data=QUERY, headers={"Origin": origin}, timeout=60)
    assert async_job.status_code == 303
