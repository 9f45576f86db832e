"""Steps run on a schedule rather than by an event (EventBridge Scheduler / rate rules)."""

from __future__ import annotations

from typing import Any

from .reconcile import reconcile_raw_bucket
from .services import Services

__all__ = ["reconcile_step"]


def reconcile_step(event: Any, svc: Services) -> dict:
    """Store the ``object.created`` event of every raw object that has none (lost notifications).

    The scheduled event's content is ignored: every run reconciles the whole raw
    bucket, and event ids are derived from each object's key and ETag, so a run
    that overlaps a late notification (or another run) stores nothing twice.
    """
    emitted = reconcile_raw_bucket(svc)
    return {"emitted": len(emitted), "keys": [e.subject for e in emitted]}
