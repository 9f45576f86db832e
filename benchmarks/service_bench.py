"""Interactive latency of the TAP service vs PostgreSQL 15 + Q3C, same catalog, one run.

    PYTHONPATH=src python benchmarks/service_bench.py                    # 1M objects
    PYTHONPATH=src python benchmarks/service_bench.py --objects 200000   # quicker

Both sides answer over their wire protocol from a client in this process: the
long-lived ``cloudphot serve`` app (uvicorn on loopback, warm engines) through HTTP
(``/tap/sync``, a keep-alive httpx client, the result parsed into an Arrow table),
and PostgreSQL through libpq (psycopg, ``fetchall``). The queries are interleaved
(ours, then theirs, for each random centre or object), so load from other work on
the machine hits both alike; the table reports medians and ratios, and the load
average is printed beside them. Queries: cones of 1", 10", 1' and 10' on phot_mod
(SELECT * up to a million expected rows, five columns beyond), the seed paper's
GROUP BY pix4096, and one light curve by objid.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cloudphot.catalog.api import Catalog
from cloudphot.catalog.synthetic import FIELD_SIZE_ARCSEC, PHAT_DENSITY_PER_ARCSEC2, make_survey
from cloudphot.service.local import BackgroundServer, local_app
from cloudphot.service.queries import Limits
from cloudphot.settings import Settings

WIDE_CONE_ROWS = 1_000_000
NARROW = "objid, ra, dec, f475w_vega, f814w_vega"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=10, help="measurements per object")
    ap.add_argument("--density", type=float, default=PHAT_DENSITY_PER_ARCSEC2)
    ap.add_argument("--repeats", type=int, default=25, help="centres / objects per query")
    ap.add_argument("--format", default="parquet", help="RESPONSEFORMAT of the TAP side")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import httpx
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.io.votable import parse

    from cloudphot.catalog._postgres import TempPostgres, q3c_available

    if not q3c_available():
        print("PostgreSQL + q3c are not installed (Debian postgresql-15-q3c)", file=sys.stderr)
        return 2
    per_field = args.density * FIELD_SIZE_ARCSEC**2
    nfields = max(1, math.ceil(args.objects / per_field))
    nx = math.ceil(math.sqrt(nfields))
    ny = math.ceil(nfields / nx)
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="cloudphot-svc-bench-"))
    settings = Settings.from_env(home=tmp, env={})
    cat = Catalog(settings, max_rows=100_000_000, timeout_s=3600)
    t0 = time.perf_counter()
    make_survey(
        cat.store,
        settings.bucket("products"),
        n_fields_ra=nx,
        n_fields_dec=ny,
        epochs_per_filter=max(1, args.epochs // 2),
        density_per_arcsec2=args.density,
        size_arcsec=FIELD_SIZE_ARCSEC,
        cepheid_fraction=0.0005,
        seed=args.seed,
    )
    build = cat.build()
    print(
        f"# {build.n_objects} objects, {build.n_measurements} measurements in "
        f"{time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    rng = np.random.default_rng(args.seed)
    sample = cat.query(
        "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE random_id < "
        f"{min(100.0, 100.0 * 5000 / max(build.n_objects, 1))!r}"
    )
    picks = rng.integers(0, len(sample), args.repeats)
    centres = [(float(sample["ra"][i]), float(sample["dec"][i])) for i in picks]
    objids = [int(sample["objid"][i]) for i in picks]
    files = {t: cat.engine.files(t) for t in ("phot_mod", "phot_meas")}
    area = nx * ny * (FIELD_SIZE_ARCSEC / 3600) ** 2
    radii = {'1"': 1.0, '10"': 10.0, "1'": 60.0, "10'": 600.0}
    cols = {
        k: "*"
        if min(1.0, math.pi * (r / 3600) ** 2 / area) * build.n_objects <= WIDE_CONE_ROWS
        else NARROW
        for k, r in radii.items()
    }
    cone = (
        "SELECT {c} FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {ra!r}, {dec!r}, {r!r})"
    )
    group = (
        "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
        "FROM phat_v2.phot_mod GROUP BY pix4096"
    )
    curve = (
        "SELECT objid, mjd, filter, vega, err FROM phat_v2.phot_meas WHERE objid = {o} ORDER BY mjd"
    )
    cases: dict[str, list[str]] = {}
    for k, r in radii.items():
        cases[f"cone {k}"] = [
            cone.format(c=cols[k], ra=ra, dec=dec, r=r / 3600) for ra, dec in centres
        ]
    cases["GROUP BY pix4096"] = [group] * max(3, args.repeats // 5)
    cases["1 light curve by objid"] = [curve.format(o=o) for o in objids]

    limits = Limits(sync_max_rows=50_000_000, async_max_rows=50_000_000, default_maxrec=50_000_000)
    app = local_app(settings, cat.store, limits=limits, exposures=lambda: [])
    ours: dict[str, list[float]] = {k: [] for k in cases}
    theirs: dict[str, list[float]] = {k: [] for k in cases}
    rows: dict[str, tuple[int, int]] = {}
    loads = []
    with (
        BackgroundServer(app) as server,
        TempPostgres(shared_buffers="512MB") as pg,
        httpx.Client(base_url=server.url, timeout=600) as http,
    ):
        conn = pg.connect()
        for t in ("phot_mod", "phot_meas"):
            pg.load_table(conn, "phat_v2", t, files[t])

        def tap(sql: str) -> int:
            r = http.post(
                "tap/sync", data={"LANG": "SQL", "QUERY": sql, "RESPONSEFORMAT": args.format}
            )
            r.raise_for_status()
            if args.format == "parquet":
                return pq.read_table(pa.BufferReader(r.content)).num_rows
            return len(parse(io.BytesIO(r.content)).get_first_table().array)

        def postgres(sql: str) -> int:
            with conn.cursor() as cur:
                cur.execute(sql)
                return len(cur.fetchall())

        for k, sqls in cases.items():
            tap(sqls[0]), postgres(sqls[0])  # warm both
            for sql in sqls:
                for who, fn, out in (("tap", tap, ours), ("pg", postgres, theirs)):
                    t1 = time.perf_counter()
                    n = fn(sql)
                    out[k].append(time.perf_counter() - t1)
                    rows[k] = (n, rows.get(k, (0, 0))[1]) if who == "tap" else (rows[k][0], n)
            loads.append(os.getloadavg()[0])
            print(
                f"# {k}: ours {statistics.median(ours[k]) * 1e3:.2f} ms, postgres "
                f"{statistics.median(theirs[k]) * 1e3:.2f} ms",
                file=sys.stderr,
            )
        conn.close()
    cat.close()
    la = os.getloadavg()
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}); load average "
        f"{la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} at the end (1-min during the run "
        f"{min(loads):.1f}-{max(loads):.1f}); command: `PYTHONPATH=src python "
        f"benchmarks/service_bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
        f"Data: {build.n_objects:,} objects, {build.n_measurements:,} measurements. TAP side: "
        f"HTTP POST /tap/sync, LANG=SQL, RESPONSEFORMAT={args.format}, parsed; PostgreSQL "
        f"side: psycopg over TCP, fetchall. Medians of {args.repeats} interleaved runs.",
        "",
        "| query | TAP service (HTTP) | PostgreSQL 15 + Q3C (libpq) | ratio (PG / TAP) | rows |",
        "|---|---|---|---|---|",
    ]
    for k in cases:
        o, t = statistics.median(ours[k]), statistics.median(theirs[k])
        label = k + (f" ({NARROW})" if cols.get(k.removeprefix("cone "), "*") != "*" else "")
        lines.append(
            f"| {label} | {o * 1e3:.2f} ms | {t * 1e3:.2f} ms | {t / o:.2f} | "
            f"{rows[k][0]} / {rows[k][1]} |"
        )
    print("\n".join(lines))
    if not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
