"""Reading and writing events and jobs in the pipeline tables."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

from ..errors import ConditionFailed, ItemNotFound
from ..storage.tables import Tables
from .model import Event, Job, JobState, utcnow

__all__ = ["EventStore"]


class EventStore:
    """Events and jobs over the :class:`~cloudphot.storage.tables.Tables` port."""

    def __init__(self, tables: Tables):
        self.tables = tables

    # events -------------------------------------------------------------------
    def record(self, event: Event) -> bool:
        """Store a new event; False (and nothing written) if its id is already stored."""
        try:
            self.tables.put("events", event.to_item(), if_absent=True)
        except ConditionFailed:
            return False
        return True

    def event(self, event_id: str) -> Event:
        item = self.tables.get("events", event_id)
        if item is None:
            raise ItemNotFound("events", {"event_id": event_id})
        return Event.from_item(item)

    def events(self) -> Iterator[Event]:
        for item in self.tables.scan("events"):
            yield Event.from_item(item)

    def undispatched(self) -> list[Event]:
        return sorted(
            (e for e in self.events() if not e.dispatched_at),
            key=lambda e: (e.created_at, e.event_id),
        )

    def mark_dispatched(self, event_id: str) -> None:
        self.tables.update("events", event_id, {"dispatched_at": utcnow()})

    # jobs ---------------------------------------------------------------------
    def create_job(self, job: Job) -> bool:
        try:
            self.tables.put("jobs", job.to_item(), if_absent=True)
        except ConditionFailed:
            return False
        return True

    def job(self, job_id: str) -> Job:
        item = self.tables.get("jobs", job_id)
        if item is None:
            raise ItemNotFound("jobs", {"job_id": job_id})
        return Job.from_item(item)

    def jobs(self, state: JobState | None = None) -> list[Job]:
        if state is None:
            items = list(self.tables.scan("jobs"))
        else:
            items = self.tables.query("jobs", "by_state", state.value)
        return sorted((Job.from_item(i) for i in items), key=lambda j: (j.created_at, j.job_id))

    def jobs_for_event(self, event_id: str) -> list[Job]:
        return [Job.from_item(i) for i in self.tables.query("jobs", "by_event", event_id)]

    def transition(
        self, job_id: str, state: JobState, *, expect: JobState | None = None, **fields: Any
    ) -> Job:
        """Move a job to ``state`` and log the change with its time and where it happened.

        ``expect`` makes the move conditional (raises ConditionFailed when the job is
        not in that state), which is how two runners never both start one job.
        """
        job = self.job(job_id)
        now = utcnow()
        change = {"state": state.value, "at": now, "host": socket.gethostname(), "pid": os.getpid()}
        for k in ("error", "execution_id", "attempt"):
            if fields.get(k) is not None:
                change[k] = fields[k]
        changes: dict[str, Any] = {
            "state": state.value,
            "updated_at": now,
            "transitions": [*job.transitions, change],
        }
        for k, v in fields.items():
            if k == "attempt":
                continue
            if k == "output" and v is not None and not isinstance(v, str):
                import json

                v = json.dumps(v, sort_keys=True)
            changes[k] = v
        item = self.tables.update(
            "jobs", job_id, changes, expect={"state": expect.value} if expect else None
        )
        return Job.from_item(item)
