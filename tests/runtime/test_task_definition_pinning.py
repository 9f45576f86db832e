"""A retry or replay runs the worker image its job recorded (issue 14.7).

The plan records the task definition revision (an image pinned by digest) in the
job's request.json; a retry of the same job, and a replay of the reduction as a
branch, reuse it although a deploy has since made another revision current.
"""

from __future__ import annotations

import pytest

from cloudphot.pipeline.reduce import _prep_targets, plan_photometry

REV = "arn:aws:ecs:us-east-1:123456789012:task-definition/cloudphot-photometry:{}"
EXPOSURE = {"exposure_id": "jpin01q", "bucket": "raw", "key": "jpin01q_flc.fits", "etag": "e1"}


@pytest.fixture
def svc(tmp_path):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    services = LocalPlatform(Settings.from_env(home=tmp_path, backend="local", env={})).services
    for options in ({}, {"branch": "strict"}):
        prep, _ = _prep_targets(services, EXPOSURE, options)
        prep.write_bytes(b"prep")
    return services


def _plan(svc, job_id: str, revision: int, branch: str | None = None) -> str:
    request = {
        "job_id": job_id,
        "field_id": "m31-pin",
        "exposures": [EXPOSURE],
        "task_definition": REV.format(revision),
        "options": {"branch": branch} if branch else {},
    }
    return plan_photometry(request, svc)["task_definition"]


def test_a_retry_runs_the_revision_the_job_recorded(svc):
    assert _plan(svc, "reduce_field-00000000000000a1", 1) == REV.format(1)
    # a deploy since registered revision 2; the job's rerun still runs revision 1
    assert _plan(svc, "reduce_field-00000000000000a1", 2) == REV.format(1)
    # a new job (a replaced exposure, a new field.ready) runs what is current
    assert _plan(svc, "reduce_field-00000000000000b2", 2) == REV.format(2)


def test_a_replay_runs_the_revision_of_the_reduction_it_replays(svc):
    assert _plan(svc, "reduce_field-00000000000000a1", 1) == REV.format(1)
    branch_job = "reduce_field-00000000000000c3"
    assert _plan(svc, branch_job, 3, branch="strict") == REV.format(1)
    assert _plan(svc, branch_job, 4, branch="strict") == REV.format(1)  # and its own retry


def test_without_a_record_the_current_revision_is_used_and_recorded(svc):
    import json

    assert _plan(svc, "reduce_field-00000000000000d4", 5) == REV.format(5)
    bucket = svc.settings.bucket("products")
    request = json.loads(svc.objects.get_bytes(bucket, "fields/m31-pin/request.json"))
    assert request["task_definition"] == REV.format(5)
