"""State graphs: layout of the real definitions, statuses from real interpreter histories."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cloudphot.asl import StateMachine, TaskFailed
from cloudphot.monitor.graph import execution_graph, layout, state_status, to_svg

ROOT = Path(__file__).resolve().parents[2]


def _overlap(a, b) -> bool:
    return not (a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y)


def _contains(outer, inner) -> bool:
    return (
        outer.x <= inner.x
        and inner.x + inner.w <= outer.x + outer.w
        and outer.y <= inner.y
        and inner.y + inner.h <= outer.y + outer.h
    )


@pytest.mark.parametrize("name", ["ingest_exposure", "check_field", "reduce_field"])
def test_real_definitions_lay_out_without_overlaps_and_with_every_transition(name):
    definition = json.loads((ROOT / "statemachines" / f"{name}.asl.json").read_text())
    g = layout(definition)
    by_parent: dict = {}
    for n in g.nodes:
        by_parent.setdefault(n.parent, []).append(n)
        assert 0 <= n.x and n.x + n.w <= g.width and 0 <= n.y and n.y + n.h <= g.height
    for siblings in by_parent.values():
        for i, a in enumerate(siblings):
            for b in siblings[i + 1 :]:
                assert not _overlap(a, b), (a.id, b.id)
    # every Next / Default / Choices / Catch of the definition is an edge
    edges = {(e.source, e.target, e.kind) for e in g.edges}
    for sname, st in definition["States"].items():
        if st.get("Next"):
            assert (sname, st["Next"], "next") in edges
        for c in st.get("Catch", []):
            assert (sname, c["Next"], "catch") in edges
        if st.get("Default"):
            assert (sname, st["Default"], "default") in edges
    # each edge starts and ends on the boundary of its nodes
    nodes = {n.id: n for n in g.nodes}
    for e in g.edges:
        (x0, y0), (x1, y1) = e.points[0], e.points[-1]
        a, b = nodes[e.source], nodes[e.target]
        assert a.x - 0.5 <= x0 <= a.x + a.w + 0.5 and a.y - 0.5 <= y0 <= a.y + a.h + 0.5
        assert b.x - 0.5 <= x1 <= b.x + b.w + 0.5 and b.y - 0.5 <= y1 <= b.y + b.h + 0.5


def test_map_is_a_box_holding_its_subgraph_and_loops_route_around_the_side():
    definition = json.loads((ROOT / "statemachines" / "reduce_field.asl.json").read_text())
    g = layout(definition)
    box = g.node("PreprocessExposures")
    inner = [n for n in g.nodes if n.parent == "PreprocessExposures"]
    assert {n.label for n in inner} >= {"Preprocess", "PreprocessFailed"}
    assert all(_contains(box, n) for n in inner)
    # the retry loop BackOff -> RunPhotometry goes back up, along the right-hand side
    loop = next(e for e in g.edges if (e.source, e.target) == ("BackOff", "RunPhotometry"))
    assert loop.points[-1][1] < loop.points[0][1]
    right = max(n.x + n.w for n in g.nodes if n.parent is None)
    assert max(x for x, _ in loop.points) > right
    # a long edge skipping layers runs past them, not through them
    inner_end = next(
        e
        for e in g.edges
        if (e.source, e.target) == ("PreprocessExposures/Preprocess", "PreprocessExposures/__end__")
    )
    failed = g.node("PreprocessExposures/PreprocessFailed")
    assert len(inner_end.points) == 4
    assert not failed.x < inner_end.points[1][0] < failed.x + failed.w
    # layers follow the flow: Start above the Map, the Map above PlanPhotometry
    assert g.node("__start__").y < box.y < g.node("PlanPhotometry").y


def test_parallel_branches_sit_side_by_side_inside_their_box():
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {
                        "StartAt": "B",
                        "States": {
                            "B": {"Type": "Pass", "Next": "C"},
                            "C": {"Type": "Pass", "End": True},
                        },
                    },
                ],
            }
        },
    }
    g = layout(definition)
    box, a, b = g.node("Both"), g.node("Both/A"), g.node("Both/B")
    assert _contains(box, a) and _contains(box, b) and a.x + a.w <= b.x
    svg = ET.fromstring(to_svg(g))  # well-formed XML
    assert svg.tag.endswith("svg")


class _FlakyThenFine:
    """Fails the first call of each Task with a retryable error, then succeeds."""

    def __init__(self, fail_always: set[str] = frozenset()):
        self.calls: dict[str, int] = {}
        self.fail_always = fail_always

    def invoke(self, resource, parameters, ctx):
        n = self.calls[ctx.state_name] = self.calls.get(ctx.state_name, 0) + 1
        if ctx.state_name in self.fail_always:
            raise TaskFailed("InvalidExposure", f"{ctx.state_name} is broken")
        if n == 1:
            raise TaskFailed("TransientError", "try again")
        return {"ok": True}


DEFINITION = {
    "StartAt": "Fetch",
    "States": {
        "Fetch": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Retry": [{"ErrorEquals": ["TransientError"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["InvalidExposure"], "Next": "Rejected"}],
            "ResultPath": "$.fetch",
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ResultPath": "$.each",
            "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}},
            "Next": "Check",
        },
        "Check": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Retry": [{"ErrorEquals": ["TransientError"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "End": True,
        },
        "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "bad input"},
    },
}


def _run(invoker):
    result = StateMachine(DEFINITION).execute(
        {"items": [1, 2, 3]}, name="t", invoker=invoker, sleep=lambda s: None
    )
    return result, state_status(result.history, result.status)


def test_statuses_from_a_real_history_retry_then_success_and_map_iterations():
    result, st = _run(_FlakyThenFine())
    assert result.status == "SUCCEEDED"
    assert st["Fetch"].status == "succeeded" and st["Fetch"].retries == 1
    assert st["Fetch"].failures == 1
    assert st["Each"].status == "succeeded" and st["Each"].iterations == {"succeeded": 3}
    assert st["Each/One"].status == "succeeded" and st["Each/One"].entered == 3
    assert "Rejected" not in st
    g = execution_graph(DEFINITION, result.history, result.status)
    assert g.node("Rejected").status == "not_reached" and g.node("__end__").status == "succeeded"


def test_statuses_from_a_real_history_caught_error_and_failed_state():
    result, st = _run(_FlakyThenFine(fail_always={"Fetch"}))
    assert result.status == "FAILED"
    assert st["Fetch"].status == "caught" and st["Fetch"].error == "InvalidExposure"
    assert st["Rejected"].status == "failed"
    svg = to_svg(execution_graph(DEFINITION, result.history, result.status))
    root = ET.fromstring(svg)
    marks = {
        g.get("data-state"): g.get("data-status")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("data-state")
    }
    assert marks["Rejected"] == "failed" and marks["Fetch"] == "caught"
    assert marks["Each"] == "not_reached" and marks["Check"] == "not_reached"


def test_an_uncaught_failure_and_a_running_execution():
    result, st = _run(_FlakyThenFine(fail_always={"Check"}))
    assert result.status == "FAILED"
    assert st["Check"].status == "failed" and st["Check"].failures == 1
    # the same history cut short, as seen while the execution runs
    cut = [
        e
        for e in result.history
        if e["id"] <= next(e["id"] for e in result.history if e["type"] == "MapStateStarted") + 1
    ]
    live = state_status(cut, "RUNNING")
    assert live["Fetch"].status == "succeeded" and live["Each"].status == "running"


def test_untrusted_state_names_are_escaped_in_svg():
    definition = {
        "StartAt": "<script>x</script>",
        "States": {"<script>x</script>": {"Type": "Pass", "End": True}},
    }
    svg = to_svg(layout(definition))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_concurrent_map_iterations_are_not_counted_as_retries():
    """A Map's iterations enter its Task together and their TaskScheduled interleave (issue
    18: "Preprocess ... retries 3" with no failed task). Only a second attempt within one
    entry is a retry."""

    def ev(i, prev, typ, **details):
        return {"id": i, "previousEventId": prev, "type": typ, "timestamp": f"t{i}", **details}

    def entered(name):
        return {"stateEnteredEventDetails": {"name": name}}

    it = {"mapIterationSucceededEventDetails": {"name": "Each", "index": 0}}
    history = [
        ev(1, 0, "ExecutionStarted"),
        ev(2, 1, "MapStateEntered", **entered("Each")),
        ev(3, 2, "MapStateStarted"),
        ev(4, 3, "MapIterationStarted"),
        ev(5, 3, "MapIterationStarted"),
        ev(6, 4, "TaskStateEntered", **entered("Work")),
        ev(7, 5, "TaskStateEntered", **entered("Work")),
        ev(8, 6, "TaskScheduled"),
        ev(9, 7, "TaskScheduled"),
        ev(10, 8, "TaskSucceeded"),
        ev(11, 9, "TaskFailed", taskFailedEventDetails={"error": "Transient"}),
        ev(12, 11, "TaskScheduled"),  # iteration 2 retries once
        ev(13, 12, "TaskSucceeded"),
        ev(14, 10, "TaskStateExited"),
        ev(15, 13, "TaskStateExited"),
        ev(16, 14, "MapIterationSucceeded", **it),
        ev(17, 15, "MapIterationSucceeded", **it),
        ev(18, 17, "MapStateSucceeded"),
        ev(19, 18, "MapStateExited"),
        ev(20, 19, "ExecutionSucceeded"),
    ]
    st = state_status(history, "SUCCEEDED")
    assert st["Each/Work"].entered == 2 and st["Each/Work"].retries == 1
    assert st["Each"].iterations == {"succeeded": 2}
