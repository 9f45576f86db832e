"""cloudphot's ASL interpreter against moto's independent implementation.

Every case in ``cases.py`` runs through both; status, output, error and cause
must agree. Cases marked ``moto_deviation`` are where moto departs from the
Amazon States Language specification: cloudphot is held to the spec-derived
``expected`` result, and moto is asserted to still differ so the note is
re-examined whenever moto changes. See docs/asl-conformance.md.
"""

from __future__ import annotations

import pytest

from cloudphot.asl import StateMachine

from .cases import CASES

pytestmark = pytest.mark.aws


def _observed(result) -> dict:
    return {
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "cause": result.cause,
    }


def _moto_observed(res) -> dict:
    return {k: res[k] for k in ("status", "output", "error", "cause")}


def test_suite_is_large_enough():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"
    for c in CASES:
        assert (c.moto_deviation is None) == (c.expected is None), c.id
        assert c.compare_cause or c.cause_note, f"{c.id}: say why causes are not compared"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case, moto_sfn, fake_sleep):
    ours = _observed(
        StateMachine(case.definition).execute(case.input, name=case.name, sleep=fake_sleep)
    )
    theirs = _moto_observed(moto_sfn.run(case.definition, case.input, name=case.name))
    if not case.compare_cause:
        ours.pop("cause")
        theirs.pop("cause")
    if case.moto_deviation is None:
        assert ours == theirs
        return
    expected = dict(case.expected)
    if not case.compare_cause:
        expected.pop("cause")
    assert ours == expected, f"cloudphot departs from the spec: {case.moto_deviation}"
    assert theirs != expected, (
        f"moto now agrees with the spec on {case.id}; drop the moto_deviation note "
        f"and its entry in docs/asl-conformance.md"
    )
