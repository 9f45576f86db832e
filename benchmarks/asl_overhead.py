"""ASL interpreter overhead: cloudphot's interpreter vs moto's on the same definitions.

Run ``python benchmarks/asl_overhead.py`` from the repository root. Measures state
transitions per second for (a) a Map of N Pass-state iterations and (b) a linear
chain of Pass states, through cloudphot's interpreter and through moto's ASL
implementation (moto 5, ``execute_state_machine``) in the same process, and
prints a table with the ratio.

A "transition" is one state executed (one ``*StateEntered`` event): a Map of N
items with a one-state processor is N + 1 transitions. moto is timed from
StartExecution until DescribeExecution reports a final status (polled every
<= 5 ms), so its figure includes a little API overhead; that is the cost a user
of moto as a local runner would see. moto's Map is timed on 100 items by
default: at 1,000 items moto 5.2 runs for minutes and then fails with
"maximum recursion depth exceeded" (see run_map_benchmark).
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT / "src"))
sys.path.insert(0, str(_ROOT / "tests" / "asl"))

from cloudphot.asl import StateMachine

__all__ = [
    "chain_definition",
    "jsonata_chain_definition",
    "jsonata_map_definition",
    "main",
    "map_definition",
    "run_chain_benchmark",
    "run_language_benchmark",
    "run_map_benchmark",
]


def map_definition(max_concurrency: int = 0) -> dict:
    """A Map over the whole input whose processor is a single Pass state."""
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": max_concurrency,
                "End": True,
                "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {
                        "P": {"Type": "Pass", "ResultPath": "$.seen", "Result": True, "End": True}
                    },
                },
            }
        },
    }


def chain_definition(n_states: int = 100) -> dict:
    """``n_states`` Pass states in a line, each adding one field via ResultPath."""
    states = {}
    for i in range(n_states):
        st: dict[str, Any] = {"Type": "Pass", "Result": i, "ResultPath": f"$.s{i % 10}"}
        if i + 1 < n_states:
            st["Next"] = f"S{i + 1}"
        else:
            st["End"] = True
        states[f"S{i}"] = st
    return {"StartAt": "S0", "States": states}


def jsonata_map_definition(max_concurrency: int = 0) -> dict:
    """``map_definition`` written in JSONata (ItemSelector and Output expressions)."""
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": max_concurrency,
                "End": True,
                "ItemSelector": {
                    "i": "{% $states.context.Map.Item.Index %}",
                    "v": "{% $states.context.Map.Item.Value %}",
                },
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {
                        "P": {
                            "Type": "Pass",
                            "Output": "{% $merge([$states.input, {'seen': true}]) %}",
                            "End": True,
                        }
                    },
                },
            }
        },
    }


def jsonata_chain_definition(n_states: int = 100) -> dict:
    """``chain_definition`` written in JSONata: each state adds a field and a variable."""
    states = {}
    for i in range(n_states):
        st: dict[str, Any] = {
            "Type": "Pass",
            "Output": "{% $merge([$states.input, {'s" + str(i % 10) + "': " + str(i) + "}]) %}",
            "Assign": {f"v{i % 10}": i},
        }
        if i + 1 < n_states:
            st["Next"] = f"S{i + 1}"
        else:
            st["End"] = True
        states[f"S{i}"] = st
    return {"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}


def run_language_benchmark(n_items: int = 1000, n_states: int = 100, rounds: int = 3) -> list[dict]:
    """The same work in JSONPath and in JSONata states, interleaved round by round
    (best of ``rounds`` each); the JSONPath interpreter is the peer."""
    pairs = [
        (
            f"Map of {n_items} Pass",
            map_definition(0),
            jsonata_map_definition(0),
            list(range(n_items)),
        ),
        (
            f"Chain of {n_states} Pass",
            chain_definition(n_states),
            jsonata_chain_definition(n_states),
            {"job": "bench"},
        ),
    ]
    rows = []
    for label, jsonpath, jsonata, data in pairs:
        best = {"JSONPath": float("inf"), "JSONata": float("inf")}
        transitions = 0
        for _ in range(rounds):
            for lang, definition in (("JSONPath", jsonpath), ("JSONata", jsonata)):
                seconds, transitions = _time_cloudphot(definition, data, 1)
                best[lang] = min(best[lang], seconds)
        rows.append(
            {
                "benchmark": label,
                "transitions": transitions,
                "jsonpath_transitions_per_s": transitions / best["JSONPath"],
                "jsonata_transitions_per_s": transitions / best["JSONata"],
                "jsonata_cost": best["JSONata"] / best["JSONPath"],
            }
        )
    return rows


def _time_cloudphot(definition: dict, data: Any, repeats: int) -> tuple[float, int]:
    sm = StateMachine(definition)
    best = float("inf")
    transitions = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = sm.execute(data)
        best = min(best, time.perf_counter() - t0)
        if r.status != "SUCCEEDED":
            raise RuntimeError(f"cloudphot run failed: {r.error}: {r.cause}")
        transitions = sum(1 for e in r.history if e["type"].endswith("StateEntered"))
    return best, transitions


def _time_moto(definition: dict, data: Any) -> float:
    import json

    from moto_runner import MotoRunner

    with MotoRunner() as m:
        m.run({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}, {})  # warm-up
        client = m.client
        sm = client.create_state_machine(
            name="bench",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/bench",
        )
        t0 = time.perf_counter()
        ex = client.start_execution(stateMachineArn=sm["stateMachineArn"], input=json.dumps(data))
        while True:
            d = client.describe_execution(executionArn=ex["executionArn"])
            if d["status"] != "RUNNING":
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        if d["status"] != "SUCCEEDED":
            raise RuntimeError(f"moto run ended {d['status']}: {d.get('error')} {d.get('cause')}")
    return elapsed


def _compare(label: str, definition: dict, data: Any, moto_data: Any, repeats: int) -> dict:
    ours, transitions = _time_cloudphot(definition, data, repeats)
    moto_transitions = _time_cloudphot(definition, moto_data, 1)[1]
    theirs = _time_moto(definition, moto_data)
    ours_tps, theirs_tps = transitions / ours, moto_transitions / theirs
    return {
        "benchmark": label,
        "transitions": transitions,
        "cloudphot_seconds": ours,
        "cloudphot_transitions_per_s": ours_tps,
        "moto_transitions": moto_transitions,
        "moto_seconds": theirs,
        "moto_transitions_per_s": theirs_tps,
        "speedup_vs_moto": ours_tps / theirs_tps,
    }


def run_map_benchmark(
    n_items: int = 1000, max_concurrency: int = 0, repeats: int = 3, moto_items: int | None = 100
) -> dict:
    """Transitions/s of an ``n_items``-item Map of Pass states, cloudphot vs moto.

    cloudphot runs ``n_items`` (best of ``repeats``). moto runs the same definition on
    ``moto_items`` items (default 100): at 1,000 items moto 5.2 spends minutes and then
    fails the execution with "maximum recursion depth exceeded", so its rate is taken
    on a smaller input; pass ``moto_items=None`` to force the full size.
    """
    moto_n = n_items if moto_items is None else min(n_items, moto_items)
    return _compare(
        f"Map of {n_items} Pass (MaxConcurrency={max_concurrency})",
        map_definition(max_concurrency),
        list(range(n_items)),
        list(range(moto_n)),
        repeats,
    )


def run_chain_benchmark(n_states: int = 100, repeats: int = 5) -> dict:
    """Transitions/s of a linear chain of ``n_states`` Pass states, cloudphot vs moto."""
    data = {"job": "bench"}
    return _compare(f"Chain of {n_states} Pass", chain_definition(n_states), data, data, repeats)


def format_table(rows: list[dict]) -> str:
    """Markdown table of benchmark rows (as returned by the run_* functions)."""
    head = (
        "| benchmark | cloudphot transitions | cloudphot s | cloudphot tr/s "
        "| moto transitions | moto s | moto tr/s | cloudphot/moto |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['transitions']} | {r['cloudphot_seconds']:.4f} "
            f"| {r['cloudphot_transitions_per_s']:,.0f} | {r['moto_transitions']} "
            f"| {r['moto_seconds']:.2f} | {r['moto_transitions_per_s']:,.0f} "
            f"| {r['speedup_vs_moto']:,.0f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import logging

    logging.disable(logging.CRITICAL)  # moto logs every failure event verbosely
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--states", type=int, default=100)
    ap.add_argument(
        "--moto-items",
        type=int,
        default=100,
        help="Map size for moto (0 = same as --items; moto 5.2 fails at 1000)",
    )
    ap.add_argument(
        "--languages",
        action="store_true",
        help="compare JSONata states with the same work in JSONPath states instead of moto",
    )
    args = ap.parse_args(argv)
    if args.languages:
        print(
            "| benchmark | transitions | JSONPath tr/s | JSONata tr/s | JSONata time / JSONPath |"
        )
        print("|---|---|---|---|---|")
        for r in run_language_benchmark(args.items, args.states):
            print(
                f"| {r['benchmark']} | {r['transitions']} | {r['jsonpath_transitions_per_s']:,.0f} "
                f"| {r['jsonata_transitions_per_s']:,.0f} | {r['jsonata_cost']:.1f}x |"
            )
        return 0
    moto_items = args.moto_items or None
    rows = [
        run_map_benchmark(args.items, moto_items=moto_items),
        run_map_benchmark(args.items, max_concurrency=1, moto_items=moto_items),
        run_chain_benchmark(args.states),
    ]
    print(format_table(rows))
    print(
        "tr/s = state transitions per second (one per *StateEntered event); "
        "cloudphot/moto = ratio of the two rates"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
