"""What only the SQLite tables promise: the file's layout, and several processes at once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from cloudphot.errors import ConditionFailed, StorageError, Throttled
from cloudphot.runtime import sqlite_tables
from cloudphot.runtime.sqlite_tables import SQLiteTables
from cloudphot.storage.tables import TABLE_SCHEMAS


def test_physical_tables_columns_and_indexes(sqlite_tables, tmp_path):
    con = sqlite3.connect(tmp_path / "tables.sqlite")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert (
            names
            == set(sqlite_tables.names.values())
            == {f"cloudphot-test-{t}" for t in TABLE_SCHEMAS}
        )
        cols = [r[1] for r in con.execute('PRAGMA table_info("cloudphot-test-events")')]
        assert cols == [
            "k",
            "item",
            "ix_by_type_pk",
            "ix_by_type_sk",
            "ix_by_subject_pk",
            "ix_by_subject_sk",
        ]
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {
            "cloudphot-test-events__by_type",
            "cloudphot-test-jobs__by_state",
            "cloudphot-test-exposures__by_field",
        } <= indexes
        # the query uses the index rather than scanning the table
        plan = " ".join(
            r[3]
            for r in con.execute(
                'EXPLAIN QUERY PLAN SELECT item FROM "cloudphot-test-events" '
                "WHERE ix_by_type_pk = ? ORDER BY ix_by_type_sk",
                ("x",),
            )
        )
        assert "cloudphot-test-events__by_type" in plan
    finally:
        con.close()


def test_default_names_are_the_logical_ones(tmp_path):
    with SQLiteTables(tmp_path / "t.sqlite") as tables:
        tables.put("tasks", {"name": "photometry"})
        assert tables.names == {t: t for t in TABLE_SCHEMAS}
    con = sqlite3.connect(tmp_path / "t.sqlite")
    try:
        assert con.execute('SELECT k FROM "tasks"').fetchall() == [("photometry",)]
    finally:
        con.close()


def test_reopening_keeps_the_data(tmp_path):
    with SQLiteTables(tmp_path / "t.sqlite") as tables:
        tables.put("jobs", {"job_id": "j", "state": "DONE", "updated_at": "1"})
    with SQLiteTables(tmp_path / "t.sqlite") as tables:
        assert tables.query("jobs", "by_state", "DONE") == [
            {"job_id": "j", "state": "DONE", "updated_at": "1"}
        ]


def test_an_index_added_to_the_schema_is_backfilled(tmp_path, monkeypatch):
    from cloudphot.storage.tables import TableSchema

    with SQLiteTables(tmp_path / "t.sqlite") as tables:
        tables.put("tasks", {"name": "a", "stage": "ingest", "order": 2})
        tables.put("tasks", {"name": "b", "stage": "ingest", "order": 1})
    schemas = dict(
        TABLE_SCHEMAS, tasks=TableSchema(key="name", indexes={"by_stage": ("stage", "order")})
    )
    monkeypatch.setattr(sqlite_tables, "TABLE_SCHEMAS", schemas)
    monkeypatch.setattr("cloudphot.storage.tables.TABLE_SCHEMAS", schemas)
    with SQLiteTables(tmp_path / "t.sqlite") as tables:
        assert [t["name"] for t in tables.query("tasks", "by_stage", "ingest")] == ["b", "a"]


def test_bad_physical_name_is_refused(tmp_path):
    with pytest.raises(StorageError, match="not usable"):
        SQLiteTables(tmp_path / "t.sqlite", {"events": 'x"; DROP TABLE jobs; --'})


def test_true_is_not_one_in_expectations(sqlite_tables):
    """DynamoDB compares BOOL and N as different types; moto does not, so this is local-only."""
    sqlite_tables.put("jobs", {"job_id": "j", "n": 1, "flag": True})
    with pytest.raises(ConditionFailed):
        sqlite_tables.update("jobs", "j", {"x": 1}, expect={"n": True})
    with pytest.raises(ConditionFailed):
        sqlite_tables.update("jobs", "j", {"x": 1}, expect={"flag": 1})
    assert sqlite_tables.update("jobs", "j", {"x": 1}, expect={"n": 1.0, "flag": True})["x"] == 1


def test_scan_pages_through_many_items(sqlite_tables, monkeypatch):
    monkeypatch.setattr(sqlite_tables_module(), "_SCAN_PAGE", 3)
    for i in range(10):
        sqlite_tables.put("jobs", {"job_id": f"j{i:02d}"})
    seen = []
    for item in sqlite_tables.scan("jobs"):
        seen.append(item["job_id"])
        if item["job_id"] == "j04":
            sqlite_tables.put("jobs", {"job_id": "j04", "touched": True})  # writes while scanning
    assert seen == [f"j{i:02d}" for i in range(10)]


def sqlite_tables_module():
    return sqlite_tables


def test_a_lock_held_too_long_is_throttled(tmp_path):
    path = tmp_path / "t.sqlite"
    with SQLiteTables(path, busy_timeout_s=0.05) as tables:
        tables.put("jobs", {"job_id": "j", "n": 0})
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(Throttled, match="locked"):
                tables.update("jobs", "j", {}, increment={"n": 1})
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert tables.update("jobs", "j", {}, increment={"n": 1})["n"] == 1


def test_several_processes_share_one_file(tmp_path):
    """ECS-worker subprocesses and the runtime write the same file at once."""
    path = tmp_path / "shared.sqlite"
    with SQLiteTables(path) as tables:
        tables.put("jobs", {"job_id": "counter", "n": 0})
    code = (
        "import sys\n"
        "from cloudphot.errors import ConditionFailed\n"
        "from cloudphot.runtime.sqlite_tables import SQLiteTables\n"
        "t = SQLiteTables(sys.argv[1])\n"
        "won = 0\n"
        "for i in range(50):\n"
        "    t.update('jobs', 'counter', {}, increment={'n': 1})\n"
        "    try:\n"
        "        t.put('events', {'event_id': f'e{i}', 'by': sys.argv[2]}, if_absent=True)\n"
        "        won += 1\n"
        "    except ConditionFailed:\n"
        "        pass\n"
        "t.put('tasks', {'name': 'p' + sys.argv[2], 'won': won})\n"
        "t.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(n)], env=env) for n in range(4)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    with SQLiteTables(path) as tables:
        assert tables.get("jobs", "counter")["n"] == 200
        assert len(list(tables.scan("events"))) == 50
        assert sum(t["won"] for t in tables.scan("tasks")) == 50  # each event id won once


def test_threads_each_get_their_own_connection(sqlite_tables):
    import threading

    conns = []

    def grab():
        conns.append(sqlite_tables._conn())

    threads = [threading.Thread(target=grab) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in conns}) == 3 and sqlite_tables._conn() not in conns


def test_a_finished_thread_s_connection_is_closed(sqlite_tables):
    import gc
    import threading

    grabbed = []
    t = threading.Thread(target=lambda: grabbed.append(sqlite_tables._conn()))
    t.start()
    t.join()
    del t
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        grabbed[0].execute("SELECT 1")
    assert sqlite_tables.get("jobs", "x") is None  # this thread's connection is unaffected
