"""The budget's dry run against a real local run: the same machines, the same counts.

``cloudphot plan`` measures executions, state transitions and history events by
running the state machines against shape-only services; here the counts of one
real reduction of the tiny field (real handlers, real worker) are the oracle.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import cloudphot
from cloudphot.monitor.budget import SurveyShape, measure_machine

from .conftest import make_runtime

pytestmark = pytest.mark.slow

SRC = Path(cloudphot.__file__).parent


def _transitions(history):
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


def test_dry_counts_match_a_real_local_run(clean_run, tiny_field):
    home, _ = clean_run
    n = len(tiny_field.sim.exposures)
    shape = SurveyShape("tiny", 1, n)
    rt = make_runtime(home)
    try:
        machines = sorted(
            {
                r.state_machine
                for r in rt.executions.list(limit=10_000)
                if "/" not in r.state_machine
            }
        )
        assert {"IngestExposureStateMachine", "ReduceFieldStateMachine"} <= set(machines)
        # each machine dry-runs with its registered task's options (the ASTs' fakes and
        # chunks), as `cloudphot plan` runs it
        registry = tomllib.loads((SRC / "pipeline" / "tasks.toml").read_text(encoding="utf-8"))
        options = {t["executor"]["name"]: t.get("options") for t in registry["task"]}
        for machine in machines:
            dry = measure_machine(machine, shape, options=options.get(machine))
            assert dry.status == "SUCCEEDED", dry.error
            real = [
                r
                for r in rt.executions.list(state_machine=machine, limit=10_000)
                if r.status == "SUCCEEDED"
            ]
            assert real, machine
            histories = [rt.executions.history(r.arn) for r in real]
            # every real execution of a machine followed the dry run's path
            assert {len(h) for h in histories} == {dry.events}, machine
            assert {_transitions(h) for h in histories} == {dry.transitions}, machine
        reduce = measure_machine("ReduceFieldStateMachine", shape)
        assert reduce.children == n
    finally:
        rt.close()
