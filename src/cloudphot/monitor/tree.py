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

__all__ = ["Node", "build_tree", "filter_tree", "rerun_command"]


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


def _job_node(job: Job, event: Event | None) -> Node:
    first_run = next((t["at"] for t in job.transitions if t.get("state") == "RUNNING"), None)
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
        "duration_s": _seconds(first_run, job.updated_at) if job.state.finished else None,
        "execution": job.execution_id,
        "touched": touched,
        "interruptions": sum(1 for w in workers if w.get("interrupted")),
    }
    if job.state in (JobState.FAILED, JobState.ABORTED):
        detail.update(error=job.error, cause=job.cause, rerun=rerun_command(job, event))
    return Node(
        "job", job.job_id, job.task, job.state.value, event.subject if event else "", detail
    )


def build_tree(events: Iterable[Event], jobs: Iterable[Job]) -> list[Node]:
    events = list(events)
    by_id = {e.event_id: e for e in events}
    jobs_of: dict[str, list[Job]] = defaultdict(list)
    job_ids = set()
    for j in jobs:
        jobs_of[j.event_id].append(j)
        job_ids.add(j.job_id)
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
            jn = _job_node(j, by_id.get(j.event_id))
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
