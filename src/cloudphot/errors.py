"""One rooted exception hierarchy.

Class names are the error names the state machines see: a Lambda handler that
raises ``InvalidExposure`` fails its Task with Error ``InvalidExposure``, and the
ASL ``Retry``/``Catch`` rules in ``statemachines/`` match on those names. So the
split that matters is by *what to do about it*:

- ``DataError``: the input is wrong. Never retried blindly; surfaced with its cause.
- ``TransientError``: infrastructure hiccup (throttling, 5xx, lost connection). Retry with backoff.
- ``SpotInterrupted``: the worker was reclaimed. Retry, without spending the task's budget.
- ``ConfigError``: cloudphot is set up wrong. Say how to fix it.
"""

from __future__ import annotations

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
    "NoStars",
    "NoUsableExposures",
    "ObjectNotFound",
    "OutOfMemory",
    "QueryRefused",
    "SpotInterrupted",
    "StorageError",
    "Throttled",
    "TransientError",
    "describe_error",
]


class CloudphotError(Exception):
    """Root of every error cloudphot raises on purpose."""

    @property
    def error_name(self) -> str:
        """The name Step Functions reports (``Error`` of a failed Task)."""
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


class Throttled(TransientError):
    """An AWS service (or the local stand-in) asked us to slow down."""


class SpotInterrupted(CloudphotError):
    """The worker received SIGTERM (Spot reclaim) and stopped cleanly."""


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
