"""Execution history shaped like GetExecutionHistory.

One ``History`` per execution, shared by every Map iteration and Parallel
branch thread, so ``add`` takes a lock: ids stay dense and ordered, and the live
sink sees events in id order. Each thread of control keeps its own ``Lane`` so
``previousEventId`` links an event to the previous event of the same branch.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from .limits import HistoryLimitExceeded

__all__ = ["History", "Lane", "details_key"]


def details_key(event_type: str) -> str:
    """GetExecutionHistory's details field for ``event_type``."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


class Lane:
    """The last event id of one thread of control (the top level, a branch, an iteration)."""

    __slots__ = ("last",)

    def __init__(self, last: int = 0):
        self.last = last


class History:
    """Thread-safe, append-only event list with an optional live sink."""

    def __init__(self, sink: Callable[[dict], None] | None = None, limit: int | None = None):
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self._sink = sink
        self.limit = limit

    def add(
        self,
        lane: Lane,
        event_type: str,
        details: dict[str, Any] | None = None,
        *,
        final: bool = False,
    ) -> dict:
        """Append one event (details may be None for events that carry none).

        Raises HistoryLimitExceeded when the history already holds ``limit`` events,
        except for the execution's ``final`` event.
        """
        with self._lock:
            if self.limit is not None and not final and len(self.events) >= self.limit:
                raise HistoryLimitExceeded(self.limit)
            event: dict[str, Any] = {
                "id": len(self.events) + 1,
                "previousEventId": lane.last,
                "timestamp": _dt.datetime.now(_dt.UTC),
                "type": event_type,
            }
            if details is not None:
                event[details_key(event_type)] = details
            self.events.append(event)
            lane.last = event["id"]
            if self._sink is not None:
                try:
                    self._sink(event)
                except Exception:  # a broken observer must not break the execution
                    logging.getLogger(__name__).exception(
                        "history sink failed on event %d", event["id"]
                    )
        return event
