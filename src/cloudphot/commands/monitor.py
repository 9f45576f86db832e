"""``cloudphot tree``: every event and job, with failures standing out."""

from __future__ import annotations

from ._common import (
    STATE_STYLE,
    console,
    describe_error,
    open_platform_for,
    short,
    since_time,
    workdir_flag,
)

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser("tree", help="the event -> job -> event tree; failures stand out")
    p.add_argument("--failed", action="store_true", help="only subtrees with a failure")
    p.add_argument("--subject", help="only subtrees touching this exposure/field/object")
    p.add_argument(
        "--since",
        metavar="WHEN",
        type=since_time,
        help="only roots created at or after WHEN: an ISO date or time (2026-12-03, "
        "2026-12-03T14:00), today, yesterday, or an age such as 2h, 30min, 3d",
    )
    p.add_argument("--all", action="store_true", help="expand succeeded subtrees too")
    p.add_argument("--json", action="store_true", help="the whole tree as JSON")
    p.set_defaults(func=cmd_tree)


def cmd_tree(args) -> int:
    from ..monitor.tree import build_tree, filter_tree

    platform = open_platform_for(args)
    roots = filter_tree(
        build_tree(platform.store.events(), platform.store.jobs()),
        failed=args.failed,
        subject=args.subject,
        since=args.since,
    )
    if args.json:
        from ..cli import print_json

        print_json([r.to_dict() for r in roots])
        return 0
    from rich.tree import Tree

    top = Tree(f"[bold]{platform.where}[/]: {len(roots)} root event(s)")
    collapsed: dict[str, int] = {}
    for r in roots:
        if (
            not args.all
            and not r.has_failure()
            and all(n.state == "SUCCEEDED" for n in r.walk() if n.kind == "job")
        ):
            collapsed[r.label] = collapsed.get(r.label, 0) + 1
            continue
        _add(top, r, args.all)
    for label, n in sorted(collapsed.items()):
        top.add(f"[green]✓ {n} {label} subtree(s), all succeeded[/] (--all to expand)")
    out = console()
    if not roots and args.since:
        top.add(f"[dim]nothing since {args.since}[/]")
    out.print(top)
    from ..monitor.fields import field_progress
    from .pipeline import print_fields

    fields = [
        fp.to_dict()
        for fp in field_progress(platform, cli=f"cloudphot{workdir_flag(args)}")
        if fp.waiting and (not args.subject or args.subject in fp.field_id)
    ]
    print_fields(fields, out)
    return 0


def _add(parent, node, expand_all: bool) -> None:
    if node.kind == "event":
        branch = parent.add(f"[bold]{node.label}[/] {node.subject} [dim]{node.id}[/]")
    else:
        style = STATE_STYLE.get(node.state, "default")
        d = node.detail
        dur = f" {d['duration_s']:.1f}s" if d.get("duration_s") is not None else ""
        branch_of = ""
        if d.get("branch"):
            changed = ", ".join(d.get("changed") or []) or "same options"
            branch_of = f" [magenta]branch {d['branch']}[/] ({changed})"
        text = (
            f"[{style}]{node.state}[/] {node.label}{branch_of} [dim]{node.id}[/] "
            f"attempts={d['attempts']}{dur} [dim]{d.get('where', '')}[/]"
        )
        if d.get("result"):
            text += f"\n{d['result']}"
        if node.failed:
            text += f"\n[bold red]{short(describe_error(d.get('error'), d.get('cause')), 300)}[/]"
            if d.get("fix"):
                text += f"\n[red]fix:[/] {d['fix']}; then rerun: {d.get('rerun')}"
            else:
                text += f"\n[red]rerun:[/] {d.get('rerun')}"
        branch = parent.add(text)
    for c in node.children:
        if (
            not expand_all
            and c.kind == "job"
            and c.state == "SUCCEEDED"
            and not c.has_failure()
            and len(list(c.walk())) > 6
        ):
            counts = c.counts()
            branch.add(
                f"[green]✓ {c.label}[/] and {sum(counts.values()) - 1} job(s) below, all succeeded"
            )
            continue
        _add(branch, c, expand_all)
