"""Recovery commands: retry from an event, reconcile lost notifications."""

from __future__ import annotations

from ._common import console, open_local, open_platform_for, refuse_read_only, workdir_flag
from .pipeline import expect_rejections_flag

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser(
        "retry", help="rerun the jobs an event triggered (failed ones, or all with --force)"
    )
    p.add_argument("event_id", nargs="?", help="the event whose jobs to rerun")
    p.add_argument("--task", help="only this task's job")
    p.add_argument("--force", action="store_true", help="rerun succeeded jobs too")
    p.add_argument("--failed", action="store_true", help="rerun every failed or aborted job")
    p.add_argument(
        "--dead-letters",
        action="store_true",
        help="take back every event the dispatcher set aside (see 'cloudphot status')",
    )
    p.add_argument("--no-run", action="store_true", help="only queue the reruns")
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser(
        "replay",
        help="rerun what an event triggered with changed options, "
        "as a new branch (nothing of the original is overwritten)",
    )
    p.add_argument("event_id", help="the event to replay (ids: 'cloudphot status', 'tree --all')")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a changed task option, e.g. photometry.cosmic_sigclip=5 (repeatable)",
    )
    p.add_argument("--task", help="only this task")
    p.add_argument("--branch", help="branch name (default: derived from the settings)")
    p.add_argument(
        "--no-run", action="store_true", help="only queue the jobs; 'cloudphot run' runs them"
    )
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "reconcile", help="emit events for raw-bucket objects whose notification was lost"
    )
    p.add_argument(
        "--no-run", action="store_true", help="only queue the jobs; 'cloudphot run' runs them"
    )
    expect_rejections_flag(p)
    p.set_defaults(func=cmd_reconcile)


def cmd_retry(args) -> int:
    from ..errors import ConfigError
    from ..events.retry import reset_for_retry

    if sum(map(bool, (args.event_id, args.failed, args.dead_letters))) != 1:
        raise ConfigError(
            "give one of EVENT_ID, --failed or --dead-letters "
            f"(failed jobs, dead letters and their events: 'cloudphot{workdir_flag(args)} status')"
        )
    platform = open_platform_for(args)
    refuse_read_only(platform, args)
    store = platform.store
    out = console()
    if args.dead_letters:
        taken = [d["event_id"] for d in store.dead_letters() if store.take_back(d["event_id"])]
    else:
        taken = [args.event_id] if args.event_id and store.take_back(args.event_id) else []
    jobs, still = [], []
    if taken:
        out.print(f"took back {len(taken)} dead-lettered event(s): {', '.join(taken)}")
        platform.runner.dispatch_events(taken)
        still = [d["event_id"] for d in store.dead_letters() if d["event_id"] in taken]
        if still:
            out.print(
                f"[bold red]{len(still)} set aside again[/] (see 'cloudphot{workdir_flag(args)} "
                "status' for the error): " + ", ".join(still)
            )
    elif not args.dead_letters:
        from ..errors import ItemNotFound

        try:
            jobs = reset_for_retry(
                store, event_id=args.event_id, task=args.task, force=args.force, failed=args.failed
            )
        except ItemNotFound:
            raise ConfigError(
                f"no event {args.event_id!r} in this workspace; the failed jobs and the "
                f"command that reruns each: 'cloudphot{workdir_flag(args)} status' "
                f"(or 'cloudphot{workdir_flag(args)} retry --failed')"
            ) from None
    if not jobs and not taken:
        out.print(
            "nothing to rerun (jobs that succeeded are rerun only with --force)"
            if not args.dead_letters
            else "no dead letters"
        )
        return 0
    if jobs:
        out.print(f"queued {len(jobs)} job(s) for rerun: {', '.join(j.job_id for j in jobs)}")
    status = 1 if still else 0  # set aside again: the exit status says so
    if args.no_run:
        return status
    from .pipeline import _drain

    return max(status, _drain(platform, args))


def cmd_replay(args) -> int:
    from ..errors import ConfigError, InvalidEvent, ItemNotFound
    from ..events.replay import parse_settings, replay
    from ..pipeline.options import check_task_options

    def check(task: str, options: dict) -> None:
        try:
            check_task_options(task, options, where=f"--set ({task})")
        except InvalidEvent as exc:
            raise ConfigError(f"nothing replayed: {exc}") from None

    platform = open_local(args)
    refuse_read_only(platform, args)
    try:
        platform.store.event(args.event_id)
    except ItemNotFound:
        raise ConfigError(
            f"no event {args.event_id!r} in this workspace; a field's field.ready event id "
            f"is in 'cloudphot{workdir_flag(args)} tree --all'"
        ) from None
    jobs = replay(
        platform.store,
        platform.runner.ensure_registry(),
        args.event_id,
        parse_settings(args.settings),
        task=args.task,
        branch=args.branch,
        check=check,
    )
    out = console()
    branch = jobs[0].branch
    out.print(
        f"branch [bold]{branch}[/]: {', '.join(j.job_id for j in jobs)} "
        f"(products under branches/{branch}/)"
    )
    status = 0
    if not args.no_run:
        from .pipeline import _drain

        status = _drain(platform, args)
    from ..pipeline.branches import compare_branch

    for line in compare_branch(platform.services, jobs):
        out.print(line)
    return status


def cmd_reconcile(args) -> int:
    from ..pipeline.reconcile import reconcile_raw_bucket

    platform = open_platform_for(args)
    refuse_read_only(platform, args)
    events = reconcile_raw_bucket(platform.services)
    out = console()
    out.print(
        f"{len(events)} object(s) had no event; emitted: "
        + (", ".join(e.subject for e in events) or "none")
    )
    if events and not args.no_run:
        from .pipeline import _drain

        return _drain(platform, args)
    return 0
