"""Rerun from the event, and reconciliation of lost notifications (local runtime)."""

import contextlib

import pytest

from cloudphot.events import JobState
from cloudphot.events.retry import reset_for_retry
from cloudphot.storage import s3_object_created_event


@contextlib.contextmanager
def notifications_lost(store):
    """Writes inside the block emit no S3 notification (a lost or late delivery)."""
    listener, store.on_created = store.on_created, None
    try:
        yield
    finally:
        store.on_created = listener


@pytest.fixture
def good(tmp_path):
    from cloudphot.simulate.exposure import synthetic_exposure

    return synthetic_exposure(
        tmp_path / "jgood01q_flc.fits", rootname="jgood01q", shape=(64, 64), nstars=8
    )


def test_fix_the_input_and_rerun_the_failed_job_from_its_event(runtime, good):
    bucket = runtime.settings.bucket("raw")
    runtime.objects.put_bytes(bucket, good.name, good.read_bytes()[:4000])
    runtime.run()
    (failed,) = runtime.store.jobs(JobState.FAILED)
    # replace the bad input in place, without a new notification, then rerun from the event
    with notifications_lost(runtime.objects):
        runtime.objects.put_file(bucket, good.name, good)
    jobs = reset_for_retry(runtime.store, event_id=failed.event_id)
    assert [j.job_id for j in jobs] == [failed.job_id]
    runtime.run()
    job = runtime.store.job(failed.job_id)
    assert job.state is JobState.SUCCEEDED and job.attempts == 2
    assert [x["exposure_id"] for x in runtime.tables.scan("exposures")] == ["jgood01q"]
    # the second attempt ran as a new execution, the first is kept
    names = sorted(
        r.name for r in runtime.executions.list(state_machine="IngestExposureStateMachine")
    )
    assert names == [failed.job_id, f"{failed.job_id}-r1"]


def test_retry_leaves_succeeded_jobs_alone_unless_forced(runtime, good):
    runtime.upload([good])
    runtime.run()
    (job,) = [j for j in runtime.store.jobs() if j.task == "ingest_exposure"]
    assert reset_for_retry(runtime.store, event_id=job.event_id) == []
    n_events = len(list(runtime.store.events()))
    n_jobs = len(runtime.store.jobs())
    assert len(reset_for_retry(runtime.store, event_id=job.event_id, force=True)) == 1
    runtime.run()
    # the rerun emitted the same exposure.registered event id: nothing downstream starts again
    assert len(list(runtime.store.events())) == n_events
    assert len(runtime.store.jobs()) == n_jobs


def test_retry_of_unknown_event_or_task_names_it(runtime):
    from cloudphot.errors import ItemNotFound

    with pytest.raises(ItemNotFound, match="no-such-event"):
        reset_for_retry(runtime.store, event_id="no-such-event")


def test_reconcile_finds_uploads_whose_notification_was_lost(runtime, good):
    from cloudphot.pipeline.reconcile import reconcile_raw_bucket
    from cloudphot.pipeline.services import Services

    with notifications_lost(runtime.objects):
        runtime.objects.put_file(runtime.settings.bucket("raw"), good.name, good)
    assert runtime.run().jobs == {}
    svc = Services(runtime.settings, runtime.objects, runtime.tables)
    (event,) = reconcile_raw_bucket(svc)
    assert event.payload["reconciled"] is True
    assert reconcile_raw_bucket(svc) == []  # idempotent
    late = s3_object_created_event(runtime.objects.head(runtime.settings.bucket("raw"), good.name))
    runtime.notify_object_created(late)
    summary = runtime.run()
    assert summary.jobs["SUCCEEDED"] >= 1
    assert len([j for j in runtime.store.jobs() if j.task == "ingest_exposure"]) == 1


def test_a_budget_cap_holds_new_work_and_a_later_run_resumes_it(runtime, good, tmp_path):
    from cloudphot.simulate.exposure import synthetic_exposure

    runtime.upload([good])
    first = runtime.run()
    spent = runtime.spent_usd()
    assert spent > 0 and first.held_by_budget is None
    more = synthetic_exposure(
        tmp_path / "jmore01q_flc.fits", rootname="jmore01q", shape=(64, 64), nstars=8, seed=5
    )
    runtime.upload([more])
    held = runtime.run(budget_usd=spent)  # already at the cap: nothing new starts
    assert held.jobs == {} and "held PENDING" in held.held_by_budget
    assert len(runtime.store.jobs(JobState.PENDING)) == 1
    resumed = runtime.run()
    assert resumed.jobs == {"SUCCEEDED": 2}  # the held ingest, then its check_field
    assert not runtime.store.jobs(JobState.PENDING)
