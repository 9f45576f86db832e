"""Fault injection: every failure ends in the clean run's catalog, nothing lost, no job run twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from cloudphot.events import JobState
from cloudphot.events.retry import reset_for_retry
from cloudphot.storage import s3_object_created_event

from .conftest import assert_same_catalog, field_catalog, make_runtime, upload_field

pytestmark = pytest.mark.slow


def _attempts(rt) -> Counter:
    return Counter({j.job_id: j.attempts for j in rt.store.jobs()})


def _reduce_job(rt):
    (job,) = [j for j in rt.store.jobs() if j.task == "reduce_field"]
    return job


def test_worker_killed_mid_photometry_is_retried_to_the_same_catalog(
    tiny_field, clean_catalog, tmp_path
):
    rt = make_runtime(tmp_path, interruptions=lambda arn: 0.8)  # every Spot worker is reclaimed
    upload_field(rt, tiny_field)
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    job = _reduce_job(rt)
    workers = job.ran_on["workers"]
    # reclaimed twice on Spot, then moved to on-demand, where it finished; one job attempt
    assert [w["capacity_provider"] for w in workers] == ["FARGATE_SPOT", "FARGATE_SPOT", "FARGATE"]
    assert [w["interrupted"] for w in workers] == [True, True, False]
    assert job.state is JobState.SUCCEEDED and job.attempts == 1
    output = job.output
    assert output["attempts"]["spot"] == 2 and output["attempts"]["transient"] == 0
    rt.close()


def test_lambda_raising_a_transient_error_is_retried_by_the_state_machine(
    tiny_field, clean_catalog, tmp_path
):
    from cloudphot.errors import TransientError

    rt = make_runtime(tmp_path)
    real = rt.lambdas.handler("PreprocessExposureFunction")
    failed_once: set[str] = set()
    lock = threading.Lock()

    def flaky(event, context):
        key = event["exposure"]["exposure_id"]
        with lock:
            first = key not in failed_once
            failed_once.add(key)
        if first:
            raise TransientError(f"connection reset while reading {key}")
        return real(event, context)

    rt.lambdas._handlers["PreprocessExposureFunction"] = flaky
    upload_field(rt, tiny_field)
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    job = _reduce_job(rt)
    assert job.attempts == 1  # retried inside the execution, not as a new job
    history = rt.executions.history(job.execution_id)
    # preprocessing is a Distributed Map: each exposure's retries are in its child
    # execution's own history (the parent records only the Map Run)
    (run,) = [
        e["mapRunStartedEventDetails"]["mapRunArn"] for e in history if e["type"] == "MapRunStarted"
    ]
    children = [
        x.arn
        for x in rt.executions.list(limit=1000)
        if x.arn.startswith(run.rsplit(":", 1)[0].replace(":mapRun:", ":execution:") + ":")
    ]
    assert len(children) == len(tiny_field.sim.exposures)
    failed = [e for c in children for e in rt.executions.history(c) if e["type"] == "TaskFailed"]
    assert len(failed) == len(tiny_field.sim.exposures)
    assert all(e["taskFailedEventDetails"]["error"] == "TransientError" for e in failed)
    rt.close()


def test_lambda_timing_out_fails_its_job_and_one_retry_completes_the_field(
    tiny_field, clean_catalog, tmp_path
):
    rt = make_runtime(tmp_path)
    rt.targets.template["Resources"]["IngestExposureFunction"]["Properties"]["Timeout"] = 3
    real = rt.lambdas.handler("IngestExposureFunction")
    victim = tiny_field.sim.exposures[0].name
    slowed: list[str] = []

    def slow_once(event, context):
        if event["key"] == victim and not slowed:
            slowed.append(victim)
            time.sleep(6)
        return real(event, context)

    rt.lambdas._handlers["IngestExposureFunction"] = slow_once
    upload_field(rt, tiny_field)
    rt.run()
    (failed,) = rt.store.jobs(JobState.FAILED)
    assert failed.error == "Sandbox.Timedout" and failed.task == "ingest_exposure"
    assert not [j for j in rt.store.jobs() if j.task == "reduce_field"]  # the field waits
    before = _attempts(rt)
    assert [j.job_id for j in reset_for_retry(rt.store, failed=True)] == [failed.job_id]
    rt.run()
    again = rt.store.job(failed.job_id)
    assert again.state is JobState.SUCCEEDED, (again.error, again.cause)
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    after = _attempts(rt)
    # only the timed-out job ran again
    assert {j for j in before if after[j] != before[j]} == {failed.job_id}
    rt.close()


def test_duplicate_notifications_never_start_a_job_twice(tiny_field, clean_catalog, tmp_path):
    rt = make_runtime(tmp_path)
    upload_field(rt, tiny_field)
    raw = rt.settings.bucket("raw")
    for info in list(rt.objects.list(raw)):  # every notification delivered twice more
        for _ in range(2):
            rt.notify_object_created(s3_object_created_event(info))
    upload_field(rt, tiny_field, order="manifest_first", seed=9)  # and the whole upload again
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    jobs = rt.store.jobs()
    assert all(j.attempts == 1 for j in jobs)
    assert Counter(j.task for j in jobs)["ingest_exposure"] == len(tiny_field.sim.exposures)
    assert Counter(j.task for j in jobs)["reduce_field"] == 1
    rt.close()


def test_lost_notification_is_found_by_reconciliation(tiny_field, clean_catalog, tmp_path):
    from cloudphot.pipeline.reconcile import reconcile_raw_bucket
    from cloudphot.pipeline.services import Services

    rt = make_runtime(tmp_path)
    lost = tiny_field.sim.exposures[-1]
    listener = rt.objects.on_created
    rt.objects.on_created = lambda note: (
        None if note["detail"]["object"]["key"] == lost.name else listener(note)
    )
    upload_field(rt, tiny_field)
    rt.objects.on_created = listener
    rt.run()
    assert not [j for j in rt.store.jobs() if j.task == "reduce_field"]  # incomplete field waits
    (event,) = reconcile_raw_bucket(Services(rt.settings, rt.objects, rt.tables))
    assert event.subject == lost.name
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    rt.close()


@pytest.mark.parametrize("order", ["manifest_first", "manifest_last"])
def test_arrival_order_does_not_matter(tiny_field, clean_catalog, tmp_path, order):
    rt = make_runtime(tmp_path)
    upload_field(rt, tiny_field, order=order, seed=42)
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    ready = [e for e in rt.store.events() if e.type == "field.ready"]
    assert len(ready) == 1
    rt.close()


def test_object_write_failing_halfway_leaves_no_partial_product(
    tiny_field, clean_catalog, tmp_path, monkeypatch
):
    from cloudphot.runtime.local_objects import LocalObjectStore

    rt = make_runtime(tmp_path)
    real_put = LocalObjectStore.put_file
    broken: list[str] = []

    def half_then_fail(self, bucket, key, path, **kw):
        if "/prep-" in key and not broken:
            broken.append(key)
            with open(path, "rb") as fh:
                data = fh.read()

            class Cut:
                def __init__(self):
                    self.sent = 0

                def read(self, n=-1):
                    if self.sent >= len(data) // 2:
                        raise OSError("connection reset by peer (injected)")
                    chunk = data[self.sent : self.sent + min(n if n > 0 else len(data), 65536)]
                    self.sent += len(chunk)
                    return chunk

            return self.put_fileobj(bucket, key, Cut())
        return real_put(self, bucket, key, path, **kw)

    monkeypatch.setattr(LocalObjectStore, "put_file", half_then_fail)
    upload_field(rt, tiny_field)
    rt.run()
    (failed,) = rt.store.jobs(JobState.FAILED)
    assert failed.task == "reduce_field"
    assert not rt.objects.exists(rt.settings.bucket("products"), broken[0])  # nothing half-written
    reset_for_retry(rt.store, failed=True)
    rt.run()
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    rt.close()


def test_runtime_killed_mid_run_resumes_without_redoing_finished_work(
    tiny_field, clean_catalog, tmp_path
):
    rt = make_runtime(tmp_path)
    upload_field(rt, tiny_field)  # events stored, nothing run yet
    env = {**os.environ, **rt.settings.as_env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudphot.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if any(j.task == "reduce_field" and j.state is JobState.RUNNING for j in rt.store.jobs()):
            break
        assert proc.poll() is None, "the runtime finished before it could be killed"
        time.sleep(0.2)
    else:
        pytest.fail("reduce_field never started")
    proc.send_signal(signal.SIGKILL)  # the runtime dies mid-photometry
    proc.wait(timeout=30)
    finished_before = {j.job_id for j in rt.store.jobs() if j.state is JobState.SUCCEEDED}
    rt.run()  # a new runtime resumes
    assert_same_catalog(field_catalog(rt, tiny_field.field_id), clean_catalog)
    jobs = {j.job_id: j for j in rt.store.jobs()}
    assert all(jobs[j].attempts == 1 for j in finished_before)  # finished work not redone
    assert _reduce_job(rt).attempts == 2
    rt.close()
