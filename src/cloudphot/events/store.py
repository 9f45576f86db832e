"""Reading and writing events and jobs in the pipeline tables."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from ..errors import ConditionFailed, InvalidEvent, ItemNotFound
from ..storage.tables import Tables
from .model import Event, Job, JobState, utcnow

__all__ = ["EventStore"]

log = logging.getLogger(__name__)


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
        """Every event that parses; one that does not is skipped here (views must not
        fail on it) and shows in :meth:`dead_letters` once the dispatcher sets it aside."""
        for item in self.tables.scan("events"):
            try:
                yield Event.from_item(item)
            except InvalidEvent as exc:
                log.warning("unreadable event item skipped: %s", exc)

    def undispatched(self) -> list[dict[str, Any]]:
        """Stored items of the events not dispatched yet, oldest first.

        Raw items, not :class:`Event`: one that does not parse must be set aside by
        the dispatcher, not stop every other event from being read.
        """
        return sorted(
            (i for i in self.tables.scan("events") if not i.get("dispatched_at")),
            key=lambda i: (str(i.get("created_at") or ""), str(i.get("event_id"))),
        )

    def mark_dispatched(self, event_id: str) -> None:
        self.tables.update("events", event_id, {"dispatched_at": utcnow()})

    # dead letters ---------------------------------------------------------------
    def set_aside(self, item: dict[str, Any], error: str, cause: str) -> dict[str, Any]:
        """Put an event its dispatch failed on into the dead-letter table, and mark it
        handled so the events after it proceed. Setting it aside again counts attempts."""
        event_id = str(item.get("event_id"))
        now = utcnow()
        attempts = _count(item.get("dead_letter_attempts")) + 1  # kept on the event
        letter = {
            "event_id": event_id,
            "type": str(item.get("type", "")),
            "subject": str(item.get("subject", "")),
            "error": error,
            "cause": cause[:4000],
            "at": now,
            "attempts": attempts,
        }
        self.tables.put("dead_letters", letter)
        self.tables.update(
            "events",
            event_id,
            {"dispatched_at": now, "dead_letter_at": now, "dead_letter_attempts": attempts},
        )
        return letter

    def dead_letters(self) -> list[dict[str, Any]]:
        return sorted(self.tables.scan("dead_letters"), key=lambda d: (d["at"], d["event_id"]))

    def take_back(self, event_id: str) -> bool:
        """Return a dead-lettered event to the dispatcher's queue; False if it is not one."""
        if self.tables.get("dead_letters", event_id) is None:
            return False
        self.tables.update("events", event_id, {"dispatched_at": None, "dead_letter_at": None})
        self.tables.delete("dead_letters", event_id)
        return True

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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
