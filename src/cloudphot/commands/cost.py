"""``cloudphot cost``: what the workspace's runs would cost on AWS, or what a new run will."""

from __future__ import annotations

from ._common import console, open_local, settings_from_args

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser(
        "cost", help="AWS cost of past runs by task and field, or --estimate a new run"
    )
    p.add_argument(
        "--estimate", metavar="DIR", help="predict the cost of uploading the FITS files under DIR"
    )
    p.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="exit with status 3 when the cost (or the estimate) is over USD",
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="TOML/JSON price table overriding the defaults (also $CLOUDPHOT_PRICES)",
    )
    p.add_argument(
        "--survey",
        choices=("field", "brick", "phat"),
        help=(
            "price a whole survey from its plan: one reduction (Step Functions, Lambda, "
            "Spot photometry, catalog builds, public IPv4, image pulls, logs) and then per "
            "month (S3 storage of exposures, products and catalog versions; Athena scans)"
        ),
    )
    p.add_argument(
        "--keep",
        type=int,
        default=10,
        metavar="N",
        help="with --survey: catalog versions kept (cloudphot catalog prune --keep N); 0: all",
    )
    p.add_argument(
        "--full-copies",
        action="store_true",
        help="with --survey: price catalog versions as full copies (before shared partitions)",
    )
    p.add_argument(
        "--queries",
        type=int,
        default=10_000,
        metavar="N",
        help="with --survey: Athena queries per month (0.2 GB scanned each)",
    )
    p.add_argument("--jobs", action="store_true", help="also list every job")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_cost)


def cmd_cost(args) -> int:
    from ..monitor.cost import (
        PRICES_AS_OF,
        BudgetExceeded,
        check_budget,
        estimate_run,
        load_prices,
        workspace_ledger,
    )

    if args.budget is not None and not args.budget >= 0:
        from ..errors import ConfigError

        raise ConfigError(f"--budget {args.budget}: give a non-negative amount in USD")
    prices = load_prices(args.prices)
    if args.survey:
        return _survey(args, prices)
    ledger = None
    if not (args.estimate and not settings_from_args(args).tables_path.exists()):
        platform = open_local(args)  # an estimate without a workspace uses the a priori model
        try:
            ledger = workspace_ledger(platform, prices)
        finally:
            platform.close()
    if args.estimate:
        est = estimate_run(args.estimate, ledger, prices)
        amount, doc = est.usd, est.to_dict()
    else:
        assert ledger is not None  # no estimate: the workspace was read above
        amount, doc = ledger.total, ledger.to_dict()
        if not args.jobs:
            doc.pop("jobs")
    over = None
    try:
        check_budget(amount, args.budget, "the estimate" if args.estimate else "the workspace")
    except BudgetExceeded as exc:
        over = str(exc)
    if args.json:
        from ..cli import print_json

        print_json({**doc, "budget": args.budget, "over_budget": over})
        return 3 if over else 0
    out = console()
    if args.estimate:
        _print_estimate(out, est)
    else:
        _print_ledger(out, ledger, args.jobs)
    out.print(f"[dim]prices: {PRICES_AS_OF}[/]")
    if over:
        out.print(f"[bold red]over budget:[/] {over}")
        return 3
    return 0


def _usd(x: float) -> str:
    return f"${x:,.6f}" if x < 1 else f"${x:,.2f}"


def _print_ledger(out, ledger, list_jobs: bool) -> None:
    from rich.table import Table

    for key, title in (("task", "by task"), ("field", "by field")):
        t = Table(title=f"AWS cost {title}", title_justify="left")
        t.add_column(key, no_wrap=True)
        for col in ("jobs", "λ GB-s", "SFN trans.", "Fargate vCPU-h", "S3 req.", "USD"):
            t.add_column(col, justify="right", no_wrap=col == "USD")
        for name, g in ledger.by(key).items():
            u = g["usage"]
            t.add_row(
                name,
                str(g["jobs"]),
                f"{u.lambda_gb_seconds + u.lambda_gb_seconds_arm64:.3f}",
                str(u.transitions),
                f"{u.fargate_vcpu_hours + u.fargate_spot_vcpu_hours:.4f}",
                str(u.s3_get + u.s3_put),
                _usd(g["usd"]),
            )
        out.print(t)
    if list_jobs:
        t = Table(title="jobs", title_justify="left")
        t.add_column("job", no_wrap=True)
        for col in ("field", "state", "att.", "CPU s", "USD"):
            t.add_column(
                col,
                justify="right" if col in ("att.", "CPU s", "USD") else "left",
                no_wrap=col in ("USD", "state"),
            )
        for j in sorted(ledger.jobs, key=lambda j: -j.total):
            t.add_row(
                j.job_id,
                j.field or "-",
                j.state,
                str(j.attempts),
                f"{j.usage.cpu_seconds:.3f}",
                _usd(j.total),
            )
        out.print(t)
    by_service = ", ".join(f"{k} {_usd(v)}" for k, v in ledger.total_usd().items() if v)
    out.print(
        f"platform functions (notifications, dispatch, status): "
        f"{_usd(sum(ledger.platform.usd(ledger.prices).values()))}"
    )
    out.print(
        f"[bold]workspace total: {_usd(ledger.total)}[/] for {len(ledger.jobs)} job(s), "
        f"{ledger.exposures} exposure(s) ({by_service or 'nothing yet'})"
    )


def _print_estimate(out, est) -> None:
    from rich.table import Table

    t = Table(
        title=f"estimate for {est.files} exposure(s), {est.bytes / 1e6:.1f} MB",
        title_justify="left",
    )
    t.add_column("task")
    t.add_column("USD", justify="right")
    for k, v in sorted(est.by_task.items(), key=lambda kv: -kv[1]):
        t.add_row(k, _usd(v))
    out.print(t)
    out.print(f"basis: {est.basis}; {_usd(est.per_exposure_usd)} per exposure")
    out.print(
        f"[bold]estimated cost: {_usd(est.usd)}[/] ({est.files} exposure(s) x "
        f"{_usd(est.per_exposure_usd)}; --budget compares this figure)"
    )
    if est.by_size_usd is not None:
        out.print(
            f"by input size instead (past cost per MB x {est.bytes / 1e6:.1f} MB): "
            f"{_usd(est.by_size_usd)}; photometry time grows with pixels, so trust this "
            "one when these exposures are larger than the past ones"
        )


def _survey(args, prices) -> int:
    from rich.table import Table

    from ..errors import ConfigError
    from ..monitor.budget import SURVEYS, survey_budget
    from ..monitor.cost import PRICES_AS_OF, BudgetExceeded, check_budget, survey_cost

    if args.keep < 0 or args.queries < 0:
        raise ConfigError("--keep and --queries take a number of 0 or more")
    cost = survey_cost(
        survey_budget(SURVEYS[args.survey], prices),
        prices,
        keep_versions=args.keep or None,
        shared_versions=not args.full_copies,
        queries_per_month=args.queries,
    )
    over = None
    try:
        check_budget(cost.once_total, args.budget, f"reducing {args.survey}")
    except BudgetExceeded as exc:
        over = str(exc)
    if args.json:
        from ..cli import print_json

        print_json({**cost.to_dict(), "budget": args.budget, "over_budget": over})
        return 3 if over else 0
    out = console()
    for title, items in (("one reduction", cost.once), ("then per month", cost.monthly)):
        t = Table(title=f"{args.survey}: {title}", title_justify="left")
        t.add_column("item")
        t.add_column("USD", justify="right")
        for k, v in items.items():
            t.add_row(k, _usd(v))
        t.add_row("[bold]total[/]", f"[bold]{_usd(sum(items.values()))}[/]")
        out.print(t)
    stored = ", ".join(f"{k} {v:,.2f} TB" for k, v in cost.stored_tb.items())
    out.print(f"stored: {stored}")
    for what, why in cost.assumptions.items():
        out.print(f"[dim]{what}: {why}[/]")
    out.print(f"[dim]prices: {PRICES_AS_OF}[/]")
    if over:
        out.print(f"[bold red]over budget:[/] {over}")
        return 3
    return 0
