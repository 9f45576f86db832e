"""Leased locks in the ``locks`` table: one catalog build per survey at a time.

A survey's catalog build reads the latest version and writes the next one, so two
builds at once would both write version N+1. Lambda's reserved concurrency used to
serialise them, but it fails deploys in accounts whose concurrency quota is low (new
accounts: 10) and throttles rather than queues. The build_catalog state machine takes
this lock instead (``AcquireLock``), and a busy lock fails the step with
:class:`LockBusy`, which its Retry waits out.

The lock is a DynamoDB item ``{lock_id, holder, expires_at}`` written only with
conditions (the table port's compare-and-swap): free when absent, re-entrant for
its holder (a retried step), and taken over when its lease has expired (an execution
that was aborted and never released it). Only equality conditions are used, so the
same code holds on DynamoDB and on the local SQLite tables.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..errors import ConditionFailed, InvalidEvent, LockBusy
from ..storage import Tables
from ..validate import integer, mapping, text
from .services import Services

__all__ = ["DEFAULT_LEASE_S", "LockBusy", "acquire", "handle", "release"]

#: a build's lease: longer than the build task's timeout, so only a dead holder expires
DEFAULT_LEASE_S = 4 * 3600
_TABLE = "locks"
_LOCK_ID_RE = re.compile(r"^[a-z_]+/[a-z][a-z0-9_]{0,63}$")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def acquire(
    tables: Tables,
    lock_id: str,
    holder: str,
    *,
    lease_s: int = DEFAULT_LEASE_S,
    now: datetime | None = None,
) -> dict:
    """Take ``lock_id`` for ``holder`` (or renew it); raise :class:`LockBusy` if held."""
    now = now or datetime.now(UTC)
    item = {
        "lock_id": lock_id,
        "holder": holder,
        "expires_at": _iso(now + timedelta(seconds=lease_s)),
    }
    for _ in range(3):  # a lost race re-reads the item once or twice
        current = tables.get(_TABLE, lock_id)
        try:
            if current is None:
                tables.put(_TABLE, item, if_absent=True)
            elif current.get("holder") == holder or str(current.get("expires_at", "")) < _iso(now):
                # ours, or a dead holder's: swap only if nobody changed it meanwhile
                tables.update(
                    _TABLE,
                    lock_id,
                    {"holder": holder, "expires_at": item["expires_at"]},
                    expect={
                        "holder": current.get("holder"),
                        "expires_at": current.get("expires_at"),
                    },
                )
            else:
                raise LockBusy(
                    f"{lock_id} is held by {current.get('holder')} until {current.get('expires_at')}"
                )
        except ConditionFailed:
            continue
        return {"lock_id": lock_id, "holder": holder, "expires_at": item["expires_at"]}
    raise LockBusy(f"{lock_id} changed hands while {holder} tried to take it")


def release(tables: Tables, lock_id: str, holder: str) -> dict:
    """Free ``lock_id`` if ``holder`` has it (a no-op otherwise: never free another's)."""
    current = tables.get(_TABLE, lock_id)
    if current is None or current.get("holder") != holder:
        return {"lock_id": lock_id, "released": False}
    try:
        # expire it rather than delete it: the swap is conditional, a delete would not be
        tables.update(
            _TABLE,
            lock_id,
            {"holder": "", "expires_at": ""},
            expect={"holder": holder, "expires_at": current.get("expires_at")},
        )
    except ConditionFailed:
        return {"lock_id": lock_id, "released": False}
    return {"lock_id": lock_id, "released": True}


def handle(request: dict, svc: Services) -> dict:
    """The CatalogLock Lambda: ``{"action": "acquire"|"release", "lock", "holder"}``; the
    lock is ``<lock>/<survey>`` of the deployed survey (CLOUDPHOT_SURVEY)."""
    request = mapping(request, "request")
    lock = text(request, "lock", where="request", max_len=64)
    lock_id = f"{lock}/{svc.settings.survey}"
    if not _LOCK_ID_RE.match(lock_id):
        raise InvalidEvent(f"request.lock {lock!r:.80} is not a lock name (a-z and _)")
    holder = text(request, "holder", where="request", max_len=200)
    action = request.get("action")
    if action == "acquire":
        lease = integer(
            request, "lease_seconds", where="request", default=DEFAULT_LEASE_S, lo=60, hi=86400
        )
        return acquire(svc.tables, lock_id, holder, lease_s=lease)
    if action == "release":
        return release(svc.tables, lock_id, holder)
    raise InvalidEvent(f"request.action must be acquire or release, got {action!r:.40}")
