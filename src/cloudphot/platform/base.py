"""The seam between cloudphot and where it runs: one interface, two implementations.

A :class:`Platform` holds the ports everything above the domain reaches for: the
object store, the pipeline tables and the event store over them, the execution
history, the state machine definitions, the job starter, the pipeline runner, the
catalog's query engine, and the cost and console-link readers. The local
implementation (:class:`cloudphot.runtime.platform.LocalPlatform`: folders, SQLite,
the ASL interpreter, DuckDB) and the AWS one (:class:`cloudphot.aws.platform.AwsPlatform`:
S3, DynamoDB, Step Functions, Athena) subclass it; :func:`cloudphot.platform.open_platform`
picks one from the settings, and nothing else in the library asks which.

Ports are opened on first use, so a Lambda handler or a worker that only needs the
object store opens nothing else.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError
from ..events import EventStore, Job, Registry
from ..events.dispatcher import JobStarter
from ..pipeline.services import Services
from ..settings import Settings
from ..storage import ObjectInfo, ObjectStore, Tables

if TYPE_CHECKING:  # the catalog's engine (DuckDB, Arrow) is imported only where it runs
    from ..catalog.query import QueryResult

__all__ = [
    "Definitions",
    "ExecutionHistory",
    "ExecutionRecord",
    "JobStarter",
    "PipelineRunner",
    "Platform",
    "QueryEngine",
    "RunSummary",
]


@dataclass
class ExecutionRecord:
    """One state machine execution, as the Step Functions console lists it."""

    arn: str
    name: str
    state_machine: str  # logical id in template.yaml
    status: str
    start_date: str
    stop_date: str | None
    input: Any
    output: Any
    error: str | None
    cause: str | None
    job_id: str | None


@dataclass
class RunSummary:
    """What one drain of the pipeline did (local: ran jobs; AWS: started them)."""

    dispatched_events: int = 0
    jobs: dict[str, int] = field(default_factory=dict)  # final state -> count, for jobs run now
    seconds: float = 0.0
    held_by_budget: str | None = None  # why pending jobs were not started
    #: CPU seconds of the ECS workers this run started (local runner only)
    worker_cpu_seconds: float = 0.0
    #: jobs run now that ended FAILED or ABORTED: {"job_id", "task", "error"}
    failed: list[dict[str, str | None]] = field(default_factory=list)
    #: events set aside (dead-lettered) during this run
    dead_letters: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return self.jobs.get(state, 0)


class ExecutionHistory(Protocol):
    """Executions and their event histories (the local store, or Step Functions)."""

    def list(
        self, *, status: str | None = None, state_machine: str | None = None, limit: int = 100
    ) -> list[ExecutionRecord]: ...

    def find(self, name_or_arn: str) -> ExecutionRecord | None: ...

    def children(self, job_id: str) -> builtins.list[ExecutionRecord]:
        """A job's Distributed Map child executions (billed and shown with the job)."""
        ...

    def history(self, arn: str) -> builtins.list[dict]: ...


class Definitions(Protocol):
    """The template and the state machine definitions it deploys."""

    @property
    def template(self) -> Mapping[str, Any]: ...

    def state_machine_definition(self, logical_id: str) -> dict: ...


class QueryEngine(Protocol):
    """Runs checked, read-only catalog SQL on one catalog version (DuckDB or Athena)."""

    version: int

    def run(self, sql: str) -> QueryResult: ...

    def close(self) -> None: ...


class PipelineRunner(ABC):
    """Drives the pipeline: the local runtime runs jobs, the AWS one starts executions."""

    @abstractmethod
    def run(
        self,
        *,
        progress: Callable[[Job], None] | None = None,
        budget_usd: float | None = None,
    ) -> RunSummary:
        """Work off what is queued; return what was done."""

    @abstractmethod
    def dispatch_events(self, event_ids: list[str]) -> list[Job]:
        """Dispatch these stored events now (dead letters taken back); a poison one is
        set aside again. Returns the jobs created."""

    @abstractmethod
    def register(self, path: str | Path | None = None) -> Registry:
        """Load a task registry file (default: the packaged one) into the tasks table."""

    @abstractmethod
    def ensure_registry(self) -> Registry:
        """The task registry, registering the packaged one into an empty tasks table."""

    @abstractmethod
    def upload(self, paths: Iterable[str | Path], *, prefix: str = "") -> list[ObjectInfo]:
        """Put files (or every file under directories) into the raw bucket."""

    def close(self) -> None:
        return None


class Platform(ABC):
    """The ports of one place cloudphot runs in; open with :func:`~cloudphot.platform.open_platform`."""

    #: the web monitor drains a retry before answering (a Lambda freezes after it answers)
    run_inline: bool = False

    def __init__(self, settings: Settings):
        self.settings = settings

    # storage -----------------------------------------------------------------------
    @cached_property
    def objects(self) -> ObjectStore:
        return self._open_objects()

    @cached_property
    def tables(self) -> Tables:
        return self._open_tables()

    @cached_property
    def store(self) -> EventStore:
        """Events and jobs, over the tables."""
        return EventStore(self.tables)

    @property
    def services(self) -> Services:
        """What a pipeline step is handed: settings, object store, tables."""
        return Services(self.settings, self.objects, self.tables)

    @abstractmethod
    def _open_objects(self) -> ObjectStore: ...

    @abstractmethod
    def _open_tables(self) -> Tables: ...

    # running -----------------------------------------------------------------------
    @property
    @abstractmethod
    def runner(self) -> PipelineRunner:
        """The pipeline runner (built on first use)."""

    @property
    @abstractmethod
    def starter(self) -> JobStarter:
        """What the dispatcher hands each new job to."""

    @property
    @abstractmethod
    def executions(self) -> ExecutionHistory: ...

    @property
    @abstractmethod
    def targets(self) -> Definitions:
        """The template and its state machine definitions."""

    def run(
        self,
        *,
        progress: Callable[[Job], None] | None = None,
        budget_usd: float | None = None,
    ) -> RunSummary:
        return self.runner.run(progress=progress, budget_usd=budget_usd)

    # catalog -----------------------------------------------------------------------
    @abstractmethod
    def query_engine(
        self,
        *,
        version: int | None = None,
        max_rows: int,
        timeout_s: float,
        objects: ObjectStore | None = None,
    ) -> QueryEngine:
        """The catalog's SQL engine over one version (default: the latest), reading the
        catalog through ``objects`` (default: this platform's object store)."""

    def object_store_over(self, client: Any) -> ObjectStore:
        """An object store over another client of this platform's kind (e.g. an S3 client
        with a user's assumed-role credentials); only the AWS platform has such clients."""
        from ..errors import ConfigError

        raise ConfigError(f"{type(self).__name__} has no object-store clients to wrap")

    # readers -----------------------------------------------------------------------
    @property
    @abstractmethod
    def where(self) -> str:
        """Where this platform's state lives, for people: a workspace path or a stack."""

    def links(self, execution_arn: str | None, state_machine: str | None) -> dict[str, str]:
        """Console links for an execution and its state machine's logs (none locally)."""
        return {}

    def change_stamp(self) -> tuple | None:
        """Changes whenever the tables change; None when it cannot be known cheaply."""
        return None

    def require_workspace(self, *, tables: bool = True) -> None:
        """Refuse to read a workspace that is not there (a mistyped --workdir); the
        deployed stack is always there."""
        return None

    def require_local(self, command: str, *, must_exist: bool = True) -> None:
        """Refuse a command that drives the local runtime (it makes no sense elsewhere)."""
        raise ConfigError(
            f"'cloudphot {command}' drives the local runtime; with CLOUDPHOT_BACKEND=aws the "
            "deployed pipeline runs by itself (watch it in the Step Functions console)"
        )

    def close(self) -> None:
        return None

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
