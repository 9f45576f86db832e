"""cloudphot's interpreter against outcomes AWS documents or recorded (``aws_cases.py``).

No implementation decides an expected value here: each case cites the developer
guide or an execution recorded on AWS. Cases with ``known_difference`` are strict
xfails, so the per-area pass counts in docs/asl-conformance.md stay honest.
"""

from __future__ import annotations

import collections
import hashlib
import json

import pytest

from cloudphot.asl import AslDefinitionError, StateMachine, TaskFailed

from .aws_cases import AREAS, AwsCase
from .aws_cases import AWS_CASES as _BASE_CASES
from .aws_cases_jsonata import JSONATA_CASES
from .aws_cases_variables import VARIABLE_CASES

AWS_CASES = _BASE_CASES + VARIABLE_CASES + JSONATA_CASES


class _RecordedResults:
    """Task results as the recorded executions' services returned them."""

    def __init__(self, results: dict, objects: dict | None = None):
        self.results = results
        self.objects = dict(objects or {})  # (bucket, key) -> bytes

    def s3_get_object(self, bucket, key):
        return self.objects[(bucket, key)]

    def s3_list_objects(self, bucket, prefix):
        return [
            {
                "Etag": f'"{hashlib.md5(v).hexdigest()}"',
                "LastModified": "2026-12-03T00:00:00+00:00",
                "Key": k,
                "Size": len(v),
                "StorageClass": "STANDARD",
            }
            for (b, k), v in sorted(self.objects.items())
            if b == bucket and k.startswith(prefix)
        ]

    def s3_put_object(self, bucket, key, body):
        self.objects[(bucket, key)] = body

    def invoke(self, resource, parameters, ctx):
        value = self.results[resource]
        if value == "ECHO":  # the recorded functions return their input
            return parameters
        if value == "SLEEP":
            ctx.cancelled.wait(30)
            return None
        if isinstance(value, tuple):
            raise TaskFailed(*value)
        return value


def _params(cases):
    out = []
    for c in cases:
        marks = [pytest.mark.xfail(strict=True, reason=c.known_difference)]
        out.append(
            pytest.param(c, id=f"{c.area}:{c.id}", marks=marks if c.known_difference else [])
        )
    return out


def test_cases_are_well_formed():
    assert len({c.id for c in AWS_CASES}) == len(AWS_CASES), "duplicate case ids"
    for c in AWS_CASES:
        assert c.area in AREAS, c.id
        assert c.source.startswith(("REC:", "DG:")), f"{c.id}: cite AWS"
        assert (c.definition is None) == (c.invalid is not None), c.id


@pytest.mark.parametrize("case", _params(AWS_CASES))
def test_matches_aws(case: AwsCase, fake_sleep):
    if case.invalid is not None:
        with pytest.raises(AslDefinitionError):
            StateMachine(case.invalid)
        return
    sm = StateMachine(case.definition, cancel_grace_seconds=0.1)
    r = sm.execute(
        case.input,
        name="recorded",
        invoker=_RecordedResults(case.results, case.objects),
        sleep=fake_sleep,
    )
    got = {"status": r.status, "output": r.output, "error": r.error, "cause": r.cause}
    want = {"status": case.status, "output": case.output, "error": case.error, "cause": case.cause}
    if case.assigned is not None:
        got["assigned"] = _assigned(r.history)
        want["assigned"] = sorted(case.assigned, key=repr)
    assert got == want


def _assigned(history: list[dict]) -> list:
    """(state, {variable: value}) for every StateExited event that assigned variables."""
    out = []
    for e in history:
        d = e.get("stateExitedEventDetails") or {}
        if "assignedVariables" in d:
            out.append((d["name"], {k: json.loads(v) for k, v in d["assignedVariables"].items()}))
    return sorted(out, key=repr)


def area_counts() -> dict[str, tuple[int, int]]:
    """(cases, known differences) per area, for docs/asl-conformance.md."""
    total = collections.Counter(c.area for c in AWS_CASES)
    diff = collections.Counter(c.area for c in AWS_CASES if c.known_difference)
    return {a: (total[a], diff[a]) for a in AREAS if total[a]}


if __name__ == "__main__":  # python -m tests.asl.test_aws_recorded
    for area, (n, d) in area_counts().items():
        print(f"{area:16s} {n - d:4d} / {n:4d}")
