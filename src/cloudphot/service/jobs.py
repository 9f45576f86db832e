"""UWS job records and where they are kept (the job-store port and its adapters).

A job is one JSON-able record (:class:`TapJob`); phase changes are conditional
updates (``expect`` the phase the caller saw), so a job aborted while a worker picks
it up, or run twice by two requests, ends in exactly one phase. Locally the records
live in SQLite in the workspace (``service.sqlite``); on AWS in DynamoDB
(:class:`DynamoJobStore`), where each async job is also a Step Functions execution.

Not the pipeline's Tables port: that port's tables are the pipeline's (every
function's environment names each of them), and the service's jobs belong to the
service alone.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConditionFailed, DataError

__all__ = [
    "ACTIVE",
    "FINAL",
    "JobStore",
    "NoSuchJob",
    "SqliteJobStore",
    "TapJob",
    "new_job_id",
    "now_iso",
    "parse_time",
]

#: phases a job leaves by itself, and phases it never leaves
ACTIVE = frozenset({"PENDING", "QUEUED", "EXECUTING"})
FINAL = frozenset({"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"})


class NoSuchJob(DataError):
    """No job (or result) by that id: never created, deleted, or destroyed."""


def now_iso(delta_s: float = 0.0) -> str:
    t = datetime.now(UTC) + timedelta(seconds=delta_s)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """An ISO-8601 instant (a trailing Z, or no zone, means UTC)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def new_job_id() -> str:
    """Unguessable (64 random bits): an anonymous job's URL is its only key."""
    return secrets.token_hex(8)


@dataclass
class TapJob:
    job_id: str
    owner: str | None
    phase: str
    created: str
    execution_duration: int
    destruction: str
    parameters: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    started: str | None = None
    ended: str | None = None
    #: uploaded tables stored with the job: name -> object key
    uploads: dict[str, str] = field(default_factory=dict)
    #: result: {"key", "mime", "size", "rows", "overflow"}
    result: dict[str, Any] | None = None
    error: str | None = None
    #: where it runs on AWS (the Step Functions execution ARN)
    execution: str | None = None

    def to_item(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TapJob:
        known = {k: item[k] for k in cls.__dataclass_fields__ if k in item}
        return cls(**known)


class JobStore(ABC):
    @abstractmethod
    def create(self, job: TapJob) -> None:
        """Store a new job (its id must be new)."""

    @abstractmethod
    def get(self, job_id: str) -> TapJob:
        """The job;   :class:`NoSuchJob` when there is none."""

    @abstractmethod
    def update(self, job_id: str, changes: dict[str, Any], *, expect: str | None = None) -> TapJob:
        """Apply ``changes``; with ``expect``, only if the phase is that now
        (:class:`ConditionFailed` otherwise). Returns the job as stored."""

    @abstractmethod
    def jobs(self, owner: str | None) -> list[TapJob]:
        """Jobs of ``owner`` (None: anonymous jobs), oldest first."""

    @abstractmethod
    def delete(self, job_id: str) -> None:
        """Remove the record (no error if absent)."""

    @abstractmethod
    def all_jobs(self) -> list[TapJob]:
        """Every job (sweeping destroyed jobs, requeueing after a restart)."""

    def count(self, phase: str, owner: str | None = None, *, any_owner: bool = False) -> int:
        jobs = self.all_jobs() if any_owner else self.jobs(owner)
        return sum(1 for j in jobs if j.phase == phase)


class SqliteJobStore(JobStore):
    """Jobs in one SQLite file; one connection per thread, WAL, conditional updates."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        con.execute(
            "CREATE TABLE IF NOT EXISTS tap_jobs (job_id TEXT PRIMARY KEY, owner TEXT, "
            "phase TEXT NOT NULL, created TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        con.execute("CREATE INDEX IF NOT EXISTS tap_jobs_owner ON tap_jobs (owner, created)")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("PRAGMA journal_mode = WAL")
            self._local.con = con
        return con

    def create(self, job: TapJob) -> None:
        try:
            self._con().execute(
                "INSERT INTO tap_jobs VALUES (?, ?, ?, ?, ?)",
                (job.job_id, job.owner, job.phase, job.created, json.dumps(job.to_item())),
            )
        except sqlite3.IntegrityError:
            raise ConditionFailed(f"job {job.job_id} exists") from None

    def get(self, job_id: str) -> TapJob:
        row = self._con().execute("SELECT doc FROM tap_jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise NoSuchJob(f"no job {job_id!r}")
        return TapJob.from_item(json.loads(row[0]))

    def update(self, job_id: str, changes: dict[str, Any], *, expect: str | None = None) -> TapJob:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            job = self.get(job_id)
            if expect is not None and job.phase != expect:
                raise ConditionFailed(f"job {job_id} is {job.phase}, not {expect}")
            item = {**job.to_item(), **changes}
            con.execute(
                "UPDATE tap_jobs SET phase = ?, doc = ? WHERE job_id = ?",
                (item["phase"], json.dumps(item), job_id),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return TapJob.from_item(item)

    def jobs(self, owner: str | None) -> list[TapJob]:
        if owner is None:
            rows = self._con().execute(
                "SELECT doc FROM tap_jobs WHERE owner IS NULL ORDER BY created"
            )
        else:
            rows = self._con().execute(
                "SELECT doc FROM tap_jobs WHERE owner = ? ORDER BY created", (owner,)
            )
        return [TapJob.from_item(json.loads(r[0])) for r in rows]

    def all_jobs(self) -> list[TapJob]:
        rows = self._con().execute("SELECT doc FROM tap_jobs ORDER BY created")
        return [TapJob.from_item(json.loads(r[0])) for r in rows]

    def delete(self, job_id: str) -> None:
        self._con().execute("DELETE FROM tap_jobs WHERE job_id = ?", (job_id,))
