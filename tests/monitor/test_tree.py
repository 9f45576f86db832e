"""The event/job tree: structure, failure surfacing, filters, collapse."""

import pytest

from cloudphot.events import Event, Job, JobState
from cloudphot.monitor.tree import build_tree, filter_tree


def _job(jid, event_id, task, state, error=None):
    return Job(
        job_id=jid,
        event_id=event_id,
        task=task,
        executor={},
        input={},
        state=state,
        attempts=1,
        error=error,
        cause="bad pixels" if error else None,
        created_at="2026-01-01T00:00:01Z",
        updated_at="2026-01-01T00:00:03Z",
        transitions=[{"state": "RUNNING", "at": "2026-01-01T00:00:01Z"}],
    )


def test_tree_links_events_jobs_and_produced_events_and_surfaces_failures():
    events = [
        Event("e1", "object.created", "a.fits", source="s3", created_at="2026-01-01T00:00:00Z"),
        Event("e2", "object.created", "b.fits", source="s3", created_at="2026-01-01T00:00:00Z"),
        Event("j1.exposure.registered", "exposure.registered", "a", source="j1-0000000000000000"),
    ]
    jobs = [
        _job("j1-0000000000000000", "e1", "ingest", JobState.SUCCEEDED),
        _job("j2-0000000000000000", "e2", "ingest", JobState.FAILED, error="InvalidExposure"),
        _job("j3-0000000000000000", "j1.exposure.registered", "check", JobState.SUCCEEDED),
    ]
    roots = build_tree(events, jobs)
    assert [r.id for r in roots] == ["e1", "e2"]
    chain = [n.id for n in roots[0].walk()]
    assert chain == ["e1", "j1-0000000000000000", "j1.exposure.registered", "j3-0000000000000000"]
    failed = roots[1].children[0]
    assert failed.failed and failed.detail["rerun"] == "cloudphot retry e2 --task ingest"
    assert failed.detail["duration_s"] == 2.0
    assert [r.id for r in filter_tree(roots, failed=True)] == ["e2"]
    assert [r.id for r in filter_tree(roots, subject="a.fits")] == ["e1"]
    assert roots[0].counts() == {"SUCCEEDED": 2}


def test_tree_of_many_jobs_is_built_in_linear_passes():
    events = [Event(f"e{i}", "object.created", f"{i}.fits", source="s3") for i in range(3000)]
    jobs = [
        _job(f"j{i}-0000000000000000", f"e{i}", "ingest", JobState.SUCCEEDED) for i in range(3000)
    ]
    roots = build_tree(events, jobs)
    assert len(roots) == 3000 and all(len(r.children) == 1 for r in roots)


# --- issue 18 item 7: what the tree says about retries, branches, bad data, results ---------


def test_a_retried_jobs_duration_is_its_running_time_not_the_span_of_its_attempts():
    job = _job("j1-0000000000000000", "e1", "reduce_field", JobState.SUCCEEDED)
    job.attempts = 3
    job.transitions = [  # three 0.2 s attempts, minutes apart (backoff, a queue)
        {"state": "RUNNING", "at": "2026-01-01T00:00:00.000Z"},
        {"state": "PENDING", "at": "2026-01-01T00:00:00.200Z"},
        {"state": "RUNNING", "at": "2026-01-01T00:03:00.000Z"},
        {"state": "PENDING", "at": "2026-01-01T00:03:00.200Z"},
        {"state": "RUNNING", "at": "2026-01-01T00:07:30.000Z"},
        {"state": "SUCCEEDED", "at": "2026-01-01T00:07:30.200Z"},
    ]
    job.updated_at = "2026-01-01T00:07:30.200Z"
    [root] = build_tree([Event("e1", "field.ready", "f", source="s")], [job])
    assert root.children[0].detail["duration_s"] == pytest.approx(0.6)  # was 450 s


def test_bad_data_gets_what_to_fix_not_a_retry():
    events = [Event(f"e{i}", "object.created", f"{i}.fits", source="s3") for i in (1, 2, 3)]
    bad = _job("j1-0000000000000000", "e1", "ingest_exposure", JobState.FAILED, "InvalidExposure")
    nostars = _job("j2-0000000000000000", "e2", "reduce_field", JobState.FAILED, "NoStars")
    crash = _job("j3-0000000000000000", "e3", "reduce_field", JobState.FAILED, "States.Timeout")
    roots = build_tree(events, [bad, nostars, crash])
    d1, d2, d3 = (r.children[0].detail for r in roots)
    assert d1["retryable"] is False and "upload a corrected file" in d1["fix"]
    assert d2["retryable"] is False and "cloudphot replay e2 --set photometry." in d2["fix"]
    assert d3["retryable"] is True and "fix" not in d3
    assert d3["rerun"] == "cloudphot retry e3 --task reduce_field"


def test_a_replay_branch_is_labelled_with_the_options_it_changed():
    base = _job("j1-0000000000000000", "e1", "reduce_field", JobState.SUCCEEDED)
    base.input = {"options": {"photometry": {"detect_threshold_sigma": 5.0, "fit_shape": 7}}}
    branch = _job("j1-0000000000000000-b", "e1", "reduce_field", JobState.SUCCEEDED)
    branch.branch = "s4"
    branch.input = {
        "options": {"photometry": {"detect_threshold_sigma": 4, "fit_shape": 7}, "branch": "s4"},
        "replay_of": base.job_id,
    }
    [root] = build_tree([Event("e1", "field.ready", "f", source="s")], [base, branch])
    main, replay = root.children
    assert "branch" not in main.detail
    assert replay.detail["branch"] == "s4"
    assert replay.detail["changed"] == ["photometry.detect_threshold_sigma=4"]


def test_the_science_result_is_a_sentence():
    job = _job("j1-0000000000000000", "e1", "reduce_field", JobState.SUCCEEDED)
    job.output = {
        "field_id": "sim-tiny-s0",
        "summary": {
            "field_id": "sim-tiny-s0",
            "filters": ["F475W", "F814W"],
            "n_exposures": 8,
            "n_measurements": 1945,
            "n_stars": 288,
        },
    }
    [root] = build_tree([Event("e1", "field.ready", "f", source="s")], [job])
    assert root.children[0].detail["result"] == (
        "288 stars, 1,945 measurements in F475W, F814W from 8 exposure(s) of field sim-tiny-s0"
    )


def test_a_field_waiting_for_its_manifest_is_said_so():
    job = _job("j1-0000000000000000", "e1", "check_field", JobState.SUCCEEDED)
    job.output = {"field_id": "f9", "ready": False, "waiting_for": "manifest"}
    [root] = build_tree([Event("e1", "exposure.registered", "x", source="s")], [job])
    assert root.children[0].detail["result"] == "field f9 waits for its manifest"
    job.output = {"field_id": "f9", "ready": False, "waiting_for": ["ja", "jb"]}
    [root] = build_tree([Event("e1", "exposure.registered", "x", source="s")], [job])
    assert root.children[0].detail["result"] == "field f9 waits for 2 exposure(s)"
