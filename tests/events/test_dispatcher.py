"""The dispatcher: one job per matching task, never twice for one event."""

import threading
from datetime import UTC

import pytest

from cloudphot.errors import InvalidEvent
from cloudphot.events import Dispatcher, Event, EventStore, JobState, load_registry
from cloudphot.events.notifications import object_created_event
from cloudphot.storage import ObjectInfo, s3_object_created_event


class RecordingStarter:
    def __init__(self):
        self.started = []
        self.lock = threading.Lock()

    def start(self, job):
        with self.lock:
            self.started.append(job.job_id)
        return f"arn:aws:states:us-east-1:123:execution:sm:{job.job_id}"


@pytest.fixture
def store(tmp_path):
    from cloudphot.runtime.sqlite_tables import SQLiteTables

    return EventStore(SQLiteTables(tmp_path / "t.sqlite"))


def _notification(key="raw/j1_flc.fits", etag="abc"):
    from datetime import datetime

    info = ObjectInfo("raw", key, 10, etag, datetime.now(UTC))
    return s3_object_created_event(info)


def test_event_from_notification_is_deterministic_and_typed():
    a = object_created_event(_notification(), {"raw": "raw"})
    b = object_created_event(_notification(), {"raw": "raw"})
    assert a.event_id == b.event_id  # a duplicate notification maps to the same event
    assert a.type == "object.created" and a.payload["bucket_role"] == "raw"
    c = object_created_event(_notification(etag="other"), {"raw": "raw"})
    assert c.event_id != a.event_id  # new content of the same key is a new event


def _created(obj: dict, bucket="raw") -> dict:
    return {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": obj},
    }


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "JSON object"),
        ({"detail-type": "Object Deleted", "source": "aws.s3"}, "not an S3 Object Created"),
        ({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}, "detail.bucket"),
        (_created({"key": "", "size": 1}), r"detail.object.key must be a non-empty string"),
        (_created({"key": "k", "size": -5}), "byte count"),
        (_created({"key": "k", "size": True}), "byte count"),
        (_created({"key": "k", "etag": 12345}), r"detail.object.etag must be a string, got 12345"),
        (_created({"key": "k\udc80.fits"}), r"detail.object.key is not valid Unicode"),
        (_created({"key": "k\x00.fits"}), r"detail.object.key contains a NUL"),
        (_created({"key": "é" * 600}), r"is 1200 bytes of UTF-8: S3 keys are at most 1024"),
        (_created({"key": "k.fits"}, bucket="elsewhere"), r"bucket 'elsewhere' is not one of"),
        (_created({"key": ["k"]}), r"detail.object.key must be a non-empty string"),
    ],
)
def test_malformed_notifications_are_refused(bad, match):
    with pytest.raises(InvalidEvent, match=match):
        object_created_event(bad, {"raw": "raw"})


def test_dispatch_starts_one_job_per_matching_task_and_marks_the_event(store):
    event = object_created_event(_notification(), {"raw": "raw"})
    assert store.record(event)
    starter = RecordingStarter()
    jobs = Dispatcher(store, load_registry(), starter).dispatch(event)
    assert [j.task for j in jobs] == ["ingest_exposure"]
    job = store.job(jobs[0].job_id)
    assert job.state is JobState.RUNNING and job.attempts == 1
    assert job.input["event"]["payload"]["key"] == "raw/j1_flc.fits"
    assert job.transitions[-1]["state"] == "RUNNING"
    assert store.event(event.event_id).dispatched_at


def test_duplicate_deliveries_never_start_a_job_twice(store):
    event = object_created_event(_notification(), {"raw": "raw"})
    store.record(event)
    assert not store.record(event)  # the duplicate event is not stored again
    starter = RecordingStarter()
    dispatcher = Dispatcher(store, load_registry(), starter)
    threads = [threading.Thread(target=dispatcher.dispatch, args=(event,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dispatcher.dispatch(event)  # a replayed stream record
    assert len(starter.started) == 1


def test_job_left_pending_by_a_crash_is_started_on_redelivery(store):
    event = object_created_event(_notification(), {"raw": "raw"})
    store.record(event)

    class Crashing(RecordingStarter):
        def start(self, job):
            raise RuntimeError("lost connection")

    with pytest.raises(RuntimeError):
        Dispatcher(store, load_registry(), Crashing()).dispatch(event)
    assert store.jobs(JobState.PENDING)  # created, not started
    starter = RecordingStarter()
    Dispatcher(store, load_registry(), starter).dispatch(event)
    assert len(starter.started) == 1
    assert store.jobs(JobState.RUNNING)


def test_a_stale_start_claim_of_a_crashed_dispatcher_is_retaken(store):
    event = object_created_event(_notification(), {"raw": "raw"})
    store.record(event)
    Dispatcher(
        store, load_registry(), type("Queue", (), {"start": lambda self, job: None})()
    ).dispatch(event)  # created and claimed; a queue starter leaves it PENDING
    (job,) = store.jobs(JobState.PENDING)
    starter = RecordingStarter()
    Dispatcher(store, load_registry(), starter).dispatch(event)
    assert starter.started == []  # a fresh claim: someone is starting it
    store.tables.update("jobs", job.job_id, {"start_claim": "2020-01-01T00:00:00.000Z|crashed"})
    Dispatcher(store, load_registry(), starter).dispatch(event)
    assert starter.started == [job.job_id]


def test_events_ignored_by_every_task_create_no_jobs(store):
    event = Event(event_id="e-x", type="something.else", subject="s")
    store.record(event)
    assert Dispatcher(store, load_registry(), RecordingStarter()).dispatch(event) == []
    assert store.jobs() == []
