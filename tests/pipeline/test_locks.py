"""The catalog-build lock (cloudphot.pipeline.locks): serialises builds without Lambda's
reserved concurrency, on the same table port as every other conditional write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cloudphot.errors import InvalidEvent, LockBusy
from cloudphot.pipeline.locks import acquire, handle, release
from cloudphot.runtime.sqlite_tables import SQLiteTables
from cloudphot.settings import Settings

LOCK = "build_catalog/phat_v2"


@pytest.fixture
def tables(tmp_path):
    settings = Settings.from_env(home=tmp_path, env={})
    t = SQLiteTables(settings.tables_path, settings.tables)
    yield t
    t.close()


def test_one_holder_at_a_time_reentrant_and_released(tables):
    t0 = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    got = acquire(tables, LOCK, "job-a", lease_s=600, now=t0)
    assert got["holder"] == "job-a" and got["expires_at"].startswith("2026-12-04T20:10:00")
    with pytest.raises(LockBusy, match="held by job-a"):
        acquire(tables, LOCK, "job-b", now=t0 + timedelta(seconds=30))
    # a retried step of the holder renews its lease
    again = acquire(tables, LOCK, "job-a", lease_s=600, now=t0 + timedelta(seconds=60))
    assert again["expires_at"].startswith("2026-12-04T20:11:00")
    # only the holder frees it
    assert release(tables, LOCK, "job-b") == {"lock_id": LOCK, "released": False}
    assert release(tables, LOCK, "job-a")["released"] is True
    assert acquire(tables, LOCK, "job-b", now=t0 + timedelta(seconds=90))["holder"] == "job-b"


def test_a_dead_holders_lease_expires(tables):
    t0 = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    acquire(tables, LOCK, "aborted-job", lease_s=600, now=t0)
    with pytest.raises(LockBusy):
        acquire(tables, LOCK, "job-b", now=t0 + timedelta(seconds=599))
    assert acquire(tables, LOCK, "job-b", now=t0 + timedelta(seconds=601))["holder"] == "job-b"
    # the aborted job coming back cannot free the lock it lost
    assert release(tables, LOCK, "aborted-job")["released"] is False
    with pytest.raises(LockBusy, match="held by job-b"):
        acquire(tables, LOCK, "job-c", now=t0 + timedelta(seconds=602))


def test_locks_of_different_surveys_are_independent(tables):
    acquire(tables, LOCK, "job-a")
    assert acquire(tables, "build_catalog/other", "job-b")["holder"] == "job-b"


def test_racing_builds_get_the_lock_once(tables):
    """Eight threads ask at once (the local tables are shared SQLite, as DynamoDB is
    shared by concurrent executions): exactly one holds it."""
    won, busy = [], []
    barrier = threading.Barrier(8)

    def take(i):
        barrier.wait()
        try:
            won.append(acquire(tables, LOCK, f"job-{i}")["holder"])
        except LockBusy:
            busy.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(won) == 1 and len(busy) == 7
    assert tables.get("locks", LOCK)["holder"] == won[0]


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"action": "acquire", "lock": "../x", "holder": "j"}, "lock"),
        ({"action": "acquire", "holder": "j"}, "lock"),
        ({"action": "acquire", "lock": "build_catalog"}, "holder"),
        ({"action": "acquire", "lock": "build_catalog", "holder": "j" * 201}, "holder"),
        ({"action": "steal", "lock": "build_catalog", "holder": "j"}, "acquire or release"),
        (
            {"action": "acquire", "lock": "build_catalog", "holder": "j", "lease_seconds": 5},
            "lease",
        ),
        (
            {"action": "acquire", "lock": "build_catalog", "holder": "j", "lease_seconds": "1h"},
            "lease",
        ),
        (["acquire"], "request"),
    ],
)
def test_the_lambda_refuses_malformed_requests_by_field(tables, request_, message):
    with pytest.raises(InvalidEvent, match=message):
        handle(request_, SimpleNamespace(tables=tables, settings=Settings()))
    assert tables.get("locks", LOCK) is None


def test_the_lambda_takes_and_frees(tables):
    svc = SimpleNamespace(tables=tables, settings=Settings())
    assert (
        handle({"action": "acquire", "lock": "build_catalog", "holder": "j1"}, svc)["holder"]
        == "j1"
    )
    with pytest.raises(LockBusy):
        handle({"action": "acquire", "lock": "build_catalog", "holder": "j2"}, svc)
    assert handle({"action": "release", "lock": "build_catalog", "holder": "j1"}, svc)["released"]
