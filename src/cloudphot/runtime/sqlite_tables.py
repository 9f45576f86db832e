"""The pipeline tables on one machine: one SQLite file, shared by threads and processes.

Each logical table is one SQL table: the key, the item as JSON, and for every
secondary index of :data:`~cloudphot.storage.tables.TABLE_SCHEMAS` a partition
and a sort column with an SQL index on them. The columns are NULL when the item
lacks an index attribute, so the item is absent from that index, as in a
DynamoDB GSI.

The file is in WAL mode (readers never block the writer) with a busy timeout;
each thread (and each forked process) gets its own connection. Conditional
writes run inside ``BEGIN IMMEDIATE``, which takes the write lock before
reading, so of 16 racing ``put(if_absent=True)`` exactly one wins and 16 racing
increments sum to 16, whichever process they come from. A lock still held after
the busy timeout is raised as :class:`~cloudphot.errors.Throttled`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

from ..errors import ConditionFailed, ItemNotFound, StorageError, Throttled
from ..storage.items import (
    check_item,
    check_key,
    check_query,
    check_update,
    index_values,
    same_value,
)
from ..storage.tables import TABLE_SCHEMAS, Tables

__all__ = ["SQLiteTables"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")
_SCAN_PAGE = 500


def _q(name: str) -> str:
    """Quote an SQL identifier (names are validated, so this is belt and braces)."""
    return '"' + name.replace('"', '""') + '"'


def unwritable(path: Path) -> bool:
    """An existing database file we may not change (or whose folder we may not write in,
    where SQLite keeps its journal)."""
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def connect_read_only(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A read-only connection to an existing database in a folder we may not write.

    ``mode=ro`` still needs the WAL's shared-memory file; when it cannot be created
    (the folder is read-only) the file is opened ``immutable``: no locks, which is
    right for a workspace nobody here can change."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(
            uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )


class _Connection:
    """One thread's connection; closed when its thread ends (the thread-local dies).

    Never closed in a forked child: the connection belongs to the parent.
    """

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.pid = conn, os.getpid()

    def close(self) -> None:
        if self.pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()

    def __del__(self) -> None:
        self.close()


def _cols(index: str) -> tuple[str, str]:
    return f"ix_{index}_pk", f"ix_{index}_sk"


class SQLiteTables(Tables):
    """Tables in the SQLite file ``path``; ``names`` maps logical to physical table names."""

    def __init__(
        self,
        path: str | os.PathLike,
        names: dict[str, str] | None = None,
        *,
        busy_timeout_s: float = 30.0,
    ):
        self.path = Path(path).expanduser().absolute()
        self.names = {logical: (names or {}).get(logical, logical) for logical in TABLE_SCHEMAS}
        for logical, physical in self.names.items():
            if not _NAME_RE.match(physical):
                raise StorageError(
                    f"table name {physical!r} (for {logical!r}) is not usable in "
                    "SQLite: letters, digits, '_', '.', '-', starting with a letter"
                )
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.read_only = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of {self.path}: {exc}") from exc
        try:
            self._create_tables()
        except StorageError:
            if not unwritable(self.path):
                raise
            # a workspace we may look at but not change (a colleague's, a read-only
            # mount): reading commands work, a write says why it cannot
            self.close()
            self.read_only = True

    def __repr__(self) -> str:
        return f"SQLiteTables({str(self.path)!r})"

    # connections -----------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        holder = getattr(self._local, "holder", None)
        if holder is not None and holder.pid == os.getpid():
            return holder.conn
        # first use in this thread, or in a forked child (never reuse the parent's)
        try:
            if self.read_only:
                conn = connect_read_only(self.path, timeout=self.busy_timeout_s)
            else:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        self._local.holder = holder = _Connection(conn)
        with self._lock:
            self._all.add(holder)
        return conn

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            holders, self._all = list(self._all), weakref.WeakSet()
        for holder in holders:
            holder.close()
        self._local = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _error(self, exc: sqlite3.Error, action: str, table: str | None = None) -> Exception:
        where = f"table {table!r} in {self.path}" if table else str(self.path)
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
            return Throttled(
                f"cannot {action} {where}: still locked after {self.busy_timeout_s:g} s ({exc})"
            )
        if self.read_only and action != "read":
            return StorageError(
                f"cannot {action} {where}: the workspace is read-only for you (it was "
                "opened for reading); use a workspace you can write (--workdir)"
            )
        return StorageError(f"cannot {action} {where}: {exc}")

    # schema ----------------------------------------------------------------
    def _create_tables(self) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for logical, schema in TABLE_SCHEMAS.items():
                    physical = self.names[logical]
                    cols = ["k TEXT PRIMARY KEY NOT NULL", "item TEXT NOT NULL"]
                    for index in schema.indexes:
                        cols += [f"{_q(c)}" for c in _cols(index)]
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {_q(physical)} ({', '.join(cols)})")
                    have = {row[1] for row in conn.execute(f"PRAGMA table_info({_q(physical)})")}
                    added = False
                    for index in schema.indexes:
                        for col in _cols(index):
                            if col not in have:  # an index added to the schema since
                                conn.execute(f"ALTER TABLE {_q(physical)} ADD COLUMN {_q(col)}")
                                added = True
                        pk, sk = _cols(index)
                        conn.execute(
                            f"CREATE INDEX IF NOT EXISTS {_q(physical + '__' + index)} "
                            f"ON {_q(physical)} ({_q(pk)}, {_q(sk)})"
                        )
                    if added:
                        self._reindex(conn, logical)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc, "create the tables in") from exc

    def _reindex(self, conn: sqlite3.Connection, table: str) -> None:
        physical = self.names[table]
        for _k, text in conn.execute(f"SELECT k, item FROM {_q(physical)}").fetchall():
            self._write(conn, table, json.loads(text), replace=True)

    def _physical(self, table: str) -> str:
        self.schema(table)  # ConfigError for unknown logical names
        return self.names[table]

    # writing ---------------------------------------------------------------
    def _write(
        self, conn: sqlite3.Connection, table: str, item: dict[str, Any], *, replace: bool
    ) -> None:
        schema = self.schema(table)
        cols, values = ["k", "item"], [item[schema.key], json.dumps(item, allow_nan=False)]
        for index, kv in index_values(table, schema, item).items():
            cols += _cols(index)
            values += list(kv) if kv is not None else [None, None]
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        conn.execute(
            f"{verb} INTO {_q(self.names[table])} ({', '.join(map(_q, cols))}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            values,
        )

    def put(self, table: str, item: dict[str, Any], *, if_absent: bool = False) -> None:
        physical = self._physical(table)
        item = check_item(physical, self.schema(table), item)
        conn = self._conn()
        try:
            self._write(conn, table, item, replace=not if_absent)
        except sqlite3.IntegrityError as exc:
            raise ConditionFailed(
                f"table {physical!r}: an item with {self.schema(table).key}="
                f"{item[self.schema(table).key]!r} already exists"
            ) from exc
        except sqlite3.Error as exc:
            raise self._error(exc, "put into", physical) from exc

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        increment: dict[str, int | float] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        physical = self._physical(table)
        schema = self.schema(table)
        changes, increment, expect = check_update(physical, schema, key, changes, increment, expect)
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    f"SELECT item FROM {_q(physical)} WHERE k = ?", (key,)
                ).fetchone()
                if row is None:
                    raise ItemNotFound(physical, {schema.key: key})
                item = json.loads(row[0])
                for name, want in expect.items():
                    if want is None:
                        if name in item:
                            raise ConditionFailed(
                                f"table {physical!r}, item {key!r}: expected "
                                f"{name!r} absent, found {item[name]!r}"
                            )
                    elif name not in item or not same_value(item[name], want):
                        found = item.get(name, "<absent>")
                        raise ConditionFailed(
                            f"table {physical!r}, item {key!r}: expected "
                            f"{name}={want!r}, found {found!r}"
                        )
                item.update(changes)
                for name, delta in increment.items():
                    current = item.get(name, 0)
                    if isinstance(current, bool) or not isinstance(current, (int, float)):
                        raise StorageError(
                            f"table {physical!r}, item {key!r}: cannot increment "
                            f"{name!r}, it holds {current!r}"
                        )
                    item[name] = current + delta
                item = check_item(physical, schema, item)
                self._write(conn, table, item, replace=True)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc, "update", physical) from exc
        return item

    def delete(self, table: str, key: str) -> None:
        physical = self._physical(table)
        try:
            self._conn().execute(f"DELETE FROM {_q(physical)} WHERE k = ?", (key,))
        except sqlite3.Error as exc:
            raise self._error(exc, "delete from", physical) from exc

    # reading ---------------------------------------------------------------
    def get(self, table: str, key: str) -> dict[str, Any] | None:
        physical = self._physical(table)
        check_key(physical, self.schema(table), key)
        try:
            row = (
                self._conn()
                .execute(f"SELECT item FROM {_q(physical)} WHERE k = ?", (key,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "get from", physical) from exc
        return None if row is None else json.loads(row[0])

    def query(
        self,
        table: str,
        index: str,
        value: Any,
        *,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        physical = self._physical(table)
        schema = self.schema(table)
        check_query(physical, schema, index, value, limit)
        pk, sk = _cols(index)
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT item FROM {_q(physical)} WHERE {_q(pk)} = ? "
            f"ORDER BY {_q(sk)} {order}, k {order}"
        )
        params: list[Any] = [value]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        try:
            rows = self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, f"query index {index!r} of", physical) from exc
        return [json.loads(r[0]) for r in rows]

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every item, in pages by key, so no read transaction stays open between yields."""
        physical = self._physical(table)
        after = ""
        while True:
            try:
                rows = (
                    self._conn()
                    .execute(
                        f"SELECT k, item FROM {_q(physical)} WHERE k > ? ORDER BY k LIMIT ?",
                        (after, _SCAN_PAGE),
                    )
                    .fetchall()
                )
            except sqlite3.Error as exc:
                raise self._error(exc, "scan", physical) from exc
            for _k, text in rows:
                yield json.loads(text)
            if len(rows) < _SCAN_PAGE:
                return
            after = rows[-1][0]
