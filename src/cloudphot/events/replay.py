"""Replay as a branch: rerun what an event triggered with changed options.

The new jobs have their own ids (derived from the branch name), their products go
under ``branches/<branch>/`` and nothing of the original is overwritten, so two
reductions of the same field can be compared. Only tasks marked ``branchable`` in
the registry (every product keyed by branch) can be replayed. A branch's
``field.reduced`` carries the branch name and does not enter the published catalog.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..products import branch_for
from ..validate import BRANCH_RE
from .dispatcher import execution_input
from .model import Event, Job, job_id_for
from .registry import Registry
from .store import EventStore

__all__ = ["BRANCH_RE", "parse_settings", "replay"]


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["photometry.cosmic_sigclip=5", "engine=builtin"]`` -> nested options.

    Values are JSON when they parse as JSON (numbers, true/false, lists), else strings.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                f"--set {pair!r}: expected option=value, e.g. photometry.cosmic_sigclip=5"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *path, leaf = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r}: {part!r} is already set to a value")
        node[leaf] = value
    return out


def _merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for k, v in changes.items():
        merged[k] = _merge(merged.get(k) or {}, v) if isinstance(v, dict) else v
    return merged


def _replayable_below(store: EventStore, registry: Registry, event: Event) -> list[Event]:
    """Events caused by ``event`` (through its jobs, any depth) that trigger a replayable
    task: an upload's manifest leads to the field.ready that reduce_field takes."""
    by_source: dict[str, list[Event]] = {}
    for e in store.events():
        by_source.setdefault(e.source, []).append(e)
    found, frontier, seen = [], [event], {event.event_id}
    for _ in range(20):  # derived ids make cycles impossible; bound the walk anyway
        nxt = []
        for e in frontier:
            for job in store.jobs_for_event(e.event_id):
                for child in by_source.get(job.job_id, []):
                    if child.event_id in seen:
                        continue
                    seen.add(child.event_id)
                    nxt.append(child)
                    if any(t.branchable for t in registry.triggered_by(child)):
                        found.append(child)
        if not nxt:
            break
        frontier = nxt
    return found


def replay(
    store: EventStore,
    registry: Registry,
    event_id: str,
    settings: dict[str, Any],
    *,
    task: str | None = None,
    branch: str | None = None,
    check: Callable[[str, dict], None] | None = None,
) -> list[Job]:
    """Create (PENDING) the branch jobs for ``event_id``; replaying twice is a no-op.

    ``check(task, options)`` sees each task's changed options before any job is
    stored, so an unknown or mistyped option is refused then, not when the job runs."""
    event = store.event(event_id)
    tasks = [t for t in registry.triggered_by(event) if task in (None, t.name)]
    if not tasks:
        raise ConfigError(
            f"event {event_id} ({event.type}) triggers no task"
            + (f" named {task!r}" if task else "")
        )
    refused = [t.name for t in tasks if not t.branchable]
    if refused:
        branchable = sorted(t.name for t in registry if t.branchable)
        below = _replayable_below(store, registry, event)
        hint = (
            "; replay the event below it that starts one: "
            + ", ".join(f"cloudphot replay {e.event_id} ({e.type} {e.subject})" for e in below[:3])
            if below
            else ""
        )
        raise ConfigError(
            f"cannot replay {', '.join(refused)} as a branch: its products are not "
            f"all keyed by branch; replayable tasks: {', '.join(branchable) or 'none'}{hint} "
            "(if the registry file changed, run 'cloudphot register')"
        )
    branch = branch_for(settings) if branch is None else branch
    if not BRANCH_RE.match(branch):
        raise ConfigError(f"branch {branch!r}: use 1-40 lower-case letters, digits, '.', '_', '-'")
    merged = {t.name: _merge(t.options, settings) for t in tasks}
    if check is not None:
        for t in tasks:
            check(t.name, merged[t.name])
    jobs = []
    for t in tasks:
        job_id = job_id_for(event.event_id, t.name, branch)
        inp = execution_input(job_id, t, event)
        inp["options"] = {**merged[t.name], "branch": branch}
        inp["replay_of"] = job_id_for(event.event_id, t.name)
        job = Job(
            job_id=job_id,
            event_id=event.event_id,
            task=t.name,
            executor=t.executor.to_dict(),
            input=inp,
            branch=branch,
        )
        if not store.create_job(job):
            job = store.job(job_id)
        jobs.append(job)
    return jobs
