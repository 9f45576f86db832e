"""Rerun what an event triggered, from the event itself.

Resetting a job to PENDING is all a rerun needs: the job still holds the input
its executor was started with (the event and the task's options). Events the
earlier attempts emitted have deterministic ids and are stored conditionally, so
completed downstream work is never started again.
"""

from __future__ import annotations

from ..errors import ConditionFailed, ItemNotFound
from .model import Job, JobState
from .store import EventStore

__all__ = ["RETRYABLE_STATES", "reset_for_retry"]

RETRYABLE_STATES = (JobState.FAILED, JobState.ABORTED)


def reset_for_retry(
    store: EventStore,
    *,
    event_id: str | None = None,
    task: str | None = None,
    force: bool = False,
    failed: bool = False,
) -> list[Job]:
    """Put the chosen jobs back to PENDING and return them.

    ``event_id``: the jobs that event triggered (``task`` narrows to one task);
    ``failed``: every failed or aborted job. Without ``force`` only failed or
    aborted jobs are reset; with it, succeeded ones too (never running ones).
    """
    if failed:
        jobs = [j for s in RETRYABLE_STATES for j in store.jobs(s)]
    elif event_id:
        store.event(event_id)  # raises ItemNotFound naming the event
        jobs = store.jobs_for_event(event_id)
    else:
        raise ValueError("give an event id or failed=True")
    if task:
        jobs = [j for j in jobs if j.task == task]
        if not jobs:
            raise ItemNotFound("jobs", {"event_id": event_id, "task": task})
    allowed = RETRYABLE_STATES + ((JobState.SUCCEEDED,) if force else ())
    reset = []
    for job in jobs:
        if job.state not in allowed:
            continue
        try:
            reset.append(
                store.transition(
                    job.job_id, JobState.PENDING, expect=job.state, error=None, cause=None
                )
            )
        except ConditionFailed:
            continue  # someone else moved it meanwhile
    return reset
