"""The storage a step talks to, built once per process (per Lambda container) from settings.

Locally, the runtime calls handlers in-process and pins its own settings with
:func:`use_settings`, so several workspaces can coexist in one process (tests).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..events.store import EventStore
from ..settings import Settings
from ..storage import ObjectStore, Tables, open_object_store, open_tables

__all__ = ["Services", "services", "use_settings"]

_pinned: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "cloudphot_settings", default=None
)
_cache: dict[tuple, Services] = {}
_lock = threading.Lock()


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


def services(settings: Settings | None = None) -> Services:
    settings = settings or _pinned.get() or Settings.from_env()
    key = tuple(sorted(settings.as_env().items()))
    with _lock:
        if key not in _cache:
            _cache[key] = Services(settings, open_object_store(settings), open_tables(settings))
        return _cache[key]


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[None]:
    token = _pinned.set(settings)
    try:
        yield
    finally:
        _pinned.reset(token)
