"""A throw-away PostgreSQL 15 + Q3C server: the peer that tests and the benchmark compare with.

Set up as Astro Data Lab serves PHAT: the same tables and columns, a Q3C index on
``q3c_ang2ipix(ra, dec)`` and the table CLUSTERed on it, then ANALYZE. The server
runs as the ``postgres`` user when we are root (PostgreSQL refuses root), listens
on 127.0.0.1 only, with its data directory in a temporary folder, and is stopped
and removed on exit. Not used by cloudphot itself.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["TempPostgres", "pg_bindir", "pg_type", "q3c_available"]

_CANDIDATES = [
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
]


def pg_bindir() -> Path | None:
    for d in _CANDIDATES:
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def q3c_available() -> bool:
    b = pg_bindir()
    if b is None:
        return False
    share = Path("/usr/share/postgresql") / b.parent.name / "extension" / "q3c.control"
    return share.exists()


def pg_type(t: pa.DataType) -> str:
    if pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_boolean(t):
        return "boolean"
    return "text"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """``with TempPostgres() as pg: conn = pg.connect()``."""

    def __init__(self, *, shared_buffers: str = "256MB", work_mem: str = "64MB"):
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL binaries not found")
        self.port = _free_port()
        self._tmp = Path(tempfile.mkdtemp(prefix="cloudphot-pg-"))
        self.datadir = self._tmp / "data"
        self.settings = {"shared_buffers": shared_buffers, "work_mem": work_mem}
        self._as_postgres = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        assert self.bindir is not None  # checked in __init__
        full = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self._as_postgres:
            full = ["runuser", "-u", "postgres", "--", *full]
        subprocess.run(
            full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120
        )

    def __enter__(self) -> TempPostgres:
        if self._as_postgres:
            shutil.chown(self._tmp, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        opts = (
            f"-p {self.port} -k {self._tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off "
            f"-c shared_buffers={self.settings['shared_buffers']} "
            f"-c work_mem={self.settings['work_mem']} -c max_parallel_workers_per_gather=2 "
            f"-c jit=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            opts,
            "-l",
            str(self._tmp / "log"),
            "-w",
            "start",
        )
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def connect(self):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def load_table(
        self, conn, schema: str, table: str, files: list[str], extra_indexes: tuple[str, ...] = ()
    ) -> float:
        """Create ``schema.table`` from Parquet files, Q3C-index and cluster it; return seconds.

        ``objid`` gets a B-tree index, and so does each column of ``extra_indexes``.
        """
        t0 = time.perf_counter()
        arrow_schema = pq.read_schema(files[0])
        cols = ", ".join(f'"{f.name}" {pg_type(f.type)}' for f in arrow_schema)
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS q3c")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cur.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
            cur.execute(f"CREATE UNLOGGED TABLE {schema}.{table} ({cols})")
            con = duckdb.connect()
            names = ", ".join(f'"{f.name}"' for f in arrow_schema)
            for f in files:
                csv = self._tmp / "chunk.csv"
                con.execute(
                    f"COPY (SELECT {names} FROM read_parquet('{f}', hive_partitioning=false)) "
                    f"TO '{csv}' (FORMAT csv, HEADER false)"
                )
                with (
                    open(csv, "rb") as fh,
                    cur.copy(f"COPY {schema}.{table} FROM STDIN (FORMAT csv)") as copy,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
                csv.unlink()
            con.close()
            cur.execute(f"CREATE INDEX {table}_q3c ON {schema}.{table} (q3c_ang2ipix(ra, dec))")
            cur.execute(f"CLUSTER {schema}.{table} USING {table}_q3c")
            for col in ("objid", *extra_indexes):
                if col in arrow_schema.names:
                    cur.execute(f"CREATE INDEX {table}_{col} ON {schema}.{table} ({col})")
            cur.execute(f"ANALYZE {schema}.{table}")
        return time.perf_counter() - t0
