"""The storage a step talks to: settings, object store, tables.

Every step is ``step(event, svc: Services)``; :func:`cloudphot.platform.services`
builds one per process (per Lambda container) from the platform. Locally, the
runtime calls handlers in-process and pins its own settings with
:func:`use_settings`, so several workspaces can coexist in one process (tests).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from ..events.store import EventStore
from ..settings import Settings
from ..storage import ObjectStore, Tables

__all__ = ["Services", "pinned_settings", "use_settings"]

_pinned: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "cloudphot_settings", default=None
)


@dataclass
class Services:
    settings: Settings
    objects: ObjectStore
    tables: Tables

    @property
    def store(self) -> EventStore:
        return EventStore(self.tables)

    def bucket_roles(self) -> dict[str, str]:
        return {physical: logical for logical, physical in self.settings.buckets.items()}


def pinned_settings() -> Settings | None:
    """The settings :func:`use_settings` pinned in this context, if any."""
    return _pinned.get()


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[None]:
    token = _pinned.set(settings)
    try:
        yield
    finally:
        _pinned.reset(token)
