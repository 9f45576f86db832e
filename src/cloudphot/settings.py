"""Where things live, with one precedence rule: explicit argument, then environment, then default.

On AWS the template sets the environment of every function and task
(``RAW_BUCKET``, ``EVENTS_TABLE``, ...). Locally ``CLOUDPHOT_HOME`` (or ``--workdir``)
names the workspace, and the same logical names become folders and SQLite tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = [
    "ATHENA_WORKGROUP_ENV",
    "BUCKET_ENV",
    "DEFAULT_HOME",
    "PARTITION_ORDER_ENV",
    "TABLE_ENV",
    "Settings",
]

DEFAULT_HOME = "./cloudphot-work"

#: logical bucket name -> environment variable holding its physical name
BUCKET_ENV = {"raw": "RAW_BUCKET", "products": "PRODUCTS_BUCKET"}
#: logical table name -> environment variable holding its physical name
TABLE_ENV = {
    "tasks": "TASKS_TABLE",
    "events": "EVENTS_TABLE",
    "jobs": "JOBS_TABLE",
    "exposures": "EXPOSURES_TABLE",
    "dead_letters": "DEAD_LETTERS_TABLE",
    "locks": "LOCKS_TABLE",
}

#: environment variable naming the Athena workgroup of catalog queries
ATHENA_WORKGROUP_ENV = "CLOUDPHOT_ATHENA_WORKGROUP"
PARTITION_ORDER_ENV = "CLOUDPHOT_CATALOG_PARTITION_ORDER"


def _partition_order(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 0 <= int(value) <= 13:
        from .errors import ConfigError

        raise ConfigError(f"{PARTITION_ORDER_ENV}={value!r} is not a HEALPix order (0-13)")
    return int(value)


def _from_env(mapping: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    return {logical: env.get(var, logical) for logical, var in mapping.items()}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :meth:`from_env`; tests pass fields explicitly."""

    backend: str = "local"  # "local" | "aws"
    home: Path = Path(DEFAULT_HOME)
    region: str = "us-east-1"
    buckets: dict[str, str] = field(default_factory=lambda: {k: k for k in BUCKET_ENV})
    tables: dict[str, str] = field(default_factory=lambda: {k: k for k in TABLE_ENV})
    survey: str = "phat_v2"
    #: Athena workgroup of catalog queries on AWS (stack output AthenaWorkGroupName)
    athena_workgroup: str | None = None
    #: HEALPix order of a new survey catalog's partitions (template: CatalogPartitionOrder;
    #: None: the catalog build's default). A survey keeps the order of its first build.
    catalog_partition_order: int | None = None

    @classmethod
    def from_env(
        cls,
        *,
        home: str | os.PathLike | None = None,
        backend: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Settings:
        env = dict(os.environ if env is None else env)
        backend = backend or env.get("CLOUDPHOT_BACKEND", "local")
        if backend not in ("local", "aws"):
            from .errors import ConfigError

            raise ConfigError(
                f"CLOUDPHOT_BACKEND={backend!r} is not a backend; use 'local' or 'aws'"
            )
        return cls(
            backend=backend,
            home=Path(home or env.get("CLOUDPHOT_HOME", DEFAULT_HOME)).expanduser().absolute(),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
            buckets=_from_env(BUCKET_ENV, env),
            tables=_from_env(TABLE_ENV, env),
            survey=env.get("CLOUDPHOT_SURVEY", "phat_v2"),
            athena_workgroup=env.get(ATHENA_WORKGROUP_ENV) or None,
            catalog_partition_order=_partition_order(env.get(PARTITION_ORDER_ENV)),
        )

    def with_home(self, home: str | os.PathLike) -> Settings:
        return replace(self, home=Path(home).expanduser().absolute())

    def bucket(self, logical: str) -> str:
        return self.buckets[logical]

    def table(self, logical: str) -> str:
        return self.tables[logical]

    # local layout -----------------------------------------------------------
    @property
    def buckets_dir(self) -> Path:
        return self.home / "buckets"

    @property
    def tables_path(self) -> Path:
        return self.home / "tables.sqlite"

    @property
    def runtime_path(self) -> Path:
        """SQLite file of the local Step Functions stand-in (executions and their history)."""
        return self.home / "executions.sqlite"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def as_env(self) -> dict[str, str]:
        """The environment a handler or worker needs to rebuild these settings."""
        env = {
            "CLOUDPHOT_BACKEND": self.backend,
            "CLOUDPHOT_HOME": str(self.home),
            "AWS_REGION": self.region,
            "CLOUDPHOT_SURVEY": self.survey,
        }
        env.update({BUCKET_ENV[k]: v for k, v in self.buckets.items()})
        env.update({TABLE_ENV[k]: v for k, v in self.tables.items()})
        if self.athena_workgroup:
            env[ATHENA_WORKGROUP_ENV] = self.athena_workgroup
        if self.catalog_partition_order is not None:
            env[PARTITION_ORDER_ENV] = str(self.catalog_partition_order)
        return env
