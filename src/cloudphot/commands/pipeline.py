"""Pipeline commands: init, register, upload, manifest, run, status, executions, history."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from ..platform import Platform
from ._common import (
    STATE_STYLE,
    console,
    describe_error,
    open_local,
    open_platform_for,
    positive_int,
    refuse_read_only,
    short,
    workdir_flag,
)

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser(
        "init",
        help="create a local workspace (buckets, tables, task registry)",
        description=(
            "Create a local workspace: a folder per bucket (raw, products), the tables "
            "(tables.sqlite) and the task registry. Where: --workdir, else $CLOUDPHOT_HOME, "
            "else ./cloudphot-work. 'upload' creates one too when there is none."
        ),
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("register", help="load the task registry into the tasks table")
    p.add_argument("registry", nargs="?", help="registry file (default: the packaged tasks.toml)")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser(
        "upload",
        help="put exposures and field manifests into the raw bucket (this triggers the pipeline)",
        description=(
            "Put files into the raw bucket; each upload is an event that triggers the registered "
            "tasks, and the work is drained before the command returns. Exposures "
            "(*_flc.fits, *_flt.fits) are validated and registered. A field is reduced once "
            "its manifest, manifests/<field_id>.json, lists exposures that are all registered: "
            "upload the manifest with them (a .json file goes to manifests/<field_id>.json), "
            "or build it from the registered exposures with 'cloudphot manifest FIELD'. From a "
            "folder only exposures and manifests/*.json are taken (keys relative to it); "
            "other files are skipped and named (--all takes every file)."
        ),
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE|DIR", help="exposures, manifests, or folders of them"
    )
    p.add_argument(
        "--prefix",
        default="",
        metavar="FOLDER",
        help="folder in the raw bucket to put the files in ('a' and 'a/' both mean a/NAME)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        dest="all_files",
        help="from folders, upload every file, not only exposures and manifests",
    )
    p.add_argument(
        "--no-run",
        action="store_true",
        help="only upload and record events; drain later with 'cloudphot run'",
    )
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser(
        "manifest",
        help="build a field's manifest from its registered exposures and upload it",
        description=(
            "Write manifests/FIELD.json into the raw bucket listing every registered exposure "
            "of FIELD (an exposure's field is its TARGNAME, normalised; 'cloudphot status' "
            "lists them); its arrival starts the field's reduction, which this command then "
            "drains, as upload does."
        ),
    )
    p.add_argument("field_id", metavar="FIELD", help="field id, e.g. m31-b15-f09")
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="only write the manifest to FILE (to edit, then upload); nothing is uploaded",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a manifest already uploaded for the field (default: refuse)",
    )
    p.add_argument("--no-run", action="store_true", help="only upload; drain with 'cloudphot run'")
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("run", help="drain queued work: dispatch events and run pending jobs")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="jobs run at once (default: cores, max 4)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="USD",
        help="start no new jobs once the workspace's AWS-equivalent cost reaches this",
    )
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="events and jobs by state, exposures registered, failures")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "executions", help="state machine executions, like the Step Functions console list"
    )
    p.add_argument(
        "--status",
        choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
        help="only executions in this state",
    )
    p.add_argument("--limit", type=positive_int, default=50, help="newest N executions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_executions)

    p = sub.add_parser("history", help="an execution's event history, like the console's")
    p.add_argument("execution", help="execution name (a job id) or ARN")
    p.add_argument("--json", action="store_true", help="the history events as JSON")
    p.set_defaults(func=cmd_history)


def cmd_init(args) -> int:
    platform = open_local(args, must_exist=False)
    refuse_read_only(platform, args)
    settings = platform.settings
    registry = platform.runner.register()
    for logical in settings.buckets:
        (settings.buckets_dir / settings.bucket(logical)).mkdir(parents=True, exist_ok=True)
    out = console()
    out.print(
        f"workspace [bold]{settings.home}[/bold] ready: buckets "
        f"{', '.join(settings.buckets.values())}; {len(registry)} task(s) registered."
    )
    out.print(f"next: cloudphot{workdir_flag(args)} upload EXPOSURES...")
    return 0


def cmd_register(args) -> int:
    registry = open_local(args, must_exist=False).runner.register(args.registry)
    out = console()
    for t in registry:
        out.print(f"[bold]{t.name}[/bold] <- {t.trigger} -> {t.executor.kind} {t.executor.name}")
    return 0


def cmd_upload(args) -> int:
    from ..uploads import plan_uploads

    plan = plan_uploads(
        [Path(p) for p in args.paths], prefix=args.prefix, everything=args.all_files
    )
    out = console()
    if plan.skipped:
        names = ", ".join(p.name for p in plan.skipped[:5])
        more = f" and {len(plan.skipped) - 5} more" if len(plan.skipped) > 5 else ""
        out.print(
            f"skipped {len(plan.skipped)} file(s) that are neither exposures (*_flc.fits, "
            f"*_flt.fits) nor manifests (manifests/*.json): {names}{more} (--all uploads them)"
        )
    if not plan.pairs:
        from ..errors import ConfigError

        raise ConfigError("nothing to upload: no exposure or manifest among the paths given")
    platform = open_local(args, must_exist=False)
    refuse_read_only(platform, args)
    registry = platform.runner.ensure_registry()
    raw = platform.settings.bucket("raw")
    infos = [platform.objects.put_file(raw, key, path) for path, key in plan.pairs]
    out.print(
        f"uploaded {len(infos)} object(s) to the raw bucket"
        + (f", {len(plan.manifests)} of them manifest(s)" if plan.manifests else "")
    )
    _warn_untriggered(platform, registry, infos, out)
    if args.no_run:
        out.print(f"queued; run 'cloudphot{workdir_flag(args)} run' to process them")
        return 0
    return _drain(platform, args)


def _warn_untriggered(platform: Platform, registry, infos, out) -> None:
    """Name every upload that no registered task reacts to: it would sit there unseen."""
    from ..errors import ItemNotFound
    from ..events.model import event_id_for_object

    idle = []
    for info in infos:
        try:
            event = platform.store.event(
                event_id_for_object(info.bucket, info.key, info.etag, info.version_id)
            )
        except ItemNotFound:
            continue
        if not registry.triggered_by(event):
            idle.append(info.key)
    for key in idle:
        out.print(
            f"[bold yellow]warning:[/] {key} matches no registered task, so nothing will "
            "process it (exposures: *.fits; field manifests: manifests/<field_id>.json)"
        )


def cmd_manifest(args) -> int:
    from ..errors import ConfigError
    from ..manifests import manifest_document, manifest_key, write_manifest
    from ..monitor.fields import registered_by_field

    platform = open_local(args)
    fid = args.field_id.strip().lower()
    registered = registered_by_field(platform)
    ids = sorted(registered.get(fid, ()))
    if not ids:
        known = sorted(registered)
        raise ConfigError(
            f"no registered exposure belongs to field {fid!r}; "
            + (
                f"fields with registered exposures: {', '.join(known)}"
                if known
                else f"upload exposures first: cloudphot{workdir_flag(args)} upload FILES"
            )
        )
    doc = manifest_document(fid, ids)
    out = console()
    if args.output:
        path = write_manifest(args.output, doc)
        out.print(
            f"wrote {path}: field {fid}, {len(ids)} exposure(s); upload it with "
            f"'cloudphot{workdir_flag(args)} upload {path}'"
        )
        return 0
    refuse_read_only(platform, args)
    raw, key = platform.settings.bucket("raw"), manifest_key(fid)
    if platform.objects.exists(raw, key) and not args.replace:
        raise ConfigError(
            f"field {fid} already has a manifest (s3://{raw}/{key}); --replace overwrites it "
            "with one listing the registered exposures"
        )
    import json

    platform.runner.ensure_registry()
    platform.objects.put_bytes(
        raw, key, (json.dumps(doc, indent=1) + "\n").encode(), content_type="application/json"
    )
    out.print(f"uploaded {key}: field {fid}, {len(ids)} registered exposure(s)")
    if args.no_run:
        out.print(f"queued; run 'cloudphot{workdir_flag(args)} run' to process it")
        return 0
    return _drain(platform, args)


def cmd_run(args) -> int:
    return _drain(open_local(args, max_workers=args.workers), args)


def _drain(platform: Platform, args) -> int:
    from tqdm import tqdm

    refuse_read_only(platform, args)

    bar = tqdm(desc="jobs", unit="job", leave=False, disable=None)

    def progress(job):
        bar.update(1)
        bar.set_postfix_str(f"{job.task}: {job.state.value}")

    with _announce_interrupt(platform, bar):
        summary = platform.run(progress=progress, budget_usd=getattr(args, "budget", None))
    bar.close()
    out = console()
    parts = [
        f"[{STATE_STYLE.get(k, 'default')}]{v} {k.lower()}[/]"
        for k, v in sorted(summary.jobs.items())
    ]
    out.print(
        f"ran {sum(summary.jobs.values())} job(s) in {summary.seconds:.1f} s"
        + (": " + ", ".join(parts) if parts else "")
    )
    if summary.held_by_budget:
        out.print(f"[bold yellow]{summary.held_by_budget}[/]")
    from ..monitor.fields import field_progress

    fields = [fp.to_dict() for fp in field_progress(platform, cli=_cli(args))]
    print_fields(fields, out, only_news=True)
    return exit_status(summary, args, out)


@contextmanager
def _announce_interrupt(platform: Platform, bar):
    """On Ctrl-C, say at once what is being stopped (the runner then stops it: executions
    abort, workers get SIGTERM and checkpoint); a second Ctrl-C stops waiting for them."""
    import signal
    import sys

    from ..events import JobState

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        bar.close()
        running = platform.store.jobs(JobState.RUNNING)
        what = ", ".join(f"{j.task} {j.job_id}" for j in running[:5]) + (
            f" and {len(running) - 5} more" if len(running) > 5 else ""
        )
        print(
            f"stopping {len(running)} running job(s)"
            + (f" ({what})" if what else "")
            + " and their workers; finished work is kept (Ctrl-C again to stop waiting)",
            file=sys.stderr,
            flush=True,
        )
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _cli(args) -> str:
    return f"cloudphot{workdir_flag(args)}"


def print_fields(fields: list[dict], out, *, only_news: bool = False) -> None:
    """One line per field (``FieldProgress.to_dict()``): its stage and what moves it on.

    ``only_news``: after a run, fields that wait for something and fields in the
    catalog only; a failure is reported by the run's own summary."""
    from ..manifests import manifest_key

    for fp in fields:
        if only_news and not (fp["waiting"] or fp["stage"] == "in catalog"):
            continue
        what = f"{fp['registered']} exposure(s) registered"
        name = f"field [bold]{fp['field_id']}[/]"
        if fp["stage"] == "in catalog":
            stars = f"{fp['stars']} stars, " if fp["stars"] is not None else ""
            out.print(
                f"{name}: [green]in the catalog[/] ({stars}{fp['catalog']}); query it: {fp['next']}"
            )
        elif fp["waiting"]:
            stage = fp["stage"]
            if stage != "waiting for exposures":
                stage += f" [bold]{fp['manifest'] or manifest_key(fp['field_id'])}[/]"
            out.print(f"{name}: {what}, [cyan]{stage}[/]\n   next: {fp['next']}")
        else:
            style = "bold red" if "failed" in fp["stage"] else "yellow"
            out.print(
                f"{name}: {what}, [{style}]{fp['stage']}[/]"
                + (f"; {fp['next']}" if fp["next"] else "")
            )


#: errors of ingest jobs that end in an exposure.rejected event (the Catch of
#: ReadExposure and ClaimedMeanwhile in statemachines/ingest_exposure.asl.json)
REJECTION_ERRORS = frozenset({"InvalidExposure", "DuplicateExposure", "ObjectNotFound"})


def expect_rejections_flag(parser) -> None:
    parser.add_argument(
        "--expect-rejections",
        action="store_true",
        help="rejected uploads (exposure.rejected) do not make the exit status non-zero",
    )


def is_rejection(failure: dict) -> bool:
    return failure.get("task") == "ingest_exposure" and failure.get("error") in REJECTION_ERRORS


def exit_status(summary, args, out) -> int:
    """1 when a job this run ran failed or an event was set aside, saying how many; 0
    otherwise. With ``--expect-rejections`` rejected uploads do not count."""
    failed = list(getattr(summary, "failed", []))
    rejected = [f for f in failed if is_rejection(f)]
    if getattr(args, "expect_rejections", False):
        failed = [f for f in failed if not is_rejection(f)]
        rejected = []
    letters = list(getattr(summary, "dead_letters", []))
    if not failed and not letters:
        return 0
    parts = []
    if failed:
        parts.append(
            f"{len(failed)} job(s) failed"
            + (f", {len(rejected)} of them rejected upload(s)" if rejected else "")
        )
    if letters:
        parts.append(f"{len(letters)} event(s) set aside as dead letters")
    hint = " (pass --expect-rejections if rejected uploads are expected)" if rejected else ""
    out.print(f"[bold red]{'; '.join(parts)}[/]: see 'cloudphot{workdir_flag(args)} status'{hint}")
    return 1


def status_report(platform: Platform, *, cli: str = "cloudphot") -> dict:
    from ..monitor.fields import field_progress
    from ..monitor.tree import fix_instead_of_retry

    events = list(platform.store.events())
    jobs = platform.store.jobs()
    exposures = list(platform.tables.scan("exposures"))
    by_event = {e.event_id: e for e in events}
    failed = []
    for j in jobs:
        if j.state.value == "FAILED":
            ev = by_event.get(j.event_id)
            failed.append(
                {
                    "job_id": j.job_id,
                    "task": j.task,
                    "event_id": j.event_id,
                    "subject": ev.subject if ev else "",
                    "error": j.error,
                    "reason": describe_error(j.error, j.cause),
                    "attempts": j.attempts,
                    "fix": fix_instead_of_retry(j, ev),
                }
            )
    rejected = [
        {"subject": e.subject, "reason": _rejection_reason(e.payload)}
        for e in events
        if e.type == "exposure.rejected"
    ]
    interruptions = []
    for j in jobs:
        for w in (j.ran_on or {}).get("workers") or []:
            if w.get("interrupted"):
                interruptions.append(
                    {
                        "job_id": j.job_id,
                        "task": j.task,
                        "task_arn": w.get("task_arn"),
                        "capacity_provider": w.get("capacity_provider"),
                        "cpu_seconds_lost": w.get("cpu_seconds") or 0.0,
                    }
                )
    return {
        "workspace": platform.where,
        "events": dict(Counter(e.type for e in events)),
        "undispatched_events": sum(1 for e in events if not e.dispatched_at),
        "jobs": dict(Counter(j.state.value for j in jobs)),
        "exposures": {
            "registered": len(exposures),
            "by_filter": dict(Counter(x.get("filter") for x in exposures)),
            "fields": sorted({x.get("field_id") for x in exposures}),
        },
        "fields": [fp.to_dict() for fp in field_progress(platform, cli=cli)],
        "rejected": rejected,
        "failed_jobs": failed,
        "dead_letters": platform.store.dead_letters(),
        "interruptions": interruptions,
    }


def _rejection_reason(payload: dict) -> str:
    err = payload.get("error") or {}
    return describe_error(err.get("Error"), err.get("Cause"))


def cmd_status(args) -> int:
    report = status_report(open_platform_for(args), cli=_cli(args))
    if args.json:
        from ..cli import print_json

        print_json(report)
        return 0
    from rich.table import Table

    out = console()
    out.print(f"workspace [bold]{report['workspace']}[/bold]")
    t = Table(title="events", show_edge=False)
    t.add_column("type")
    t.add_column("count", justify="right")
    for k, v in sorted(report["events"].items()):
        t.add_row(k, str(v), style="red" if k.endswith("rejected") else None)
    out.print(t)
    t = Table(title="jobs", show_edge=False)
    t.add_column("state")
    t.add_column("count", justify="right")
    for k, v in sorted(report["jobs"].items()):
        t.add_row(f"[{STATE_STYLE.get(k, 'default')}]{k}[/]", str(v))
    out.print(t)
    ex = report["exposures"]
    out.print(
        f"exposures registered: [bold]{ex['registered']}[/bold] "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(ex['by_filter'].items())) or 'none'}); "
        f"fields: {', '.join(ex['fields']) or 'none'}"
    )
    if report["undispatched_events"]:
        out.print(
            f"[cyan]{report['undispatched_events']} event(s) waiting: run "
            f"'cloudphot{workdir_flag(args)} run'[/]"
        )
    print_fields(report["fields"], out)
    for r in report["rejected"]:
        out.print(f"[bold red]rejected[/] {r['subject']}: {short(r['reason'], 300)}")
    for f in report["failed_jobs"]:
        out.print(
            f"[bold red]FAILED[/] {f['task']} job {f['job_id']} ({f['subject']}): "
            f"{short(f['reason'], 300)}\n   "
            + (f"fix: {f['fix']}; then rerun: " if f.get("fix") else "rerun: ")
            + f"cloudphot{workdir_flag(args)} retry {f['event_id']} --task {f['task']}"
        )
    for d in report["dead_letters"]:
        out.print(
            f"[bold red]DEAD LETTER[/] {d['type'] or 'event'} {d['event_id']} ({d['subject']}): "
            f"{d['error']}: {short(d['cause'], 300)} (set aside {d['attempts']}x, last {d['at']})"
            f"\n   take it back: cloudphot{workdir_flag(args)} retry {d['event_id']}"
        )
    if report["interruptions"]:
        lost = sum(i["cpu_seconds_lost"] for i in report["interruptions"])
        out.print(
            f"[magenta]{len(report['interruptions'])} Spot interruption(s)[/], "
            f"{lost:.1f} worker CPU s lost and redone:"
        )
        for i in report["interruptions"]:
            out.print(
                f"   {i['task']} job {i['job_id']}: {i['task_arn']} on {i['capacity_provider']}"
            )
    return 0


def cmd_executions(args) -> int:
    records = open_local(args).executions.list(status=args.status, limit=args.limit)
    if args.json:
        from ..cli import print_json

        print_json([r.__dict__ for r in records])
        return 0
    from rich.table import Table

    t = Table(show_edge=False)
    for col in ("name", "state machine", "status", "started", "duration"):
        t.add_column(col, no_wrap=True)
    for r in records:
        t.add_row(
            r.name,
            r.state_machine.removesuffix("StateMachine"),
            f"[{STATE_STYLE.get(r.status, 'default')}]{r.status}[/]",
            r.start_date.replace("T", " ")[:19],
            _duration(r.start_date, r.stop_date),
        )
    console().print(t)
    return 0


def _clock(timestamp: str) -> str:
    """``2026-11-24T21:39:32.951926+00:00`` -> ``21:39:32.951``: the console's compact form."""
    t = timestamp.replace("T", " ").split(" ")[-1]
    return t[:12]


def _duration(start: str, stop: str | None) -> str:
    from datetime import datetime

    if not stop:
        return "…"
    fmt = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return f"{(fmt(stop) - fmt(start)).total_seconds():.2f} s"


def cmd_history(args) -> int:
    executions = open_local(args).executions
    rec = executions.find(args.execution)
    if rec is None:
        from ..errors import ConfigError

        raise ConfigError(
            f"no execution named {args.execution!r}; list them with "
            f"'cloudphot{workdir_flag(args)} executions'"
        )
    events = executions.history(rec.arn)
    if args.json:
        from ..cli import print_json

        print_json({"execution": rec.__dict__, "events": events})
        return 0
    from rich.table import Table

    out = console()
    out.print(
        f"[bold]{rec.name}[/bold] ({rec.state_machine}): "
        f"[{STATE_STYLE.get(rec.status, 'default')}]{rec.status}[/]"
    )
    t = Table(show_edge=False)
    for col in ("id", "type", "step", "time", "details"):
        t.add_column(col, no_wrap=col != "details")
    step = ""
    for ev in events:
        details: dict = next((v for k, v in ev.items() if k.endswith("EventDetails")), {}) or {}
        step = details.get("name", step if "Task" in ev["type"] or "Map" in ev["type"] else "")
        info = ""
        if "error" in details:
            info = describe_error(details.get("error"), details.get("cause"))
        elif "resource" in details:
            info = f"{details.get('resourceType', '')}:{details['resource']}"
        style = "red" if "Failed" in ev["type"] or "TimedOut" in ev["type"] else None
        t.add_row(
            str(ev["id"]),
            ev["type"],
            step,
            _clock(str(ev["timestamp"])),
            short(info, 200),
            style=style,
        )
    out.print(t)
    if rec.error:
        out.print(f"[bold red]{describe_error(rec.error, rec.cause)}[/]")
    return 0
