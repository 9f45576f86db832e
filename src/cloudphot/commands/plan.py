"""``cloudphot plan``: a survey's Step Functions, Lambda and Spot budget before it runs."""

from __future__ import annotations

import json

from ._common import console

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    from ..monitor.budget import SURVEYS

    p = sub.add_parser(
        "plan",
        help="executions, state transitions, history events and compute a survey will take",
        description=(
            "Run the project's state machines dry (the local ASL interpreter, AWS's quotas "
            "on, shape-only services) for one field of the survey and scale by its fields: "
            "executions, state transitions, the largest history and state, Lambda "
            "GB-seconds and Spot vCPU-hours, priced. Named shapes: "
            + ", ".join(f"{k} ({v.description})" for k, v in SURVEYS.items())
            + "."
        ),
    )
    p.add_argument(
        "survey", nargs="?", default="brick", choices=sorted(SURVEYS), help="the survey's shape"
    )
    p.add_argument(
        "--preset",
        help=(
            "plan a simulator preset instead (its fields, exposures per field and chip "
            "size, e.g. brick: 18 fields of 8 reduced exposures) before simulating it"
        ),
    )
    p.add_argument("--fields", type=int, help="number of fields (default: the survey's)")
    p.add_argument("--exposures", type=int, help="exposures per field (default: the survey's)")
    p.add_argument("--pixels", type=int, help="chip pixels per exposure (default: ACS/WFC)")
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="TOML/JSON price table overriding the defaults (also $CLOUDPHOT_PRICES)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args) -> int:
    from dataclasses import replace

    from rich.table import Table

    from ..asl.executor import HISTORY_LIMIT_EVENTS
    from ..monitor.budget import PAYLOAD_LIMIT_BYTES, SURVEYS, survey_budget
    from ..monitor.cost import load_prices

    shape = SURVEYS[args.survey] if not args.preset else _preset_shape(args.preset)
    overrides = {
        k: v
        for k, v in (
            ("fields", args.fields),
            ("exposures_per_field", args.exposures),
            ("pixels_per_exposure", args.pixels),
        )
        if v is not None
    }
    shape = replace(shape, **overrides)  # validated in SurveyShape.__post_init__
    budget = survey_budget(shape, load_prices(args.prices))
    usd = budget.usd()
    if args.json:
        doc = {
            "survey": shape.name,
            "fields": shape.fields,
            "exposures_per_field": shape.exposures_per_field,
            "pixels_per_exposure": shape.pixels_per_exposure,
            "rows": [vars(r) for r in budget.rows],
            "executions": budget.executions,
            "transitions": budget.transitions,
            "max_history_events": budget.max_events,
            "largest_state_bytes": budget.largest_payload,
            "lambda_gb_seconds": budget.lambda_gb_seconds,
            "spot_vcpu_hours": budget.spot_vcpu_hours,
            "photometry_task": budget.task_size.as_dict(),
            "usd": usd,
            "problems": budget.problems(),
        }
        print(json.dumps(doc, indent=1))
        return 1 if doc["problems"] else 0
    out = console()
    out.print(
        f"[bold]{shape.name}[/]: {shape.fields:,} fields x {shape.exposures_per_field:,} "
        f"exposures ({shape.exposures:,} exposures of {shape.pixels_per_exposure / 1e6:.1f} Mpix)"
    )
    t = Table(box=None, pad_edge=False)
    for col in (
        "task",
        "executions",
        "children",
        "transitions",
        "history (max)",
        "state (max)",
        "Lambda calls",
        "GB-s",
    ):
        t.add_column(col, justify="left" if col == "task" else "right")
    for r in budget.rows:
        t.add_row(
            r.task,
            f"{r.executions:,}",
            f"{r.children:,}",
            f"{r.transitions:,}",
            f"{r.max_events:,}",
            f"{r.largest_payload / 1024:.1f} KiB",
            f"{r.lambda_calls:,}",
            f"{r.lambda_gb_seconds:,.0f}",
        )
    out.print(t)
    out.print(
        f"total: {budget.executions:,} executions, {budget.transitions:,} state transitions; "
        f"largest history {budget.max_events:,} of {HISTORY_LIMIT_EVENTS:,} events, largest "
        f"state {budget.largest_payload / 1024:.1f} of {PAYLOAD_LIMIT_BYTES // 1024} KiB"
    )
    size = budget.task_size
    out.print(
        f"compute: {budget.lambda_gb_seconds:,.0f} Lambda GB-s; photometry "
        f"{budget.spot_vcpu_hours:,.1f} Spot vCPU-hours ({size.vcpu:g} vCPU / "
        f"{size.memory_gib:g} GiB per field)"
    )
    out.print(
        "cost: "
        + ", ".join(f"{k.replace('_', ' ')} ${v:,.2f}" for k, v in usd.items())
        + f"; total ${sum(usd.values()):,.2f}"
    )
    for p in budget.problems():
        out.print(f"[red]quota:[/] {p}")
    return 1 if budget.problems() else 0


def _preset_shape(name: str):
    """The survey shape of a simulator preset: what ``cloudphot simulate --preset`` writes."""
    from ..errors import ConfigError
    from ..monitor.budget import SurveyShape
    from ..simulate.presets import get_preset

    try:
        p = get_preset(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return SurveyShape(
        f"preset {p.name}",
        p.n_fields,
        p.exposures_per_field,
        p.pixels_per_exposure,
        description=f"the simulator's {p.name} preset",
    )
