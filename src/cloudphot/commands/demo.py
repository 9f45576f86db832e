"""``cloudphot demo``."""

from __future__ import annotations

from pathlib import Path

from ._common import STATE_STYLE, console, settings_from_args

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="simulate a crowded field and reduce it locally, end to end")
    p.add_argument(
        "--preset",
        default="demo",
        choices=["tiny", "demo", "realistic"],
        help="field size (tiny: seconds; demo: about a minute or two; realistic: full ACS chips)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the simulated field")
    p.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        metavar="RATE",
        help="reclaim each Spot photometry worker with this probability (simulated Spot "
        "interruptions; 1.0 reclaims every one until the on-demand fall-back)",
    )
    p.add_argument("--fresh", action="store_true", help="start from an empty workspace")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from rich.table import Table

    from ..demo import run_demo

    out = console()
    settings = settings_from_args(args)
    jobs_done: dict[str, int] = {}

    def progress(stage, info):
        if stage == "simulate":
            out.print(f"[bold]1/3[/] simulating the {args.preset} field (seed {args.seed})…")
        elif stage == "upload":
            out.print(
                f"[bold]2/3[/] uploading {info} objects to the local raw bucket "
                "(exposures in shuffled order, the field manifest, one corrupted file)…"
            )
            out.print("[bold]3/3[/] running the pipeline: ingest → check_field → reduce_field")
        elif stage == "job":
            jobs_done[info.task] = jobs_done.get(info.task, 0) + 1
            style = STATE_STYLE.get(info.state.value, "default")
            out.print(f"   [{style}]{info.state.value:<9}[/] {info.task:<22} {info.job_id}")

    r = run_demo(
        settings,
        preset=args.preset,
        seed=args.seed,
        chaos=args.chaos,
        fresh=args.fresh,
        progress=progress,
    )
    out.print()
    out.print(
        f"[bold]field {r.field_id}[/]: {r.catalog_rows} stars in the catalog; "
        f"jobs {', '.join(f'{v} {k.lower()}' for k, v in sorted(r.jobs.items()))}"
    )
    for rej in r.rejected:
        out.print(f"[red]rejected as intended[/] {rej['subject']}: {rej['reason'][:160]}")
    a = r.accuracy
    if a is None:
        out.print("[bold red]no field catalog was produced; see 'cloudphot status'[/]")
        return 1
    t = Table(
        title="recovered vs injected (gst stars with S/N > 50, constant stars)", show_edge=False
    )
    for col in ("filter", "st", "gst", "bright", "median |Δmag|", "bias", "scatter"):
        t.add_column(col, justify="right" if col != "filter" else "left")
    for f in a.filters:
        t.add_row(
            f.filter,
            str(f.n_st),
            str(f.n_gst),
            str(f.n_bright),
            f"{f.median_abs_dmag:.4f}",
            f"{f.median_dmag:+.4f}",
            f"{f.robust_scatter:.4f}",
        )
    out.print(t)
    out.print(
        f"positions (bright gst stars): median error {a.median_position_error_pix:.4f} pix "
        f"after removing the frame offset ({a.frame_offset_pix[0]:+.3f}, "
        f"{a.frame_offset_pix[1]:+.3f}) pix that the reference exposure's pointing error "
        f"puts on every position; {a.median_absolute_position_error_pix:.4f} pix with it"
    )
    out.print(
        f"matched {a.n_matched} of {a.n_truth} injected stars (most are far below the "
        "detection limit, as in a real crowded field)"
    )
    if r.asts:
        s = r.asts
        pairs = ", ".join(
            f"{f} {_mag(m)} (truth {_mag(s['truth50'].get(f))})" for f, m in s["mag50"].items()
        )
        out.print(
            f"artificial stars: {s['n_recovered']}/{s['n_fakes']} recovered; 50% completeness "
            f"at {pairs}; {len(s['hlsp'])} HLSP files and {len(s['plots'])} plots in "
            f"{Path(s['plots'][0]).parent if s['plots'] else 'the field products'}"
        )
    if a.cepheids:
        full = sum(c["n_measured"] >= c["n_covering"] for c in a.cepheids)
        out.print(f"Cepheids: {full}/{len(a.cepheids)} measured in every exposure covering them")
    if r.catalog_version:
        out.print(
            f"database: {settings.survey} v{r.catalog_version}: {r.catalog_objects} objects "
            f"in phot_mod, {r.catalog_measurements} measurements in phot_meas "
            f"(try: cloudphot{' --workdir ' + args.workdir if args.workdir else ''} query "
            f'"SELECT * FROM {settings.survey}.phot_mod LIMIT 10")'
        )
        searched = [p for p in r.periods if "error_frac" in p]
        ok = [p for p in searched if p["error_frac"] < 0.01]
        if searched:
            worst = max(p["error_frac"] for p in searched)
            out.print(
                f"Cepheid periods from catalog light curves (Lomb–Scargle): {len(ok)}/"
                f"{len(r.periods)} within 1% (worst {100 * worst:.2f}%)"
            )
        for p in r.periods:
            if "error" in p:
                out.print(f"Cepheid {p['star_id']}: no period search: {p['error']}")
        v = r.visits
        if v.get("rows"):
            out.print(
                f"visits: {v['rows']} rows in phot_visit; proper motions of "
                f"{v['movers_within_2sigma']}/{v['movers_measured']} moving stars above "
                f"S/N 20 within 2 sigma of the truth ({v['movers']} injected); Cepheids "
                f"rank {v['cepheid_ranks_all']} in phot_var by var_iqr_norm "
                f"({v['cepheid_ranks']} with the {v['near_movers']} objects near moving "
                f"stars left out)"
            )
        elif v.get("error"):
            out.print(f"visits: {v['error']}")
    if args.chaos and not r.interruptions:
        out.print(
            f"chaos: no Spot worker was reclaimed this time (rate {args.chaos} per Spot "
            "worker start, one worker per field); --chaos 1.0 reclaims every one"
        )
    elif args.chaos:
        out.print(
            f"chaos: {r.interruptions} Spot interruption(s), each retried; they cost "
            f"{r.lost_cpu_seconds:.1f} worker CPU s of {r.worker_cpu_seconds:.1f} in all "
            "(see 'cloudphot status' and 'cloudphot history')"
        )
    out.print(f"products: {r.products.get('field')}")
    out.print(
        "time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in r.stage_seconds.items())
        + f"; total {r.seconds:.1f} s"
    )
    out.print(
        f"next: cloudphot{' --workdir ' + args.workdir if args.workdir else ''} status | "
        "executions | history JOB_ID"
    )
    # the truncated upload is rejected on purpose; any other failure is a real one
    unexpected = r.jobs.get("FAILED", 0) + r.jobs.get("ABORTED", 0) - len(r.rejected)
    if unexpected > 0:
        out.print(f"[bold red]{unexpected} job(s) failed besides the intended rejection[/]")
        return 1
    return 0


def _mag(v) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) else "n/a"
