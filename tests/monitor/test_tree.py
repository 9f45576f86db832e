"""The event/job tree: structure, failure surfacing, filters, collapse."""

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
