"""Failed photometry tasks: which class, which budget, which capacity and size next.

The causes are the shapes Step Functions reports for ``ecs:runTask.sync``: a task
that ran and stopped (``States.TaskFailed``, DescribeTasks JSON), a RunTask whose
response lists ``Failures`` (``AmazonECS.Unknown``, nothing started) and an ECS API
error (``ECS.<Exception>``, the service's message as cause).
"""

from __future__ import annotations

import json

import pytest

from cloudphot.pipeline.reduce import RETRY_LIMITS, classify_worker_failure, describe_worker_failure
from cloudphot.pipeline.sizing import TaskSize, escalate

SPOT_SHORTAGE = {
    "Error": "AmazonECS.Unknown",
    "Cause": json.dumps(
        {
            "Failures": [
                {
                    "Arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/x",
                    "Reason": "Capacity is unavailable at this time. Please try again later "
                    "or in a different availability zone",
                }
            ],
            "Tasks": [],
        }
    ),
}
API_SHORTAGE = {
    "Error": "ECS.AmazonECSException",
    "Cause": "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone (Service: AmazonECS; Status Code: 400; Error Code: "
    "AmazonECSException; Request ID: 0f6c; Proxy: null)",
}
QUOTA = {
    "Error": "ECS.AmazonECSException",
    "Cause": "You\u2019ve reached the limit on the number of vCPUs you can run concurrently "
    "(Service: AmazonECS; Status Code: 400; Error Code: AmazonECSException)",
}
BAD_SIZE = {
    "Error": "ECS.InvalidParameterException",
    "Cause": "No Fargate configuration exists for given values: 4096 CPU, 1000 memory. See "
    "the Amazon ECS documentation for the valid values.",
}
RECLAIM = {
    "Error": "States.TaskFailed",
    "Cause": json.dumps(
        {
            "StopCode": "SpotInterruption",
            "StoppedReason": "Your Spot Task was interrupted.",
            "Containers": [{"ExitCode": 143}],
        }
    ),
}
OOM = {
    "Error": "States.TaskFailed",
    "Cause": json.dumps(
        {
            "StopCode": "EssentialContainerExited",
            "Containers": [
                {"ExitCode": 137, "Reason": "OutOfMemoryError: Container killed due to memory"}
            ],
        }
    ),
}


def plan(**changes) -> dict:
    return {
        "capacity_provider": "FARGATE_SPOT",
        "cpu": 4096,
        "memory_mib": 16384,
        "attempts": {},
        "limits": dict(RETRY_LIMITS),
        **changes,
    }


@pytest.mark.parametrize(
    ("failure", "klass", "name"),
    [
        (SPOT_SHORTAGE, "capacity", "CapacityUnavailable"),
        (API_SHORTAGE, "capacity", "CapacityUnavailable"),
        (QUOTA, "quota", "QuotaExceeded"),
        (BAD_SIZE, "config", "InvalidTaskSize"),
        (RECLAIM, "spot", "SpotInterrupted"),
        (OOM, "memory", "OutOfMemory"),
        ({"Error": "States.Timeout", "Cause": ""}, "transient", "WorkerTimedOut"),
        (
            {"Error": "ECS.ServerException", "Cause": "Service Unavailable"},
            "transient",
            "TransientError",
        ),
    ],
)
def test_failure_classes(failure, klass, name):
    got = describe_worker_failure(failure["Error"], failure["Cause"])
    assert got[:2] == (klass, name)
    assert got[2]  # a reason to show


def _run(failures: list[dict], start: dict) -> list[dict]:
    """Classify a sequence of failures, feeding each decision into the next."""
    steps, current = [], start
    for f in failures:
        current = classify_worker_failure({"error": f, "plan": current})
        steps.append(current)
    return steps


def test_spot_shortage_falls_back_to_on_demand_after_a_bounded_number_of_tries():
    steps = _run([SPOT_SHORTAGE] * RETRY_LIMITS["capacity"], plan())
    fallback = RETRY_LIMITS["capacity_fallback"]
    assert [s["capacity_provider"] for s in steps[: fallback - 1]] == ["FARGATE_SPOT"] * (
        fallback - 1
    )
    assert all(s["capacity_provider"] == "FARGATE" for s in steps[fallback - 1 :])
    assert all(s["retry"] for s in steps)
    assert [s["attempts"]["capacity"] for s in steps] == list(range(1, len(steps) + 1))
    # shortages never spend the transient or Spot budgets
    assert steps[-1]["attempts"]["transient"] == steps[-1]["attempts"]["spot"] == 0
    # and the budget ends: one more shortage and the field fails with its cause
    last = classify_worker_failure({"error": API_SHORTAGE, "plan": steps[-1]})
    assert not last["retry"]
    assert last["last_failure"]["error"] == "CapacityUnavailable"
    assert "Capacity is unavailable" in last["last_failure"]["reason"]


def test_a_full_vcpu_quota_waits_longer_and_stays_on_spot():
    steps = _run([QUOTA] * 3, plan())
    assert all(s["retry"] and s["capacity_provider"] == "FARGATE_SPOT" for s in steps)
    assert [s["wait_seconds"] for s in steps] == [60, 120, 180]


def test_an_invalid_size_is_not_retried():
    out = classify_worker_failure({"error": BAD_SIZE, "plan": plan()})
    assert not out["retry"] and out["last_failure"]["class"] == "config"


#: out-of-memory escalation from the default size: 2x memory each time, more vCPUs
#: where Fargate requires them, Fargate's largest task last
ESCALATION = [
    (TaskSize(4096, 16384), TaskSize(8192, 32768)),
    (TaskSize(8192, 32768), TaskSize(16384, 65536)),
    (TaskSize(16384, 65536), TaskSize(16384, 122880)),
    (TaskSize(16384, 122880), None),
    (TaskSize(1024, 2048), TaskSize(1024, 4096)),
    (TaskSize(1024, 8192), TaskSize(2048, 16384)),
    (TaskSize(2048, 16384), TaskSize(8192, 32768)),
    (TaskSize(4096, 30720), TaskSize(8192, 61440)),
    (TaskSize(8192, 61440), TaskSize(16384, 122880)),
    (TaskSize(256, 512), TaskSize(256, 1024)),
]


@pytest.mark.parametrize(("size", "bigger"), ESCALATION)
def test_memory_escalation_table(size, bigger):
    assert escalate(size) == bigger


def test_out_of_memory_reruns_walk_the_table_then_stop():
    steps = _run([OOM] * 4, plan())
    sizes = [(s["cpu"], s["memory_mib"]) for s in steps]
    assert sizes == [(8192, 32768), (16384, 65536), (16384, 122880), (16384, 122880)]
    assert [s["retry"] for s in steps] == [True, True, True, False]
    assert "largest task" in steps[-1]["last_failure"]["reason"]
