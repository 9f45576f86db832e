"""The event -> job -> event ... tree, in which a failure stands out.

Events produced by a job name it as their ``source``; jobs name their event.
Roots are events from outside (uploads, reconciliation, operators). Succeeded
subtrees collapse to counts so a run of tens of thousands of jobs stays readable.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events import Event, Job, JobState

__all__ = [
    "Node",
    "build_tree",
    "changed_options",
    "filter_tree",
    "fix_instead_of_retry",
    "rerun_command",
    "result_line",
    "run_seconds",
]


@dataclass
class Node:
    kind: str  # "event" | "job"
    id: str
    label: str  # event type, or task name
    state: str  # events: "EMITTED"; jobs: their state
    subject: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.state in ("FAILED", "ABORTED")

    def walk(self) -> Iterable[Node]:
        yield self
        for c in self.children:
            yield from c.walk()

    def has_failure(self) -> bool:
        return any(n.failed for n in self.walk())

    def counts(self) -> Counter:
        return Counter(n.state for n in self.walk() if n.kind == "job")

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "state": self.state,
            "subject": self.subject,
            "detail": self.detail,
            "children": [c.to_dict() for c in self.children],
        }


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    try:
        f = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
        return max(0.0, (f(b) - f(a)).total_seconds())
    except ValueError:
        return None


def rerun_command(job: Job, event: Event | None = None) -> str:
    return f"cloudphot retry {job.event_id} --task {job.task}"


def _data_errors() -> dict[str, type]:
    from .. import errors

    return {
        c.__name__: c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.DataError)
    }


def fix_instead_of_retry(
    job: Job, event: Event | None = None, current_etag: str | None = None
) -> str | None:
    """What to do when a retry can only fail again: the job failed on its data (a
    refused upload, a field without stars), which a rerun reads unchanged. None when a
    retry may pass: a crash, a timeout, capacity, a bug since fixed, or a refused upload
    whose object has since been replaced (``current_etag`` differs from the event's)."""
    if job.state is not JobState.FAILED or not job.error:
        return None
    cls = _data_errors().get(str(job.error).split(".")[-1])
    if cls is None:
        return None
    from ..errors import InvalidEvent, InvalidExposure, NoStars, NoUsableExposures

    if issubclass(cls, InvalidExposure | InvalidEvent):
        uploaded = (event.payload or {}).get("etag") if event is not None else None
        if current_etag and uploaded and current_etag.strip('"') != str(uploaded).strip('"'):
            return None  # the object was replaced under the same key: a retry reads the new one
        return (
            "the upload itself is refused: upload a corrected file (a retry reads the same "
            "object and fails the same way until it is replaced)"
        )
    if issubclass(cls, NoStars | NoUsableExposures):
        return (
            "the data give no photometry with these options: replay with others "
            f"(cloudphot replay {job.event_id} --set photometry.OPTION=VALUE) or check the "
            "exposures"
        )
    return "the input is refused as it is: fix it and upload it again (a retry reads it unchanged)"


def run_seconds(job: Job) -> float | None:
    """Time the job spent running, summed over its attempts (a retried job's first-to-last
    span counted the waits between attempts: 7.5 min for 0.2 s attempts)."""
    if not job.state.finished:
        return None
    total, start = 0.0, None
    for t in job.transitions:
        if t.get("state") == "RUNNING":
            start = t.get("at")
        elif start is not None:
            total += _seconds(start, t.get("at")) or 0.0
            start = None
    if start is not None:  # the last attempt ended with the job record, not a transition
        total += _seconds(start, job.updated_at) or 0.0
    return total if any(t.get("state") == "RUNNING" for t in job.transitions) else None


def _flatten(options: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(options, dict):
        return {prefix: options}
    out: dict[str, Any] = {}
    for k, v in options.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def changed_options(job: Job, original: Job | None) -> list[str]:
    """A replay branch's options that differ from the job it replays, as --set wrote them
    ('photometry.detect_threshold_sigma=4')."""
    import json

    if not job.branch:
        return []
    mine = _flatten((job.input or {}).get("options") or {})
    theirs = _flatten(((original.input or {}).get("options") or {}) if original else {})
    mine.pop("branch", None)
    theirs.pop("branch", None)
    return [
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
        for k, v in sorted(mine.items())
        if k not in theirs or theirs[k] != v
    ]


def result_line(job: Job) -> str | None:
    """The science result of a succeeded job in words (the output is a JSON document)."""
    out = job.output if isinstance(job.output, dict) else None
    if job.state is not JobState.SUCCEEDED or not out:
        return None
    summary: dict[str, Any] = out["summary"] if isinstance(out.get("summary"), dict) else out
    if "n_stars" in summary:
        filters = ", ".join(summary.get("filters") or [])
        return (
            f"{summary['n_stars']:,} stars, {summary.get('n_measurements', 0):,} measurements"
            f"{' in ' + filters if filters else ''} from {summary.get('n_exposures', '?')} "
            f"exposure(s) of field {summary.get('field_id', '?')}"
        )
    if out.get("outcome") == "published" and "version" in out:
        return f"catalog {out.get('survey', '')} v{out['version']} published"
    if out.get("outcome") == "registered" and out.get("exposure_id"):
        return f"exposure {out['exposure_id']} registered (field {out.get('field_id', '?')})"
    if "ready" in out and out.get("field_id"):
        if out["ready"]:
            return f"field {out['field_id']} ready: {out.get('n_exposures', '?')} exposure(s)"
        waiting = out.get("waiting_for") or []
        if isinstance(waiting, str):  # "manifest"
            return f"field {out['field_id']} waits for its {waiting}"
        return f"field {out['field_id']} waits for {len(waiting)} exposure(s)"
    return None


def _job_node(job: Job, event: Event | None, original: Job | None = None) -> Node:
    ran = job.ran_on or {}
    where = ran.get("runtime", "")
    if ran.get("host"):
        where += f" {ran['host']}:{ran.get('pid', '')}"
    workers = ran.get("workers") or []
    if workers:
        where += f" + {len(workers)} worker(s) on {workers[-1].get('capacity_provider')}"
    touched = []
    if event is not None:
        p = event.payload
        if p.get("bucket") and p.get("key"):
            touched.append(f"s3://{p['bucket']}/{p['key']}")
    detail = {
        "attempts": job.attempts,
        "where": where.strip(),
        "duration_s": run_seconds(job),
        "execution": job.execution_id,
        "touched": touched,
        "interruptions": sum(1 for w in workers if w.get("interrupted")),
    }
    if job.branch:
        detail.update(branch=job.branch, changed=changed_options(job, original))
    result = result_line(job)
    if result:
        detail["result"] = result
    if job.state in (JobState.FAILED, JobState.ABORTED):
        fix = fix_instead_of_retry(job, event)
        detail.update(
            error=job.error,
            cause=job.cause,
            rerun=rerun_command(job, event),
            retryable=fix is None,
        )
        if fix:
            detail["fix"] = fix
    return Node(
        "job", job.job_id, job.task, job.state.value, event.subject if event else "", detail
    )


def build_tree(events: Iterable[Event], jobs: Iterable[Job]) -> list[Node]:
    events = list(events)
    by_id = {e.event_id: e for e in events}
    jobs_of: dict[str, list[Job]] = defaultdict(list)
    job_ids = set()
    main_job: dict[tuple[str, str], Job] = {}  # (event, task) -> the job a branch replays
    for j in jobs:
        jobs_of[j.event_id].append(j)
        job_ids.add(j.job_id)
        if not j.branch:
            main_job[(j.event_id, j.task)] = j
    produced: dict[str, list[Event]] = defaultdict(list)
    roots = []
    for e in sorted(events, key=lambda e: (e.created_at, e.event_id)):
        if e.source in job_ids:
            produced[e.source].append(e)
        else:
            roots.append(e)

    def event_node(e: Event, depth: int = 0) -> Node:
        n = Node(
            "event",
            e.event_id,
            e.type,
            "EMITTED",
            e.subject,
            {"created_at": e.created_at, "source": e.source},
        )
        if depth > 50:  # cycles cannot happen with derived ids; guard anyway
            return n
        for j in sorted(jobs_of.get(e.event_id, []), key=lambda j: j.created_at):
            jn = _job_node(j, by_id.get(j.event_id), main_job.get((j.event_id, j.task)))
            jn.children = [event_node(c, depth + 1) for c in produced.get(j.job_id, [])]
            n.children.append(jn)
        return n

    return [event_node(e) for e in roots]


def filter_tree(
    roots: list[Node], *, failed: bool = False, subject: str | None = None, since: str | None = None
) -> list[Node]:
    """Keep root subtrees that match every filter given."""
    out = []
    for r in roots:
        if failed and not r.has_failure():
            continue
        if subject and not any(subject in n.subject for n in r.walk()):
            continue
        if since and r.detail.get("created_at", "") < since:
            continue
        out.append(r)
    return out
