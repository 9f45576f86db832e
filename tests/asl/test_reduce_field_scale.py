"""reduce_field stays inside Step Functions' limits whatever a field's exposure count.

The exposure list lives in S3 (``field.ready``'s ``exposure_list``) and the
preprocessing Map is Distributed, so the largest state and the parent history must
not grow with the number of exposures (issue 17.9: ~370 bytes per exposure before).
"""

from __future__ import annotations

import json
from pathlib import Path

from cloudphot.asl import StateMachine

from .test_distributed_map import Bucket

ROOT = Path(__file__).resolve().parents[2]


class Services(Bucket):
    """The state machine's resources, answering as the real handlers would (shape only)."""

    def invoke(self, resource, parameters, ctx):
        if resource.startswith("arn:aws:states:::ecs:") or resource.startswith(
            "arn:aws:states:::dynamodb:"
        ):
            return {}
        fn, payload = parameters["FunctionName"], parameters.get("Payload")
        if "Preprocess" in fn:
            exp = payload["exposure"]
            prep = {"bucket": "products", "key": f"exposures/{exp['exposure_id']}/prep.fits"}
            return {
                "Payload": {"exposure_id": exp["exposure_id"], "image": exp["key"], "prep": prep}
            }
        if "PlanPhotometry" in fn:
            plan = {
                "request": {"bucket": "products", "key": "fields/f/request.json"},
                "capacity_provider": "FARGATE_SPOT",
                "cpu": 2048,
                "memory_mib": 16384,
                "timeout_seconds": 3600,
                "task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/phot:3",
                "attempts": {"spot": 0, "transient": 0, "memory": 0},
                "limits": {},
            }
            return {"Payload": plan}
        if "SummarizeField" in fn:
            return {"Payload": {"n_stars": 1000, "exposure_list": payload["exposure_list"]}}
        raise AssertionError(fn)


def _largest_state_and_history(n: int) -> tuple[int, int]:
    exposures = [
        {
            "exposure_id": f"j{i:07d}q",
            "bucket": "raw",
            "key": f"j{i:07d}q_flc.fits",
            "etag": "0123456789abcdef0123456789abcdef",
            "filter": "F814W",
            "mjd": 55000.0 + i,
        }
        for i in range(n)
    ]
    listing = {
        "bucket": "products",
        "key": "fields/f/ready-x/exposures.json",
        "prefix": "fields/f/ready-x/runs",
    }
    svc = Services({("products", listing["key"]): json.dumps(exposures).encode()})
    sm = StateMachine((ROOT / "statemachines" / "reduce_field.asl.json").read_text())
    r = sm.execute(
        {
            "job_id": "job-1",
            "event": {"payload": {"field_id": "f", "n_exposures": n, "exposure_list": listing}},
            "options": {},
        },
        invoker=svc,
        child_executions=svc,
    )
    assert r.status == "SUCCEEDED", (r.error, r.cause)
    assert len(svc.children) == n  # one child execution per exposure
    sizes = [
        len(d.get("input") or d.get("output") or "")
        for e in r.history
        for d in e.values()
        if isinstance(d, dict)
    ]
    return max(sizes), len(r.history)


def test_largest_state_and_history_do_not_grow_with_the_exposure_count():
    small_state, small_history = _largest_state_and_history(10)
    big_state, big_history = _largest_state_and_history(1000)
    assert big_history == small_history < 60
    # the sizes differ only by the digits of the exposure count and the run ids
    assert abs(big_state - small_state) <= 8, (small_state, big_state)
    assert big_state < 4096
