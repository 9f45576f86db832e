"""Pick the adapters for the configured backend."""

from __future__ import annotations

from ..settings import Settings
from .objects import ObjectCreatedListener, ObjectStore
from .tables import Tables

__all__ = ["open_object_store", "open_tables"]


def open_object_store(
    settings: Settings, *, on_created: ObjectCreatedListener | None = None, client=None
) -> ObjectStore:
    if settings.backend == "aws":
        from .s3_objects import S3ObjectStore

        return S3ObjectStore(client=client, region=settings.region)
    from .local_objects import LocalObjectStore

    return LocalObjectStore(settings.buckets_dir, on_created=on_created)


def open_tables(settings: Settings, *, client=None) -> Tables:
    if settings.backend == "aws":
        from .dynamodb_tables import DynamoDBTables

        return DynamoDBTables(settings.tables, client=client, region=settings.region)
    from .sqlite_tables import SQLiteTables

    return SQLiteTables(settings.tables_path, settings.tables)
