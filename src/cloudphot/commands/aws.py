"""``cloudphot aws doctor``: before a first deploy, what the account lacks for this stack."""

from __future__ import annotations

import json

from ._common import console

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    from ..monitor.budget import SURVEYS

    aws = sub.add_parser("aws", help="AWS account checks (before sam deploy)")
    aws_sub = aws.add_subparsers(dest="aws_command", required=True)
    p = aws_sub.add_parser(
        "doctor",
        help="check the account's quotas and roles against the template and the survey's plan",
        description=(
            "Reads template.yaml (task sizes, reserved concurrency, Map fan-out) and the "
            "survey's plan (the photometry task size), then the account (your AWS "
            "credentials and region): Lambda concurrency, Fargate Spot and on-demand vCPU "
            "quotas, ECS's service-linked role. Exit 1 if a deploy or a first run would "
            "fail; warnings say what would only be slow."
        ),
    )
    p.add_argument(
        "survey", nargs="?", default="brick", choices=sorted(SURVEYS), help="the survey's shape"
    )
    p.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters as sam deploy gets them (e.g. CatalogTaskMemory=30720)",
    )
    p.add_argument(
        "--offline", action="store_true", help="check the template only; do not call AWS"
    )
    p.add_argument("--region", help="AWS region (default: your configuration's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


def _overrides(items: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--parameter-overrides: {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def cmd_doctor(args) -> int:
    from ..errors import ConfigError
    from ..monitor.budget import SURVEYS
    from ..pipeline import doctor, sizing
    from ..template import find_project_root, load_template

    root = find_project_root()
    template = load_template(root / "template.yaml")
    overrides = _overrides(args.parameter_overrides)
    unknown = set(overrides) - set(template.get("Parameters", {}))
    if unknown:
        raise ConfigError(f"--parameter-overrides: no such parameter {', '.join(sorted(unknown))}")
    needs = doctor.template_needs(template, root, overrides)
    shape = SURVEYS[args.survey]
    estimate = sizing.estimate_field(shape.exposures_per_field * shape.pixels_per_exposure)
    photometry = sizing.fit_size(min(estimate.memory_mib, sizing.MAX_SIZE.memory_mib))
    findings = doctor.check_template(needs)
    if not args.offline:
        from ..aws.account import gather_facts

        findings += doctor.check_account(
            needs,
            gather_facts(region=args.region),
            photometry,
            fields=shape.fields,
        )
    failed = any(f.status == "fail" for f in findings)
    if args.json:
        print(
            json.dumps(
                {
                    "survey": shape.name,
                    "photometry_task": photometry.as_dict(),
                    "findings": [vars(f) for f in findings],
                    "ok": not failed,
                },
                indent=2,
            )
        )
        return 1 if failed else 0
    from rich.table import Table

    table = Table(
        title=f"cloudphot aws doctor ({shape.name}: photometry tasks of "
        f"{photometry.vcpu:g} vCPU / {photometry.memory_gib:g} GiB)"
    )
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    colour = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    for f in findings:
        table.add_row(f.check, f"[{colour[f.status]}]{f.status}[/]", f.detail, f.fix)
    console().print(table)
    return 1 if failed else 0
