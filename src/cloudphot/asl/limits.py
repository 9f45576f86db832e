"""Step Functions service quotas the interpreter enforces, with AWS's error names.

Sources: the Step Functions developer guide's "Service quotas" page (256 KiB of
UTF-8 per state input, output and result; 25,000 events per standard execution
history) and its "Handling errors" page (``States.DataLimitExceeded``); the causes
are the ones AWS recorded (``docs/asl-conformance.md``, area *limits*).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import StatesError

__all__ = [
    "HISTORY_LIMIT_EVENTS",
    "PAYLOAD_LIMIT_BYTES",
    "HistoryLimitExceeded",
    "check_payload",
    "data_limit_error",
    "payload_bytes",
]

PAYLOAD_LIMIT_BYTES = 256 * 1024
HISTORY_LIMIT_EVENTS = 25_000


class HistoryLimitExceeded(Exception):
    """Internal: the execution history reached its quota; the execution fails."""

    error = "States.Runtime"

    def __init__(self, limit: int):
        self.limit = limit
        self.cause = (
            f"The execution reached the maximum number of history events ({limit}). "
            "Use a Distributed Map or child executions for work that grows with the data."
        )
        super().__init__(self.cause)


def payload_bytes(text: str) -> int:
    """UTF-8 size of a serialised payload (the measure the quota uses)."""
    if len(text) * 4 <= PAYLOAD_LIMIT_BYTES:  # cannot exceed: skip the encode
        return len(text)
    return len(text.encode("utf-8"))


def data_limit_error(who: str, *, catchable_by_all: bool) -> StatesError:
    """``States.DataLimitExceeded`` naming ``who`` as AWS's causes do."""
    err = StatesError(
        "States.DataLimitExceeded",
        f"The state/task '{who}' returned a result with a size exceeding the maximum "
        "number of bytes service limit.",
    )
    err.catchable_by_all = catchable_by_all
    return err


def check_payload(
    value: Any, who: str, *, text: str | None = None, catchable_by_all: bool = False
) -> None:
    """Raise ``States.DataLimitExceeded`` when ``value`` is over 256 KiB as JSON."""
    if text is None:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if payload_bytes(text) > PAYLOAD_LIMIT_BYTES:
        raise data_limit_error(who, catchable_by_all=catchable_by_all)
