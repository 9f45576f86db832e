"""The local monitor's door (issue 14.5): Host names, same-origin and a session token for
state-changing requests, and a burst of concurrent reads all answered."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_web import QUIET, failed_job, make_workspace

from cloudphot.events import JobState
from cloudphot.monitor.web import MonitorApp, make_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in QUIET.items():
            mp.setenv(k, v)
        rt, _good, _bad = make_workspace(tmp_path_factory.mktemp("door"))
        app = MonitorApp(rt, run_in_background=lambda: None)  # a retry starts nothing here
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield app, rt, server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
            app.wait_idle(30)
            rt.close()


def request(port, method, path, headers=None, body=b"", timeout=60.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        for k, v in headers.items():
            if v is not None:
                conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "host,status",
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("[::1]:{port}", 200),
        ("evil.example:{port}", 421),  # a rebound name resolving to 127.0.0.1
        ("127.0.0.1.evil.example", 421),
        ("", 421),
    ],
)
def test_only_the_served_host_names_are_answered(served, host, status):
    _app, _rt, port = served
    got, _, body = request(port, "GET", "/api/tree", {"Host": host.format(port=port)})
    assert got == status, body
    if status == 421:
        assert b"DNS rebinding" in body and b"roots" not in body


def test_allow_host_adds_a_name(served):
    _app, rt, _port = served
    app = MonitorApp(rt).guard("0.0.0.0", ("monitor.lab.example",))
    assert "monitor.lab.example" in app.allowed_hosts and "0.0.0.0" not in app.allowed_hosts
    status, _, _ = app.handle("GET", "/nowhere", headers={"Host": "monitor.lab.example:80"})
    assert status == 404  # answered (no such page), not refused
    status, _, _ = app.handle("GET", "/nowhere", headers={"Host": "other.example"})
    assert status == 421


def test_the_page_carries_the_session_token_and_cannot_be_framed(served):
    app, _rt, port = served
    status, headers, body = request(port, "GET", "/")
    assert status == 200
    assert f'<meta name="cloudphot-token" content="{app.session_token}">'.encode() in body
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_a_cross_origin_text_plain_retry_is_refused_and_starts_nothing(served):
    """The issue's attack: any page the owner visits POSTs a "simple" request (no
    preflight) at the monitor; it used to return 202 and start a run."""
    app, rt, port = served
    job = failed_job(rt)
    path = f"/api/jobs/{job.job_id}/retry"
    attacks = [
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Referer": "http://evil.example/page", "Content-Type": "text/plain"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
        {"Content-Type": "text/plain"},  # no origin at all, and no token
        {"Origin": f"http://127.0.0.1:{port}", "X-Cloudphot-Token": "guessed"},
        # the real token is useless from another origin
        {"Origin": "http://evil.example", "X-Cloudphot-Token": app.session_token},
    ]
    for headers in attacks:
        status, _, body = request(port, "POST", path, headers, b"{}")
        assert status == 403, (headers, body)
        assert rt.store.job(job.job_id).state is JobState.FAILED
    assert not app.running and not app.last_run


def test_the_page_itself_can_retry(served):
    app, rt, port = served
    job = failed_job(rt)
    status, _, body = request(
        port,
        "POST",
        f"/api/jobs/{job.job_id}/retry",
        {"Origin": f"http://127.0.0.1:{port}", "X-Cloudphot-Token": app.session_token},
    )
    assert status == 202, body
    assert json.loads(body)["reset"] == [job.job_id]
    assert rt.store.job(job.job_id).state is JobState.PENDING
    rt.store.transition(job.job_id, JobState.FAILED, error="InvalidExposure")  # as it was


def _busy_workspace(home, n: int):
    """A workspace whose every tree or status read scans ``n`` events and ``n`` jobs."""
    from cloudphot.events import Event, Job
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    rt = LocalPlatform(Settings.from_env(home=home, backend="local", env={}))
    store = rt.store
    for i in range(n):
        event = Event(
            event_id=f"obj-{i:08d}",
            type="object.created",
            subject=f"j{i:07d}q_flc.fits",
            payload={"bucket": "raw", "key": f"j{i:07d}q_flc.fits", "bucket_role": "raw"},
            source="s3",
        )
        store.record(event)
        store.create_job(
            Job(
                job_id=f"ingest_exposure-{i:016x}",
                event_id=event.event_id,
                task="ingest_exposure",
                executor={"kind": "state_machine", "name": "IngestExposureStateMachine"},
                input={},
            )
        )
    return rt


@pytest.mark.slow
def test_two_hundred_concurrent_reads_are_all_answered(tmp_path):
    """The issue's burst: 200 concurrent GETs of /api/tree and /api/status, each of
    which scans every event and job (2,000 of each here, about a second a scan on two
    busy cores). With one scan per request and a listen backlog of 5, a third of them
    timed out at 60 s; now reads are shared and the backlog holds the queue. This
    asserts that every request is answered, not how fast."""
    rt = _busy_workspace(tmp_path / "ws", 2000)
    app = MonitorApp(rt)
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = server.server_address[1]
        paths = ["/api/tree", "/api/status"] * 100
        with ThreadPoolExecutor(max_workers=200) as pool:
            answers = list(pool.map(lambda p: request(port, "GET", p, timeout=60.0), paths))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        rt.close()
    assert [a[0] for a in answers] == [200] * 200
    assert {json.loads(a[2])["jobs"] for a in answers} == {2000}
