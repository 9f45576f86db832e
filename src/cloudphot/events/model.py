"""Events and jobs as stored in the pipeline tables."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import InvalidEvent

__all__ = ["Event", "Job", "JobState", "event_id_for_object", "job_id_for", "utcnow"]


def utcnow() -> str:
    """ISO-8601 UTC with milliseconds, the format Step Functions uses for timestamps."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digest(*parts: str, n: int = 20) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


def event_id_for_object(bucket: str, key: str, etag: str, version_id: str | None = None) -> str:
    """Id of the event announcing an object: the same object content always gets the
    same id, so at-least-once S3 notifications dedupe themselves.

    Keyed on bucket, key and ETag only. The version id (kept in the event's payload)
    is deliberately not part of it: bucket listings, which reconciliation compares
    with the events table, do not carry it, and a re-upload of identical bytes needs
    no new work.
    """
    del version_id
    return "obj-" + _digest(bucket, key, etag)


def job_id_for(event_id: str, task: str, branch: str | None = None) -> str:
    """Deterministic job id (also the Step Functions execution name: <= 80 chars, [A-Za-z0-9-_])."""
    tail = _digest(event_id, task, branch or "", n=16)
    return f"{task[:40]}-{tail}".replace(".", "-")


class JobState(StrEnum):
    """One state vocabulary, shared by the CLI, the web view and AWS."""

    PENDING = "PENDING"  # created, not yet started
    RUNNING = "RUNNING"  # an execution is under way
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # the execution failed (see error/cause)
    ABORTED = "ABORTED"  # stopped by an operator or the runtime

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.ABORTED)


@dataclass
class Event:
    """Something that happened, with all that the tasks it triggers need to run."""

    event_id: str
    type: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "s3", "cli", or the id of the job that produced it
    created_at: str = field(default_factory=utcnow)
    dispatched_at: str | None = None

    def to_item(self) -> dict[str, Any]:
        # payload is stored as a JSON string: state machines write events with
        # direct DynamoDB integrations, where States.JsonToString is the natural form.
        item = {
            "event_id": self.event_id,
            "type": self.type,
            "subject": self.subject,
            "payload": json.dumps(self.payload, sort_keys=True),
            "source": self.source,
            "created_at": self.created_at,
        }
        if self.dispatched_at:
            item["dispatched_at"] = self.dispatched_at
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Event:
        try:
            payload = item.get("payload") or {}
            if isinstance(payload, str):
                payload = json.loads(payload)
            if not isinstance(payload, dict):
                raise InvalidEvent(f"event {item.get('event_id')!r}: payload is not an object")
            return cls(
                event_id=str(item["event_id"]),
                type=str(item["type"]),
                subject=str(item.get("subject", "")),
                payload=payload,
                source=str(item.get("source", "")),
                created_at=str(item.get("created_at") or utcnow()),
                dispatched_at=item.get("dispatched_at"),
            )
        except KeyError as exc:
            raise InvalidEvent(f"event item lacks field {exc.args[0]!r}: {item!r:.200}") from None
        except json.JSONDecodeError as exc:
            raise InvalidEvent(
                f"event {item.get('event_id')!r}: payload is not JSON ({exc})"
            ) from None

    def as_input(self) -> dict[str, Any]:
        """The event as state machines see it (payload decoded)."""
        return {
            "event_id": self.event_id,
            "type": self.type,
            "subject": self.subject,
            "payload": self.payload,
            "source": self.source,
            "created_at": self.created_at,
        }


@dataclass
class Job:
    """One run of one task for one event: the unit of work, retry and monitoring."""

    job_id: str
    event_id: str
    task: str
    executor: dict[str, Any]
    input: dict[str, Any]
    state: JobState = JobState.PENDING
    attempts: int = 0
    created_at: str = field(default_factory=utcnow)
    updated_at: str = field(default_factory=utcnow)
    execution_id: str | None = None
    error: str | None = None
    cause: str | None = None
    output: Any = None
    ran_on: dict[str, Any] | None = None
    branch: str | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def to_item(self) -> dict[str, Any]:
        item = {
            "job_id": self.job_id,
            "event_id": self.event_id,
            "task": self.task,
            "executor": self.executor,
            "input": json.dumps(self.input, sort_keys=True),
            "state": self.state.value,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "transitions": self.transitions,
        }
        for name in ("execution_id", "error", "cause", "ran_on", "branch"):
            if getattr(self, name) is not None:
                item[name] = getattr(self, name)
        if self.output is not None:
            item["output"] = json.dumps(self.output, sort_keys=True)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        def _json(v):
            return json.loads(v) if isinstance(v, str) else v

        return cls(
            job_id=item["job_id"],
            event_id=item["event_id"],
            task=item["task"],
            executor=item.get("executor") or {},
            input=_json(item.get("input")) or {},
            state=JobState(item.get("state", "PENDING")),
            attempts=int(item.get("attempts", 0)),
            created_at=item.get("created_at", ""),
            updated_at=item.get("updated_at", ""),
            execution_id=item.get("execution_id"),
            error=item.get("error"),
            cause=item.get("cause"),
            output=_json(item.get("output")),
            ran_on=item.get("ran_on"),
            branch=item.get("branch"),
            transitions=list(item.get("transitions") or []),
        )
