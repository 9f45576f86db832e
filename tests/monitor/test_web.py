"""The web monitor's routes, on a workspace made by running the real local pipeline.

Two good synthetic exposures and a truncated copy are uploaded and drained
through the real state machines, so one ingest job fails exactly as it would in use.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cloudphot.events import JobState
from cloudphot.monitor.web import MonitorApp, make_server


def make_workspace(base: Path):
    """A local runtime after a real run with one failed ingest; returns (runtime, good, bad)."""
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings
    from cloudphot.simulate.exposure import synthetic_exposure

    rt = LocalPlatform(
        Settings.from_env(home=base / "ws", backend="local", env={}), sleep=lambda s: None
    )
    src = base / "in"
    src.mkdir(parents=True)
    good = [
        synthetic_exposure(
            src / f"jweb0{i}q_flc.fits", rootname=f"jweb0{i}q", shape=(64, 64), nstars=8, seed=i
        )
        for i in range(2)
    ]
    data = good[0].read_bytes()
    bad = src / "jwebbadq_flc.fits"
    bad.write_bytes(data[: len(data) // 2])
    rt.runner.upload([*good, bad])
    rt.run()
    return rt, good, bad


QUIET = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "cloudphot",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    # module scope runs outside the function-scoped env fixture of tests/conftest.py
    with pytest.MonkeyPatch.context() as mp:
        for k, v in QUIET.items():
            mp.setenv(k, v)
        rt, _good, _bad = make_workspace(tmp_path_factory.mktemp("web"))
        yield rt
        rt.close()


@pytest.fixture(scope="module")
def app(ws):
    return MonitorApp(ws)


def get(app, path, query=None):
    status, headers, body = app.handle("GET", path, query, None)
    return status, headers, body


def get_json(app, path, query=None, expect=200):
    status, headers, body = get(app, path, query)
    assert headers["Content-Type"].startswith("application/json"), (path, status)
    doc = json.loads(body)
    assert status == expect, (path, status, doc)
    return doc


def failed_job(rt):
    (job,) = rt.store.jobs(JobState.FAILED)
    return job


def test_page_and_static_files_are_served(app):
    status, headers, body = get(app, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/static/app.js"' in body and b"http" not in body.split(b"<body>")[1].replace(
        b"/api/tree", b""
    )  # no CDN: nothing is loaded from elsewhere
    status, headers, body = get(app, "/static/app.js")
    assert status == 200 and "javascript" in headers["Content-Type"] and b"/api/tree" in body
    assert get(app, "/static/app.css")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/../web.py",
        "/static/%2e%2e/web.py",
        "/static/..%2fweb.py",
        "/static/..%2F..%2Fcli.py",
        "/static//etc/passwd",
        "/static/./app.js",
        "/static/.hidden",
        "/static/app.js%00.png",
        "/static/..\\web.py",
        "/static/",
        "/../../etc/passwd",
        "/etc/passwd",
    ],
)
def test_path_traversal_on_static_files_is_refused(app, path):
    status, _headers, body = app.handle("GET", path, "", None)
    assert status in (400, 404)
    assert b"import" not in body and b"root:" not in body
    assert "error" in json.loads(body)


def test_status_counts_jobs_by_state(app):
    doc = get_json(app, "/api/status")
    assert doc["counts"]["FAILED"] == 1 and doc["counts"]["SUCCEEDED"] == 4
    assert doc["failed"] == 1 and doc["jobs"] == 5 and doc["runner"]["running"] is False


def test_tree_puts_the_failure_first_with_its_error_and_folds_succeeded_roots(app, ws):
    doc = get_json(app, "/api/tree")
    assert doc["counts"]["FAILED"] == 1
    first = doc["roots"][0]
    assert first["subject"] == "jwebbadq_flc.fits"
    job = first["children"][0]
    assert job["state"] == "FAILED" and job["detail"]["error"] == "InvalidExposure"
    assert "truncated" in job["detail"]["cause"]
    assert job["detail"]["rerun"] == f"cloudphot retry {first['id']} --task ingest_exposure"
    assert doc["collapsed"] == [{"label": "object.created", "roots": 2, "jobs": 4}]
    # expanded, every root is listed
    assert len(get_json(app, "/api/tree", "all=1")["roots"]) == 3


def test_tree_filters(app):
    assert [r["subject"] for r in get_json(app, "/api/tree", "failed=1")["roots"]] == [
        "jwebbadq_flc.fits"
    ]
    # search matches subject, task, state and ids, and shows matching subtrees unfolded
    hit = get_json(app, "/api/tree", {"q": "JWEB01Q"})
    assert [r["subject"] for r in hit["roots"]] == ["jweb01q_flc.fits"] and not hit["collapsed"]
    assert len(get_json(app, "/api/tree", "q=check_field")["roots"]) == 2
    assert len(get_json(app, "/api/tree", "q=failed")["roots"]) == 1
    assert get_json(app, "/api/tree", "q=nothing-like-this")["roots"] == []
    assert get_json(app, "/api/tree", "subject=jweb00q&all=1")["matched_roots"] == 1
    assert get_json(app, "/api/tree", "since=2999-01-01T00:00:00Z")["matched_roots"] == 0
    assert get_json(app, "/api/tree", "since=2000-01-01")["matched_roots"] == 3
    assert len(get_json(app, "/api/tree", "all=1&limit=1")["roots"]) == 1


@pytest.mark.parametrize(
    "query", ["failed=maybe", "since=yesterday", "limit=0", "limit=ten", "limit=99999999", "all=2"]
)
def test_bad_query_values_are_400_with_a_message(app, query):
    doc = get_json(app, "/api/tree", query, expect=400)
    assert doc["status"] == 400 and query.split("=")[0] in doc["error"]


def test_job_page_data_for_the_failed_job(app, ws):
    job = failed_job(ws)
    doc = get_json(app, f"/api/jobs/{job.job_id}")
    # a truncated upload fails again on a retry until it is replaced: no retry button,
    # what to do instead (issue 18 item 7)
    assert doc["state"] == "FAILED" and doc["retryable"] is False
    assert doc["fix"].startswith("the upload itself is refused: upload a corrected file")
    assert doc["reason"].startswith("InvalidExposure: ") and "truncated" in doc["reason"]
    assert doc["rerun"] == f"cloudphot retry {job.event_id} --task ingest_exposure"
    assert doc["event"]["payload"]["key"] == "jwebbadq_flc.fits"
    assert {"uri": "s3://raw/jwebbadq_flc.fits", "access": "read"} in doc["objects"]
    assert [t["state"] for t in doc["transitions"]] == ["RUNNING", "FAILED"]
    assert all(t["host"] and t["pid"] for t in doc["transitions"])
    assert doc["ran_on"]["runtime"] == "local" and "cpu_seconds" in doc["ran_on"]
    (attempt,) = doc["attempts_list"]
    assert attempt["status"] == "FAILED" and doc["execution"] == job.job_id
    assert [e["type"] for e in doc["produced"]] == ["exposure.rejected"]
    assert doc["cost"]["total_usd"] > 0 and doc["cost"]["usage"]["transitions"] == 3


def test_execution_history_and_graph_mark_the_failed_state(app, ws):
    job = failed_job(ws)
    doc = get_json(app, f"/api/executions/{job.job_id}")
    types = [e["type"] for e in doc["history"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionFailed"
    g = get_json(app, f"/api/executions/{job.job_id}/graph")
    assert g["state_machine"] == "IngestExposureStateMachine" and g["status"] == "FAILED"
    assert g["states"]["ReadExposure"]["status"] == "caught"
    assert g["states"]["ReadExposure"]["error"] == "InvalidExposure"
    assert g["states"]["Rejected"]["status"] == "failed"
    nodes = {n["id"]: n["status"] for n in g["graph"]["nodes"]}
    assert nodes["StoreExposure"] == "not_reached" and nodes["RecordRejection"] == "succeeded"
    assert 'data-state="Rejected" data-status="failed"' in g["svg"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/no-such-job",
        "/api/executions/no-such-execution",
        "/api/executions/no-such-execution/graph",
        "/api/nothing",
        "/api/jobs/" + "x" * 5000,
        "/api/jobs/%00",
        "/jobs/x",
    ],
)
def test_unknown_ids_and_routes_are_404_json_with_a_message(app, path):
    doc = get_json(app, path, expect=404)
    assert doc["error"] and doc["status"] == 404


def test_wrong_methods(app, ws):
    assert app.handle("DELETE", "/api/tree", "", None)[0] == 405
    assert app.handle("POST", "/api/tree", "", b"{}")[0] == 405
    status, _, body = app.handle("POST", "/api/jobs/no-such-job/retry", "", b"")
    assert status == 404 and b"no-such-job" in body
    ok = next(j for j in ws.store.jobs() if j.state is JobState.SUCCEEDED)
    status, _, body = app.handle("POST", f"/api/jobs/{ok.job_id}/retry", "", b"")
    assert status == 409 and b"SUCCEEDED" in body


def test_retry_resets_the_job_and_runs_it_again_in_the_background(tmp_path):
    rt, _good, bad = make_workspace(tmp_path)
    try:
        app = MonitorApp(rt)
        job = failed_job(rt)
        # an idle workspace's tree is served from cache, until the tables change
        time.sleep(1.1)
        before = get_json(app, "/api/tree", "failed=1")
        assert get_json(app, "/api/tree", "failed=1") == before and len(before["roots"]) == 1
        # the operator replaces the broken upload, then presses retry
        from cloudphot.simulate.exposure import synthetic_exposure

        fixed = synthetic_exposure(tmp_path / bad.name, rootname="jwebbadq", shape=(64, 64))
        assert get_json(app, f"/api/jobs/{job.job_id}")["retryable"] is False
        rt.objects.put_file(rt.settings.bucket("raw"), bad.name, fixed)
        # replaced under the same key: a retry reads the new file, so it is offered again
        doc = get_json(app, f"/api/jobs/{job.job_id}")
        assert doc["retryable"] is True and doc["fix"] is None, doc
        (node,) = [
            c for r in get_json(app, "/api/tree", "failed=1")["roots"] for c in r["children"]
        ]
        assert node["detail"]["retryable"] is True and "fix" not in node["detail"]
        status, _, body = app.handle("POST", f"/api/jobs/{job.job_id}/retry", "", b"")
        assert status == 202, body
        assert json.loads(body)["reset"] == [job.job_id]
        assert app.wait_idle(60)
        assert app.last_run["error"] is None
        doc = get_json(app, f"/api/jobs/{job.job_id}")
        assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 2
        assert [a["status"] for a in doc["attempts_list"]] == ["FAILED", "SUCCEEDED"]
        assert doc["execution"] == f"{job.job_id}-r1"
        assert [t["state"] for t in doc["transitions"]] == [
            "RUNNING",
            "FAILED",
            "PENDING",
            "RUNNING",
            "SUCCEEDED",
        ]
        # the ledger bills both attempts (the replacement's own notification ingests it
        # concurrently; when the two race, the second attempt reads it once more)
        assert doc["cost"]["usage"]["lambda_requests"] in (2, 3)
        assert get_json(app, "/api/status")["counts"]["FAILED"] == 0
        after = get_json(app, "/api/tree", "failed=1")
        assert after["roots"] == [] and after["counts"]["FAILED"] == 0
    finally:
        rt.close()


def test_the_routes_over_http_on_a_free_port(app, ws):
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/api/status", timeout=10) as r:
            assert r.status == 200 and json.load(r)["counts"]["FAILED"] == 1
        with urllib.request.urlopen(f"{base}/api/tree?failed=1", timeout=10) as r:
            assert len(json.load(r)["roots"]) == 1
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/static/..%2f..%2fcli.py", timeout=10)
        assert err.value.code == 404
        req = urllib.request.Request(
            f"{base}/api/jobs/nope/retry",
            data=b"",
            method="POST",
            headers={"X-Cloudphot-Token": app.session_token},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 404 and "nope" in json.loads(err.value.read())["error"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_storage_errors_and_bugs_are_500_json_never_a_dropped_request(ws, monkeypatch):
    from cloudphot.errors import StorageError

    app = MonitorApp(ws)  # nothing cached yet: every read scans

    def locked(*a, **k):
        raise StorageError("cannot scan table 'jobs': database is locked")

    monkeypatch.setattr(ws.store, "jobs", locked)
    doc = get_json(app, "/api/status", expect=500)
    assert "database is locked" in doc["error"]
    monkeypatch.setattr(ws.store, "jobs", lambda *a, **k: 1 / 0)
    doc = get_json(app, "/api/tree", "all=1", expect=500)
    assert doc["error"] == "internal error (ZeroDivisionError)"


def test_worker_logs_are_tailed_only_inside_the_workspace(app, ws):
    job = failed_job(ws)
    log = ws.settings.logs_dir / "ecs" / "task1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(5000)) + "CLOUDPHOT_ERROR worker died\n")
    workers = [
        {
            "task_arn": "arn:aws:ecs:local:000000000000:task/c/1",
            "capacity_provider": "FARGATE_SPOT",
            "log": str(log),
        },
        {
            "task_arn": "arn:aws:ecs:local:000000000000:task/c/2",
            "capacity_provider": "FARGATE",
            "log": "/etc/passwd",
        },
    ]
    original = job.ran_on
    ws.tables.update("jobs", job.job_id, {"ran_on": {**original, "workers": workers}})
    try:
        doc = get_json(app, f"/api/jobs/{job.job_id}")
        tail, outside = doc["workers"]
        assert tail["capacity_provider"] == "FARGATE_SPOT"
        assert tail["log_tail"].endswith("CLOUDPHOT_ERROR worker died\n")
        assert "line 4999" in tail["log_tail"] and "line 0\n" not in tail["log_tail"]
        assert outside["log_tail"] is None
        tree = get_json(app, "/api/tree", "failed=1")
        where = tree["roots"][0]["children"][0]["detail"]["where"]
        assert where.endswith("+ 2 worker(s) on FARGATE")
    finally:
        ws.tables.update("jobs", job.job_id, {"ran_on": original})


def test_the_same_routes_behind_api_gateway_proxy_events(app, ws):
    from cloudphot.monitor.web import api_gateway_response

    v1 = api_gateway_response(
        app, {"httpMethod": "GET", "path": "/api/tree", "queryStringParameters": {"failed": "1"}}
    )
    assert v1["statusCode"] == 200 and not v1["isBase64Encoded"]
    assert len(json.loads(v1["body"])["roots"]) == 1
    v2 = api_gateway_response(
        app,
        {
            "rawPath": "/api/tree",
            "rawQueryString": "since=soon",
            "requestContext": {"http": {"method": "GET"}},
        },
    )
    assert v2["statusCode"] == 400 and "since" in json.loads(v2["body"])["error"]
    page = api_gateway_response(
        app, {"rawPath": "/", "requestContext": {"http": {"method": "GET"}}}
    )
    assert page["statusCode"] == 200 and "<html" in page["body"]
    post = api_gateway_response(
        app,
        {
            "httpMethod": "POST",
            "path": "/api/jobs/nope/retry",
            "body": "e30=",
            "isBase64Encoded": True,
        },
    )
    assert post["statusCode"] == 404
