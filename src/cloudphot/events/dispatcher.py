"""One dispatcher for both worlds: a new event becomes one job per matching task.

On AWS it runs in the dispatch Lambda (DynamoDB stream of the events table) with a
Step Functions starter; locally the runtime calls it with a starter that leaves
jobs PENDING for its own queue. Job ids are deterministic and written
conditionally, so a replayed stream record or duplicate event never starts a job twice.

An event whose dispatch fails for a reason a retry cannot fix (a payload that is
not JSON, a task condition it cannot be evaluated on) is a *poison event*: it is
set aside in the dead-letter table with its error (:meth:`Dispatcher.dispatch_item`)
and everything after it proceeds, as AWS's retry, bisect and dead-letter queue do
on the stream. ``cloudphot retry EVENT_ID`` takes it back.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..errors import CloudphotError, ConditionFailed, TransientError
from .model import Event, Job, JobState, job_id_for, utcnow
from .registry import Registry, Task
from .store import EventStore

__all__ = ["Dispatcher", "JobStarter", "error_name", "execution_input"]

log = logging.getLogger(__name__)

#: a start claim older than this is taken to belong to a dispatcher that crashed
START_CLAIM_TIMEOUT = timedelta(minutes=15)


class JobStarter(Protocol):
    def start(self, job: Job) -> str | None:
        """Start the job's executor; return the execution id, or None when the job is
        left PENDING for a queue to pick up (local mode)."""


def execution_input(job_id: str, task: Task, event: Event) -> dict:
    """What a task's state machine receives: ids and the event, never bulk data."""
    return {
        "job_id": job_id,
        "task": task.name,
        "event": event.as_input(),
        "options": dict(task.options),
    }


def error_name(exc: BaseException) -> str:
    """The name an error is reported under: Step Functions' for ASL errors, else the class."""
    if isinstance(exc, CloudphotError):
        return exc.error_name
    name = getattr(exc, "error", None)
    return name if isinstance(name, str) and name else type(exc).__name__


class Dispatcher:
    def __init__(self, store: EventStore, registry: Registry, starter: JobStarter):
        self.store, self.registry, self.starter = store, registry, starter

    def dispatch_stored(self, event_ids: list[str]) -> list[Job]:
        """Dispatch these stored events now (dead letters taken back); returns their jobs."""
        jobs = []
        for event_id in event_ids:
            item = self.store.tables.get("events", event_id)
            if item is not None:
                jobs += self.dispatch_item(item)
        return jobs

    def dispatch_item(self, item: dict) -> list[Job]:
        """Dispatch one stored event item; a poison event is set aside, never raised.

        Transient errors (throttling) propagate: retrying them is the caller's (the
        stream's, the runtime's) job. Any other failure, including one of ours, is
        recorded in the dead-letter table with its error name and message.
        """
        try:
            return self.dispatch(Event.from_item(item))
        except TransientError:
            raise
        except Exception as exc:
            cause = getattr(exc, "cause", None) or str(exc) or repr(exc)
            letter = self.store.set_aside(item, error_name(exc), str(cause))
            log.warning(
                "event %s set aside (dead letter, attempt %d): %s: %s",
                letter["event_id"],
                letter["attempts"],
                letter["error"],
                letter["cause"][:300],
            )
            return []

    def _claim_start(self, job_id: str) -> bool:
        item = self.store.tables.get("jobs", job_id) or {}
        current = item.get("start_claim")
        if current:
            claimed_at = datetime.fromisoformat(current.split("|")[0].replace("Z", "+00:00"))
            if datetime.now(UTC) - claimed_at < START_CLAIM_TIMEOUT:
                return False
        try:
            self.store.tables.update(
                "jobs",
                job_id,
                {"start_claim": f"{utcnow()}|{uuid.uuid4().hex[:12]}"},
                expect={"start_claim": current},
            )
        except ConditionFailed:
            return False
        return True

    def dispatch(self, event: Event) -> list[Job]:
        """Create and start the jobs ``event`` triggers; returns the jobs started now."""
        started = []
        for task in self.registry.triggered_by(event):
            job_id = job_id_for(event.event_id, task.name)
            job = Job(
                job_id=job_id,
                event_id=event.event_id,
                task=task.name,
                executor=task.executor.to_dict(),
                input=execution_input(job_id, task, event),
            )
            if not self.store.create_job(job):
                existing = self.store.job(job_id)
                if existing.state is not JobState.PENDING or existing.execution_id:
                    log.info(
                        "job %s exists (%s); duplicate event delivery ignored",
                        job_id,
                        existing.state.value,
                    )
                    continue
                job = existing
            # Exactly one dispatcher starts a job: the one that wins this conditional
            # write. A duplicate delivery racing the creator loses it; a claim left by a
            # dispatcher that crashed before starting the job goes stale and is retaken.
            if not self._claim_start(job_id):
                log.info("job %s is being started by another dispatcher", job_id)
                continue
            try:
                execution_id = self.starter.start(job)
            except BaseException:
                # released (an empty claim), so a redelivery can start it
                self.store.tables.update("jobs", job_id, {"start_claim": ""})
                raise
            if execution_id:
                job = self.store.transition(
                    job_id,
                    JobState.RUNNING,
                    execution_id=execution_id,
                    attempts=job.attempts + 1,
                    attempt=job.attempts + 1,
                )
            started.append(job)
        self.store.mark_dispatched(event.event_id)
        return started
