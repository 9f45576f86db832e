"""The pipeline-tables port: a small DynamoDB-shaped item store.

Items are JSON-like dicts (str, int, float, bool, None, list, dict). Every table
has one string partition key; named secondary indexes have a partition key and
an optional sort key, as DynamoDB GSIs do. Conditional writes are the only
concurrency control, so an event id or job id is never stored twice.

The schemas below are the single source of truth: the SQLite adapter creates
them, the DynamoDB adapter expects them, and ``template.yaml`` declares them
(a test checks the template against this module).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TABLE_SCHEMAS", "TableSchema", "Tables"]


@dataclass(frozen=True)
class TableSchema:
    key: str
    #: index name -> (partition attribute, sort attribute or None)
    indexes: dict[str, tuple[str, str | None]] = field(default_factory=dict)


TABLE_SCHEMAS: dict[str, TableSchema] = {
    # registered tasks: which event type triggers what
    "tasks": TableSchema(key="name"),
    # every event, with what its tasks need to (re)run
    "events": TableSchema(
        key="event_id",
        indexes={"by_type": ("type", "created_at"), "by_subject": ("subject", "created_at")},
    ),
    # one job per (event, task): the unit of work, retry and monitoring
    "jobs": TableSchema(
        key="job_id",
        indexes={"by_event": ("event_id", "created_at"), "by_state": ("state", "updated_at")},
    ),
    # registered exposures (metadata extracted at ingest)
    "exposures": TableSchema(key="exposure_id", indexes={"by_field": ("field_id", "mjd")}),
    # events set aside because dispatching them failed (poison events), with the error;
    # ``cloudphot retry EVENT_ID`` takes one back
    "dead_letters": TableSchema(key="event_id"),
    # leased locks (cloudphot.pipeline.locks): one catalog build per survey at a time
    "locks": TableSchema(key="lock_id"),
}


class Tables(ABC):
    """Logical table names (``"events"``) are mapped to physical ones by the adapter."""

    @abstractmethod
    def put(self, table: str, item: dict[str, Any], *, if_absent: bool = False) -> None:
        """Store ``item`` (replacing any item with the same key).

        With ``if_absent=True`` raise :class:`~cloudphot.errors.ConditionFailed`
        instead when an item with that key exists.
        """

    @abstractmethod
    def get(self, table: str, key: str) -> dict[str, Any] | None:
        """The item whose key attribute equals ``key``, or None."""

    @abstractmethod
    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        increment: dict[str, int | float] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set attributes of an existing item and return the item as it now is.

        ``increment`` adds to numeric attributes (missing counts as 0).
        ``expect`` maps attribute -> value the item must hold now (``None``: the
        attribute must be absent); otherwise nothing is written and
        :class:`~cloudphot.errors.ConditionFailed` is raised. A missing item
        raises :class:`~cloudphot.errors.ItemNotFound`.
        """

    @abstractmethod
    def query(
        self,
        table: str,
        index: str,
        value: Any,
        *,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """Items whose index partition attribute equals ``value``, ordered by the sort attribute."""

    @abstractmethod
    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every item (unordered). For status views and reconciliation, not hot paths."""

    @abstractmethod
    def delete(self, table: str, key: str) -> None:
        """Remove the item; no error when absent."""

    def schema(self, table: str) -> TableSchema:
        try:
            return TABLE_SCHEMAS[table]
        except KeyError:
            from ..errors import ConfigError

            raise ConfigError(f"unknown table {table!r}; known: {sorted(TABLE_SCHEMAS)}") from None
