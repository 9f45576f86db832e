"""End to end, locally: upload -> S3-shaped notification -> OnObject handler -> event ->
dispatcher -> ingest_exposure state machine (the real ASL file) -> Lambda handler
in-process -> DynamoDB integration -> exposure.registered / exposure.rejected."""

from pathlib import Path

import pytest

from cloudphot.events import JobState


@pytest.fixture
def exposures(tmp_path) -> list[Path]:
    from cloudphot.simulate.exposure import synthetic_exposure

    out = tmp_path / "in"
    out.mkdir()
    return [
        synthetic_exposure(
            out / f"jtest0{i}q_flc.fits",
            filter=f,
            rootname=f"jtest0{i}q",
            seed=i,
            shape=(64, 64),
            nstars=10,
        )
        for i, f in enumerate(["F475W", "F814W"])
    ]


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def test_uploads_are_registered_and_a_corrupt_file_is_rejected_with_its_reason(
    runtime, exposures, tmp_path
):
    bad = _truncated(exposures[0], tmp_path / "jbad01q_flc.fits")
    note = tmp_path / "README.txt"
    note.write_text("not an exposure")
    runtime.upload([*exposures, bad, note])
    summary = runtime.run()
    # 3 ingest jobs (one fails), and a check_field job per registered exposure
    assert summary.jobs == {"SUCCEEDED": 4, "FAILED": 1}
    assert (
        sorted(j.task for j in runtime.store.jobs())
        == ["check_field"] * 2 + ["ingest_exposure"] * 3
    )

    registered = sorted(x["exposure_id"] for x in runtime.tables.scan("exposures"))
    assert registered == ["jtest00q", "jtest01q"]
    events = {e.type: e for e in runtime.store.events()}
    assert set(events) == {"object.created", "exposure.registered", "exposure.rejected"}
    rejected = [e for e in runtime.store.events() if e.type == "exposure.rejected"]
    assert len(rejected) == 1 and rejected[0].subject == "jbad01q_flc.fits"
    cause = rejected[0].payload["error"]["Cause"]
    assert "jbad01q_flc.fits" in cause and "truncated" in cause.lower()

    failed = runtime.store.jobs(JobState.FAILED)
    assert len(failed) == 1 and failed[0].error == "InvalidExposure"
    # every object gets an event; only FITS files trigger ingest
    assert sum(e.type == "object.created" for e in runtime.store.events()) == 4


def test_execution_history_follows_step_functions_event_types(runtime, exposures):
    runtime.upload(exposures[:1])
    runtime.run()
    (rec,) = runtime.executions.list(state_machine="IngestExposureStateMachine")
    assert rec.status == "SUCCEEDED" and rec.state_machine == "IngestExposureStateMachine"
    types = [e["type"] for e in runtime.executions.history(rec.arn)]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    for t in ("TaskStateEntered", "TaskScheduled", "TaskSucceeded", "TaskStateExited"):
        assert t in types
    assert rec.output["outcome"] == "registered"
    job = runtime.store.job(rec.job_id)
    assert job.execution_id == rec.arn and job.ran_on["runtime"] == "local"


def test_duplicate_uploads_and_notifications_never_start_a_job_twice(runtime, exposures):
    runtime.upload(exposures)
    runtime.run()
    runtime.upload(exposures)  # same content again: same event ids
    note = runtime.objects.head("raw", exposures[0].name)
    from cloudphot.storage import s3_object_created_event

    runtime.notify_object_created(s3_object_created_event(note))  # a replayed notification
    summary = runtime.run()
    assert summary.jobs == {}
    assert runtime.lambdas.invocations["IngestExposureFunction"] == 2


def test_a_rejected_file_replaced_by_a_good_one_is_ingested(runtime, exposures, tmp_path):
    (tmp_path / "bad").mkdir()
    bad = _truncated(exposures[0], tmp_path / "bad" / exposures[0].name)
    runtime.upload([bad])
    runtime.run()
    assert list(runtime.tables.scan("exposures")) == []
    runtime.upload([exposures[0]])  # same key, new content: a new event
    summary = runtime.run()
    assert summary.jobs == {"SUCCEEDED": 2}  # ingest, then check_field
    assert [x["exposure_id"] for x in runtime.tables.scan("exposures")] == ["jtest00q"]


def test_runtime_resumes_jobs_left_running_by_a_dead_runtime(runtime, exposures):
    runtime.upload(exposures[:1])
    runtime.dispatch_pending_events()
    (job,) = runtime.store.jobs(JobState.PENDING)
    # simulate a runtime that claimed the job and died (a pid that cannot exist)
    runtime.store.transition(
        job.job_id,
        JobState.RUNNING,
        ran_on={
            "runtime": "local",
            "host": __import__("socket").gethostname(),
            "pid": 2**22 + 12345,
        },
    )
    summary = runtime.run()
    assert summary.jobs == {"SUCCEEDED": 2}  # the resumed ingest, then check_field
    states = [t["state"] for t in runtime.store.job(job.job_id).transitions]
    assert states == ["RUNNING", "PENDING", "RUNNING", "SUCCEEDED"]
