"""Storage ports (object store, pipeline tables) and their local and AWS adapters.

The domain talks only to :class:`ObjectStore` and :class:`Tables`; ``open_storage``
picks the adapters for a :class:`~cloudphot.settings.Settings`.
"""

from .factory import open_object_store, open_tables
from .objects import ObjectInfo, ObjectStore, s3_object_created_event
from .tables import TABLE_SCHEMAS, Tables, TableSchema

__all__ = [
    "TABLE_SCHEMAS",
    "ObjectInfo",
    "ObjectStore",
    "TableSchema",
    "Tables",
    "open_object_store",
    "open_tables",
    "s3_object_created_event",
]
