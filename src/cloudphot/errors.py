"""One rooted exception hierarchy.

Class names are the error names the state machines see: a Lambda handler that
raises ``InvalidExposure`` fails its Task with Error ``InvalidExposure``, and the
ASL ``Retry``/``Catch`` rules in ``statemachines/`` match on those names. So the
split that matters is by *what to do about it*:

- ``DataError``: the input is wrong. Never retried blindly; surfaced with its cause.
- ``TransientError``: infrastructure hiccup (throttling, 5xx, lost connection). Retry with backoff.
- ``SpotInterrupted``: the worker was reclaimed. Retry, without spending the task's budget.
- ``ConfigError``: cloudphot is set up wrong. Say how to fix it.

Step Functions matches ``ErrorEquals`` names exactly, not by class, so a Retry on
``TransientError`` would miss a subclass added later. A category therefore names
itself for all its subclasses (:attr:`CloudphotError.reported_as`): a Lambda handler
raises every ``TransientError`` (``Throttled``, ...) under the name ``TransientError``,
with the subclass first in the message (:func:`as_reported`), and the state
machines retry the category. Data errors keep their own names, because their
Catch rules route by them (``InvalidExposure`` -> ``RecordRejection``).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BudgetExceeded",
    "CloudphotError",
    "ConditionFailed",
    "ConfigError",
    "DataError",
    "DuplicateExposure",
    "InvalidEvent",
    "InvalidExposure",
    "InvalidTaskRegistry",
    "ItemNotFound",
    "LockBusy",
    "NoStars",
    "NoUsableExposures",
    "ObjectNotFound",
    "OutOfMemory",
    "QueryRefused",
    "SpotInterrupted",
    "StorageError",
    "Throttled",
    "TransientError",
    "as_reported",
    "describe_error",
]


class CloudphotError(Exception):
    """Root of every error cloudphot raises on purpose."""

    #: the name a Lambda handler raises this class and its subclasses under (None: its own)
    reported_as: ClassVar[str | None] = None

    @property
    def error_name(self) -> str:
        """The class's own name (what a worker's error line and a data error's Catch use)."""
        return type(self).__name__


class ConfigError(CloudphotError):
    """cloudphot is configured wrongly (workspace, environment, template)."""


class DataError(CloudphotError):
    """The input data is wrong; rerunning unchanged will fail the same way."""


class InvalidExposure(DataError):
    """An uploaded exposure is not a usable calibrated HST image."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class DuplicateExposure(InvalidExposure):
    """A second object claims an exposure id another object already registered."""


class InvalidEvent(DataError):
    """An event or notification is malformed."""


class InvalidTaskRegistry(ConfigError):
    """The task registry file is malformed."""


class NoStars(DataError):
    """Photometry found no stars where some were required."""


class NoUsableExposures(DataError):
    """Every exposure of a field was excluded (each with its own reason)."""


class TransientError(CloudphotError):
    """Infrastructure failed in a way that a retry with backoff may fix."""

    reported_as = "TransientError"


class Throttled(TransientError):
    """An AWS service (or the local stand-in) asked us to slow down."""


class SpotInterrupted(CloudphotError):
    """The worker received SIGTERM (Spot reclaim) and stopped cleanly."""


class LockBusy(CloudphotError):
    """Another job holds a lock (a survey's catalog build); the state machine waits and retries."""


class OutOfMemory(CloudphotError):
    """The worker ran out of memory; rerun with more."""


class StorageError(CloudphotError):
    """Base for object store and table errors."""


class ObjectNotFound(StorageError):
    def __init__(self, bucket: str, key: str):
        self.bucket, self.key = bucket, key
        super().__init__(f"no object s3://{bucket}/{key}")


class ItemNotFound(StorageError):
    def __init__(self, table: str, key: dict):
        self.table, self.key = table, key
        super().__init__(f"no item {key} in table {table!r}")


class ConditionFailed(StorageError):
    """A conditional write did not apply (the item exists, or changed under us)."""


class QueryRefused(DataError):
    """A catalog query was refused before it ran (not read-only, not allowed, too big)."""


class BudgetExceeded(CloudphotError):
    """A run would cost (or has cost) more than the budget it was given."""


def as_reported(exc: BaseException) -> BaseException:
    """``exc`` as a Lambda handler must raise it: under its category's name when it has one.

    The Lambda runtime reports ``type(exc).__name__``; for a subclass of a category
    that is the category's class, the message starting with the subclass's name.
    """
    name = exc.reported_as if isinstance(exc, CloudphotError) else None
    if name is None or name == type(exc).__name__:
        return exc
    category = next(c for c in type(exc).__mro__ if c.__name__ == name)
    return category(f"{type(exc).__name__}: {exc}")


def describe_error(error: str | None, cause: str | None) -> str:
    """A one-line reason from a Step Functions error name and cause.

    The Lambda ``errorMessage`` inside a cause JSON when there is one, the stop code
    and exit code of an ECS task description, else the cause as it is. The CLI and
    the web monitor both say why a job failed with it.
    """
    import json

    if cause:
        try:
            doc = json.loads(cause)
            if isinstance(doc, dict):
                if "errorMessage" in doc:
                    return f"{error}: {doc['errorMessage']}"
                if "Containers" in doc:  # ECS task description
                    c = (doc.get("Containers") or [{}])[0]
                    return (
                        f"{error}: {doc.get('StopCode')} ({doc.get('StoppedReason')}), "
                        f"exit code {c.get('ExitCode')} {c.get('Reason') or ''}"
                    ).strip()
        except (json.JSONDecodeError, TypeError):
            pass
    return f"{error}: {cause}" if cause else str(error or "")
