"""myDB: each authenticated user's personal tables, as Parquet under their own prefix.

``mydb.<name>`` in a query always means the *asking* user's table ``<name>``: tables
are found under ``service/mydb/<user>/`` only, so no query, upload or drop can name
another user's table at all. On AWS the prefix is also enforced by IAM: the service
reads and writes a user's tables through a role session tagged with the user, whose
policy allows only ``service/mydb/${aws:PrincipalTag/cloudphot-user}/*`` (template.yaml,
``MyDbAccessRole``), so a bug here still could not cross users.
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError, ObjectNotFound, QueryRefused
from ..storage.objects import ObjectStore
from .accounts import USER_NAME
from .tap_schema import ColumnMeta, TableMeta, adql_name, votable_datatype
from .uploads import TABLE_NAME, check_table

__all__ = ["MyDb", "MyTable"]

PREFIX = "service/mydb"


@dataclass(frozen=True)
class MyTable:
    name: str
    rows: int
    columns: int
    size: int
    modified: str


class MyDb:
    """Personal tables in the object store (one Parquet object per table)."""

    def __init__(
        self,
        objects: ObjectStore,
        bucket: str,
        *,
        max_tables: int = 100,
        max_bytes: int = 256 * 1024 * 1024,
        store_for: Callable[[str], ObjectStore] | None = None,
    ):
        self.objects, self.bucket = objects, bucket
        self.max_tables, self.max_bytes = max_tables, max_bytes
        #: the store to reach one user's tables through (AWS: a session tagged with them)
        self._store_for = store_for or (lambda user: objects)

    def _key(self, user: str, name: str) -> str:
        if not user or not USER_NAME.match(user):
            raise QueryRefused("personal tables need an authenticated user")
        if not TABLE_NAME.match(name):
            raise QueryRefused(
                f"table name {name!r}: letters, digits and _, starting with a letter (at most 63)"
            )
        return f"{PREFIX}/{user}/{name.lower()}.parquet"

    def names(self, user: str) -> list[str]:
        prefix = f"{PREFIX}/{user}/"
        self._key(user, "x")  # checks the user
        return sorted(
            info.key[len(prefix) : -len(".parquet")]
            for info in self._store_for(user).list(self.bucket, prefix)
            if info.key.endswith(".parquet") and "/" not in info.key[len(prefix) :]
        )

    def list(self, user: str) -> list[MyTable]:
        out = []
        for name in self.names(user):
            key = self._key(user, name)
            info = self._store_for(user).head(self.bucket, key)
            meta = self._meta(user, key)
            out.append(
                MyTable(
                    name, meta.num_rows, meta.num_columns, info.size, info.last_modified.isoformat()
                )
            )
        return out

    def _meta(self, user: str, key: str):
        """The Parquet footer, by two ranged reads (the rows are not read)."""
        store = self._store_for(user)
        n = int.from_bytes(store.get_range(self.bucket, key, -8)[:4], "little")
        footer = store.get_range(self.bucket, key, -(n + 8))
        # the reader finds the footer from the file's end: the leading magic is all it needs
        return pq.read_metadata(io.BytesIO(b"PAR1" + footer))

    def save(self, user: str, name: str, table: pa.Table, *, replace: bool = False) -> MyTable:
        key = self._key(user, name)
        table = check_table(table, name)
        store = self._store_for(user)
        if store.exists(self.bucket, key) and not replace:
            raise QueryRefused(f"you already have a table mydb.{name}; drop it first")
        if not store.exists(self.bucket, key) and len(self.names(user)) >= self.max_tables:
            raise QueryRefused(f"you have {self.max_tables} tables, the most allowed; drop some")
        buf = io.BytesIO()
        pq.write_table(table, buf)
        data = buf.getvalue()
        if len(data) > self.max_bytes:
            raise DataError(f"mydb.{name} would be {len(data)} bytes; at most {self.max_bytes}")
        info = store.put_bytes(
            self.bucket, key, data, content_type="application/vnd.apache.parquet"
        )
        return MyTable(
            name.lower(),
            table.num_rows,
            table.num_columns,
            info.size,
            info.last_modified.isoformat(),
        )

    def load(self, user: str, name: str) -> pa.Table:
        try:
            data = self._store_for(user).get_bytes(self.bucket, self._key(user, name))
            return pq.read_table(io.BytesIO(data))
        except ObjectNotFound:
            raise QueryRefused(f"you have no table mydb.{name} (see /tap/mydb)") from None

    def drop(self, user: str, name: str) -> None:
        key = self._key(user, name)
        store = self._store_for(user)
        if not store.exists(self.bucket, key):
            raise QueryRefused(f"you have no table mydb.{name}")
        store.delete(self.bucket, key)

    def tables_for(self, user: str | None, names: set[str]) -> dict[str, pa.Table]:
        """The asking user's tables a query names (``mydb.x`` keys)."""
        if not names:
            return {}
        if user is None:
            raise QueryRefused(
                "mydb tables belong to authenticated users: send your token "
                "(Authorization: Bearer TOKEN; cloudphot user add NAME)"
            )
        return {f"mydb.{n}": self.load(user, n) for n in names}

    def table_meta(self, user: str) -> builtins.list[TableMeta]:
        out = []
        for name in self.names(user):
            schema = self._meta(user, self._key(user, name)).schema.to_arrow_schema()
            cols = []
            for f in schema:
                dt, size = votable_datatype(f.type)
                cols.append(ColumnMeta(adql_name(f.name), dt, size, "", None, ""))
            out.append(TableMeta("mydb", f"mydb.{name}", f"{user}'s table", tuple(cols)))
        return out
