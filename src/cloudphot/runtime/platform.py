"""The local platform: a workspace folder stands in for the AWS account.

Buckets are folders, tables SQLite, Step Functions the ASL interpreter of
:class:`~cloudphot.runtime.local.LocalRuntime`, Athena DuckDB over the same
Parquet. The object store and tables open on first use and the runner (template,
execution history, in-process Lambdas) only when something runs or reads
executions, so a handler, a worker or a catalog query opens no more than it needs.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..platform.base import Definitions, ExecutionHistory, Platform, QueryEngine
from ..settings import Settings
from ..storage import ObjectStore
from .local_objects import LocalObjectStore
from .sqlite_tables import SQLiteTables

if TYPE_CHECKING:  # imported when something runs: .local imports boto3 (DynamoDB types),
    # half a second that a one-shot catalog query should not pay
    from .local import LocalRuntime, QueueStarter

__all__ = ["LocalPlatform"]


class LocalPlatform(Platform):
    """The workspace at ``settings.home``; ``runner_options`` go to :class:`LocalRuntime`."""

    def __init__(self, settings: Settings, **runner_options: Any):
        super().__init__(settings)
        self._runner_options = runner_options

    def _open_objects(self) -> LocalObjectStore:
        return LocalObjectStore(self.settings.buckets_dir, on_created=self._object_created)

    def _object_created(self, notification: dict) -> None:
        """A write to the raw bucket reaches OnObject, as S3's EventBridge rule sends it
        (``RawObjectCreated`` in template.yaml); other buckets' writes reach nothing."""
        bucket = ((notification.get("detail") or {}).get("bucket") or {}).get("name")
        if bucket == self.settings.bucket("raw"):
            self.runner.notify_object_created(notification)

    def _open_tables(self) -> SQLiteTables:
        return SQLiteTables(self.settings.tables_path, self.settings.tables)

    @cached_property
    def runner(self) -> LocalRuntime:
        from .local import LocalRuntime

        return LocalRuntime(self.settings, **self._runner_options)

    @property
    def starter(self) -> QueueStarter:
        from .local import QueueStarter

        return QueueStarter()

    @property
    def executions(self) -> ExecutionHistory:
        return self.runner.executions

    @property
    def targets(self) -> Definitions:
        return self.runner.targets

    def query_engine(
        self,
        *,
        version: int | None = None,
        max_rows: int,
        timeout_s: float,
        objects: ObjectStore | None = None,
    ) -> QueryEngine:
        from ..catalog.query import QueryEngine as DuckDBEngine

        return DuckDBEngine(
            objects or self.objects,
            self.settings.bucket("products"),
            self.settings.survey,
            version=version,
            max_rows=max_rows,
            timeout_s=timeout_s,
        )

    @property
    def where(self) -> str:
        return str(self.settings.home)

    def change_stamp(self) -> tuple | None:
        """Size and mtime of the SQLite tables and their WAL: unchanged means no write."""
        path = self.settings.tables_path
        stamp: list[tuple[int, int] | None] = []
        for p in (path, path.with_name(path.name + "-wal")):
            try:
                st = p.stat()
                stamp.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                stamp.append(None)
        return tuple(stamp)

    def require_workspace(self, *, tables: bool = True) -> None:
        """A reading command on a folder with no workspace (``tables``: no tables yet; else
        not even the folder) is refused: 'status' on a mistyped --workdir made an empty
        workspace there and showed nothing."""
        home = self.settings.home
        if not (self.settings.tables_path.exists() if tables else home.is_dir()):
            raise ConfigError(
                f"no workspace at {home}: 'cloudphot upload FILES' makes one and starts the "
                "pipeline ('cloudphot init' an empty one); or give --workdir (or "
                "$CLOUDPHOT_HOME) the workspace you meant"
            )

    def require_local(self, command: str, *, must_exist: bool = True) -> None:
        if must_exist and not self.settings.tables_path.exists():
            raise ConfigError(
                f"no workspace at {self.settings.home}; run 'cloudphot init' first "
                "(or pass --workdir / set CLOUDPHOT_HOME)"
            )

    def close(self) -> None:
        if "runner" in self.__dict__:
            self.runner.close()
