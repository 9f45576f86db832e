"""Storage ports: the object store and the pipeline tables.

The domain talks only to :class:`ObjectStore` and :class:`Tables`, and writes
its products through :class:`Target` (complete = present and made from the same inputs). Their adapters
live with their platforms: folders and SQLite in :mod:`cloudphot.runtime`, S3 and
DynamoDB in :mod:`cloudphot.aws`; :func:`cloudphot.platform.open_platform` picks them.
"""

from .objects import ObjectInfo, ObjectStore, s3_object_created_event
from .tables import TABLE_SCHEMAS, Tables, TableSchema
from .targets import Target

__all__ = [
    "TABLE_SCHEMAS",
    "ObjectInfo",
    "ObjectStore",
    "TableSchema",
    "Tables",
    "Target",
    "s3_object_created_event",
]
