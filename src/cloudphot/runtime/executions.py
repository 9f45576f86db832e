"""Local Step Functions bookkeeping: executions and their event history (like the console)."""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..platform.base import ExecutionRecord
from .sqlite_tables import connect_read_only, unwritable

__all__ = ["ExecutionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, state_machine TEXT NOT NULL,
    status TEXT NOT NULL, start_date TEXT NOT NULL, stop_date TEXT,
    input TEXT, output TEXT, error TEXT, cause TEXT, job_id TEXT);
CREATE INDEX IF NOT EXISTS executions_by_name ON executions(name);
CREATE INDEX IF NOT EXISTS executions_by_start ON executions(start_date);
CREATE TABLE IF NOT EXISTS history (
    arn TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, timestamp TEXT NOT NULL,
    event TEXT NOT NULL, PRIMARY KEY (arn, id));
"""


class ExecutionStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if unwritable(path):  # a workspace to look at, not to change
            self._db = connect_read_only(path)
        else:
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, timeout=30, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def started(
        self,
        arn: str,
        name: str,
        state_machine: str,
        start_date: str,
        input: Any,
        job_id: str | None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO executions(arn,name,state_machine,status,start_date,input,job_id)"
                " VALUES (?,?,?,?,?,?,?)",
                (arn, name, state_machine, "RUNNING", start_date, json.dumps(input), job_id),
            )

    def finished(
        self,
        arn: str,
        status: str,
        stop_date: str,
        output: Any,
        error: str | None,
        cause: str | None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE executions SET status=?, stop_date=?, output=?, error=?, cause=? WHERE arn=?",
                (
                    status,
                    stop_date,
                    None if output is None else json.dumps(output),
                    error,
                    cause,
                    arn,
                ),
            )

    def add_event(self, arn: str, event: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO history(arn,id,type,timestamp,event) VALUES (?,?,?,?,?)",
                (
                    arn,
                    int(event["id"]),
                    event["type"],
                    str(event["timestamp"]),
                    json.dumps(event, default=str),
                ),
            )

    def list(
        self, *, status: str | None = None, state_machine: str | None = None, limit: int = 100
    ) -> list[ExecutionRecord]:
        where, args = [], []
        if status:
            where.append("status=?")
            args.append(status.upper())
        if state_machine:
            where.append("state_machine=?")
            args.append(state_machine)
        sql = "SELECT * FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY start_date DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [self._record(r) for r in rows]

    def find(self, name_or_arn: str) -> ExecutionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM executions WHERE arn=? OR name=? ORDER BY start_date DESC LIMIT 1",
                (name_or_arn, name_or_arn),
            ).fetchone()
        return self._record(row) if row else None

    def children(self, job_id: str) -> builtins.list[ExecutionRecord]:
        """The Distributed Map child executions (state machine ``<machine>/<label>``) whose
        input names ``job_id``: the pipeline's ItemSelectors pass it to every child."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM executions WHERE state_machine LIKE '%/%' "
                "AND json_valid(input) AND json_extract(input, '$.job_id') = ? "
                "ORDER BY start_date",
                (job_id,),
            ).fetchall()
        return [self._record(r) for r in rows]

    def history(self, arn: str) -> builtins.list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event FROM history WHERE arn=? ORDER BY id", (arn,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def _record(row) -> ExecutionRecord:
        def _j(v):
            return None if v is None else json.loads(v)

        return ExecutionRecord(
            arn=row[0],
            name=row[1],
            state_machine=row[2],
            status=row[3],
            start_date=row[4],
            stop_date=row[5],
            input=_j(row[6]),
            output=_j(row[7]),
            error=row[8],
            cause=row[9],
            job_id=row[10],
        )
