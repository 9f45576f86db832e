"""Photometry database benchmark on two survey shapes: cloudphot (HATS/Parquet + DuckDB)
against PostgreSQL 15 + Q3C on the same rows, in the same run.

    PYTHONPATH=src python benchmarks/catalog_bench.py --objects 1000000            # both shapes
    PYTHONPATH=src python benchmarks/catalog_bench.py --shapes sparse --objects 200000

Shapes (each its own workspace, catalog and PostgreSQL schema):

``dense``   the PHAT-like M31 field of :mod:`cloudphot.catalog.synthetic` (ACS-sized fields
            at PHAT's mean 18 stars/arcsec^2): few partitions, each full;
``sparse``  the independent multi-region sky of ``benchmarks/sparse_sky.py`` (an M31
            patch, the RA = 0/360 wrap, both polar caps, stars on HEALPix edges,
            duplicates, NaN magnitudes): many partitions with few rows each.

Per shape: ingest (cloudphot catalog build vs PostgreSQL COPY + Q3C index + CLUSTER +
ANALYZE, indexes on objid, mjd and filter as a user expects), then every query warm and
*interleaved* (cloudphot and PostgreSQL alternate, each repeat in the other order), the
median over the centres or objects: cones of 1", 10", 1' and 10' (SELECT *, five columns
where a cone holds over a million rows), the paper's GROUP BY pix4096, one light curve
by objid (through ``Catalog.query`` and ``Catalog.lightcurve``), 1000 light curves in
one query, an MJD-and-filter lookup, a 1" cross-match; and one-shot commands
(``cloudphot query`` vs ``psql -c``, a new process each). Times on the cloudphot side
include parsing, checking, rewriting and the astropy Table; PostgreSQL's are psycopg
round trips returning tuples. Prints a Markdown section for benchmarks/RESULTS.md with
every ratio (cloudphot / PostgreSQL: below 1 is a win) and ``uptime`` loads.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cloudphot.catalog.api import Catalog
from cloudphot.catalog.synthetic import (
    FIELD_SIZE_ARCSEC,
    PHAT_DENSITY_PER_ARCSEC2,
    make_survey,
)
from cloudphot.settings import Settings

#: cones holding more objects than this select five columns, not all 94
WIDE_CONE_ROWS = 100_000
NARROW = "objid, ra, dec, f475w_vega, f814w_vega"
RADII = {'1"': 1.0, '10"': 10.0, "1'": 60.0, "10'": 600.0}
#: the issue's targets, cloudphot / PostgreSQL (the library: Catalog in one process)
TARGETS = {
    "cone 1'": 0.5,
    "cone 10'": 0.5,
    "GROUP BY pix4096": 0.5,
    "ingest": 1.0,
    'cone 1"': 3.0,
    "1 light curve (SQL)": 3.0,
    "1 light curve (Catalog.lightcurve)": 3.0,
    'cone 1" (TAP service)': 1.0,
    "1 light curve (TAP service)": 1.0,
    "cone 1' (TAP service)": 0.5,
    "GROUP BY pix4096 (TAP service)": 0.5,
}
Q2 = (
    "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
    "FROM phat_v2.phot_mod GROUP BY pix4096"
)


def _load_sparse_sky():
    path = Path(__file__).resolve().parent / "sparse_sky.py"
    spec = importlib.util.spec_from_file_location("sparse_sky", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sparse_sky", mod)
    spec.loader.exec_module(mod)
    return mod


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _log(msg: str) -> None:
    print(f"# [{time.strftime('%H:%M:%S')} load {_load()}] {msg}", file=sys.stderr, flush=True)


def _timed(fn, item) -> float:
    t0 = time.perf_counter()
    fn(item)
    return time.perf_counter() - t0


def interleaved(ours, theirs, items, repeats: int = 1) -> tuple[float, float]:
    """Median seconds of ``ours(item)`` and ``theirs(item)``, alternating which goes first."""
    a, b = [], []
    ours(items[0])  # warm both
    theirs(items[0])
    for r in range(repeats):
        for i, item in enumerate(items):
            if (i + r) % 2:
                b.append(_timed(theirs, item))
                a.append(_timed(ours, item))
            else:
                a.append(_timed(ours, item))
                b.append(_timed(theirs, item))
    return statistics.median(a), statistics.median(b)


_SERVE = """
import sys
from cloudphot.service.local import local_app, serve
from cloudphot.service.queries import Limits
from cloudphot.platform import open_platform
from cloudphot.settings import Settings

settings = Settings.from_env(home=sys.argv[1], env={})
n = 100_000_000
limits = Limits(sync_max_rows=n, async_max_rows=n, default_maxrec=n, sync_timeout_s=3600.0)
app = local_app(settings, open_platform(settings).objects, limits=limits, exposures=lambda: [])
serve(app, "127.0.0.1", 0, ready=lambda url: print(url, flush=True))
"""


class TapServer:
    """``cloudphot serve``'s app over a workspace in a process of its own (uvicorn, warm
    engines), and a keep-alive HTTP client of it."""

    def __init__(self, workspace: Path):
        self.workspace = workspace

    def __enter__(self) -> TapServer:
        import httpx

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(self.workspace)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        url = self.proc.stdout.readline().strip()
        if not url.startswith("http"):
            self.proc.kill()
            raise RuntimeError("the TAP server did not start")
        self.http = httpx.Client(base_url=url, timeout=3600)
        return self

    def query(self, sql: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        r = self.http.post(
            "tap/sync", data={"LANG": "SQL", "QUERY": sql, "RESPONSEFORMAT": "parquet"}
        )
        r.raise_for_status()
        return pq.read_table(pa.BufferReader(r.content))

    def __exit__(self, *exc) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(30)


def generate(shape: str, cat: Catalog, settings: Settings, args) -> dict:
    if shape == "sparse":
        res = _load_sparse_sky().write_sparse_sky(
            cat.store,
            settings.bucket("products"),
            n_objects=args.objects,
            epochs=max(1, args.epochs // 2),
            seed=args.seed,
        )
        return {"fields": len(res["fields"]), "field_rows": res["stars"]}
    per_field = args.density * args.field_size**2
    nfields = max(1, math.ceil(args.objects / per_field))
    nx = math.ceil(math.sqrt(nfields))
    ny = math.ceil(nfields / nx)
    survey = make_survey(
        cat.store,
        settings.bucket("products"),
        n_fields_ra=nx,
        n_fields_dec=ny,
        filters=("F475W", "F814W"),
        epochs_per_filter=max(1, args.epochs // 2),
        density_per_arcsec2=args.density,
        size_arcsec=args.field_size,
        cepheid_fraction=0.0005,
        seed=args.seed,
    )
    return {"fields": len(survey.fields), "field_rows": survey.n_field_rows}


def build(cat: Catalog, args) -> tuple[float, object]:
    ids_all = sorted({i.key.split("/")[1] for i in cat.store.list(cat.bucket, "fields/")})
    batch = args.build_batch or (len(ids_all) if args.objects <= 1_000_000 else 2)
    seconds, res = 0.0, None
    opts = {"row_group_rows": args.row_group_rows, "partition_order": args.partition_order}
    for i in range(0, len(ids_all), batch):
        res = cat.build(ids_all[: i + batch], **{k: v for k, v in opts.items() if v})
        seconds += res.seconds
    return seconds, res


def run_shape(shape: str, root: Path, args) -> dict:
    """Everything for one shape; returns {"rows": [...], "meta": {...}}."""
    ws = root / shape
    settings = Settings.from_env(home=ws, env={})
    cat = Catalog(settings, max_rows=100_000_000, timeout_s=3600)
    meta: dict[str, object] = {"load_start": _load()}
    if args.reuse and cat.versions():
        # the catalog of an earlier run in this --workdir: the queries only (ingest not timed)
        build_s, m = float("nan"), cat.manifest()
        res = argparse.Namespace(
            n_objects=m["tables"]["phot_mod"]["nrows"],
            n_measurements=m["tables"]["phot_meas"]["nrows"],
            version=m["version"],
        )
        meta.update(fields=len(m.get("fields", {})), field_rows=None)
        _log(f"{shape}: reusing catalog version {res.version}")
    else:
        t0 = time.perf_counter()
        meta.update(generate(shape, cat, settings, args))
        meta["generate_s"] = time.perf_counter() - t0
        _log(f"{shape}: generated {meta['field_rows']} field rows in {meta['generate_s']:.0f} s")
        build_s, res = build(cat, args)
    manifest = cat.manifest()
    meta.update(
        objects=res.n_objects,
        measurements=res.n_measurements,
        versions=res.version,
        partitions=len(manifest["tables"]["phot_mod"]["partitions"]),
        meas_partitions=len(manifest["tables"]["phot_meas"]["partitions"]),
    )
    _log(
        f"{shape}: built {res.n_objects} objects, {meta['partitions']} partitions in {build_s:.0f} s"
    )
    files_mod, files_meas = cat.engine.files("phot_mod"), cat.engine.files("phot_meas")
    meta["bytes"] = sum(os.path.getsize(f) for f in files_mod + files_meas)

    rng = np.random.default_rng(args.seed)
    sample = cat.query(
        "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE random_id < "
        f"{min(100.0, 100.0 * 20000 / max(res.n_objects, 1))!r}"
    )
    pick = rng.integers(0, len(sample), args.cones)
    centres = [(float(sample["ra"][i]), float(sample["dec"][i])) for i in pick]
    lc_ids = [
        int(x)
        for x in rng.choice(
            np.asarray(sample["objid"]), min(args.lightcurves, len(sample)), replace=False
        )
    ]
    mjds = cat.query("SELECT DISTINCT mjd, filter FROM phat_v2.phot_meas ORDER BY mjd")
    epoch_pick = rng.integers(0, len(mjds), min(args.cones, len(mjds)))
    epoch_items = [(float(mjds["mjd"][i]), str(mjds["filter"][i])) for i in epoch_pick]

    cone_sql = "SELECT {cols} FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {ra!r}, {dec!r}, {r!r})"
    # SELECT * unless the cones hold more than WIDE_CONE_ROWS rows (counted at a few
    # centres): no client holds millions of 94-column rows, Data Lab's cone service caps them
    cols = {}
    for label, r in RADII.items():
        n = max(
            int(
                cat.query(cone_sql.format(cols="count(*) AS n", ra=c[0], dec=c[1], r=r / 3600))[
                    "n"
                ][0]
            )
            for c in centres[:3]
        )
        cols[label] = "*" if n <= WIDE_CONE_ROWS else NARROW
    lc_sql = (
        "SELECT objid, mjd, filter, vega, err FROM phat_v2.phot_meas WHERE objid = {o} ORDER BY mjd"
    )
    lc_batch = (
        "SELECT objid, mjd, filter, vega, err FROM phat_v2.phot_meas WHERE objid IN ("
        + ",".join(map(str, lc_ids))
        + ") ORDER BY objid, mjd"
    )
    epoch_sql = (
        "SELECT count(*) AS n, avg(vega) AS v FROM phat_v2.phot_meas "
        "WHERE mjd BETWEEN {lo!r} AND {hi!r} AND filter = '{f}'"
    )
    allpos = cat.query(
        "SELECT ra, dec FROM phat_v2.phot_mod WHERE random_id < "
        f"{min(100.0, 100.0 * args.xmatch / max(res.n_objects, 1))!r}"
    )
    n_x = min(args.xmatch, len(allpos))
    cosd = np.cos(np.radians(np.clip(np.asarray(allpos["dec"])[:n_x], -89.999, 89.999)))
    xra = (np.asarray(allpos["ra"])[:n_x] + rng.normal(0, 0.3, n_x) / 3600 / cosd) % 360
    xdec = np.clip(np.asarray(allpos["dec"])[:n_x] + rng.normal(0, 0.3, n_x) / 3600, -90, 90)

    rows: list[tuple[str, float, float | None, object, object]] = []
    if args.no_postgres:
        _log("PostgreSQL skipped")
        return {"rows": rows, "meta": meta}
    from cloudphot.catalog._postgres import TempPostgres, q3c_available

    if not q3c_available():
        _log("PostgreSQL + q3c not installed: skipping the peer")
        return {"rows": rows, "meta": meta}
    with TempPostgres(shared_buffers="512MB") as pg:
        conn = pg.connect()
        t_mod = pg.load_table(conn, "phat_v2", "phot_mod", files_mod)
        t_meas = pg.load_table(
            conn, "phat_v2", "phot_meas", files_meas, extra_indexes=("mjd", "filter")
        )
        if not math.isnan(build_s):
            rows.append(("ingest", build_s, t_mod + t_meas, res.n_objects, None))
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_total_relation_size('phat_v2.phot_mod') "
                "+ pg_total_relation_size('phat_v2.phot_meas')"
            )
            meta["pg_bytes"] = cur.fetchone()[0]
        _log(f"{shape}: PostgreSQL ingest {t_mod + t_meas:.0f} s")

        def pg_rows(sql):
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()

        def pair(label, ours_fn, theirs_fn, items, count_ours=None, count_theirs=None, repeats=1):
            a, b = interleaved(ours_fn, theirs_fn, items, repeats)
            n_o = count_ours(items[0]) if count_ours else None
            n_t = count_theirs(items[0]) if count_theirs else None
            rows.append((label, a, b, n_o, n_t))
            _log(f"{shape}: {label}: {a * 1e3:.1f} ms vs {b * 1e3:.1f} ms ({a / b:.2f})")

        for label, r in RADII.items():
            sql_of = lambda c, r=r, label=label: cone_sql.format(
                cols=cols[label], ra=c[0], dec=c[1], r=r / 3600
            )
            pair(
                f"cone {label}" + ("" if cols[label] == "*" else " (5 columns)"),
                lambda c, f=sql_of: cat.query(f(c)),
                lambda c, f=sql_of: pg_rows(f(c)),
                centres,
                lambda c, f=sql_of: len(cat.query(f(c))),
                lambda c, f=sql_of: len(pg_rows(f(c))),
            )
        pair(
            "GROUP BY pix4096",
            lambda _: cat.query(Q2),
            lambda _: pg_rows(Q2),
            [0],
            lambda _: len(cat.query(Q2)),
            lambda _: len(pg_rows(Q2)),
            repeats=3,
        )
        lcs = lc_ids[: args.cones * 2]
        pair(
            "1 light curve (SQL)",
            lambda o: cat.query(lc_sql.format(o=o)),
            lambda o: pg_rows(lc_sql.format(o=o)),
            lcs,
            lambda o: len(cat.query(lc_sql.format(o=o))),
            lambda o: len(pg_rows(lc_sql.format(o=o))),
        )
        pair(
            "1 light curve (Catalog.lightcurve)",
            lambda o: cat.lightcurve(o),
            lambda o: pg_rows(
                f"SELECT objid, mjd, filter, vega, err, snr, flag, exptime, image, ra, dec "
                f"FROM phat_v2.phot_meas WHERE objid = {o} ORDER BY mjd"
            ),
            lcs,
        )
        pair(
            f"{len(lc_ids)} light curves (one query)",
            lambda _: cat.query(lc_batch),
            lambda _: pg_rows(lc_batch),
            [0],
            lambda _: len(cat.query(lc_batch)),
            lambda _: len(pg_rows(lc_batch)),
            repeats=3,
        )
        e_sql = lambda e: epoch_sql.format(lo=e[0] - 0.01, hi=e[0] + 0.01, f=e[1])
        pair(
            "MJD window + filter (count, avg)",
            lambda e: cat.query(e_sql(e)),
            lambda e: pg_rows(e_sql(e)),
            epoch_items,
            lambda e: int(cat.query(e_sql(e))["n"][0]),
            lambda e: pg_rows(e_sql(e))[0][0],
        )
        # cross-match: cloudphot's Catalog.crossmatch vs an uploaded, Q3C-indexed table
        t0 = time.perf_counter()
        xm = cat.crossmatch(xra, xdec, 1.0)
        ours_x = time.perf_counter() - t0
        with conn.cursor() as cur:
            cur.execute("CREATE UNLOGGED TABLE upload (idx integer, ra float8, dec float8)")
            with cur.copy("COPY upload FROM STDIN") as cp:
                for i in range(n_x):
                    cp.write_row((i, float(xra[i]), float(xdec[i])))
            cur.execute("CREATE INDEX ON upload (q3c_ang2ipix(ra, dec))")
            cur.execute("ANALYZE upload")
        xsql = (
            "SELECT DISTINCT ON (u.idx) u.idx, m.objid FROM upload u JOIN phat_v2.phot_mod m "
            "ON q3c_join(u.ra, u.dec, m.ra, m.dec, 1/3600.) "
            "ORDER BY u.idx, q3c_dist(u.ra, u.dec, m.ra, m.dec)"
        )
        t0 = time.perf_counter()
        nx_pg = len(pg_rows(xsql))
        rows.append(
            (f'1" cross-match of {n_x} positions', ours_x, time.perf_counter() - t0, len(xm), nx_pg)
        )
        # the long-lived TAP service (its own process, as PostgreSQL is): HTTP POST
        # /tap/sync, LANG=SQL, Parquet parsed by this client, against the same psycopg calls
        with TapServer(ws) as tap:
            for label in ('1"', '10"', "1'"):
                sql_of = lambda c, r=RADII[label], label=label: cone_sql.format(
                    cols=cols[label], ra=c[0], dec=c[1], r=r / 3600
                )
                pair(
                    f"cone {label} (TAP service)",
                    lambda c, f=sql_of: tap.query(f(c)),
                    lambda c, f=sql_of: pg_rows(f(c)),
                    centres,
                    lambda c, f=sql_of: tap.query(f(c)).num_rows,
                    lambda c, f=sql_of: len(pg_rows(f(c))),
                )
            pair(
                "1 light curve (TAP service)",
                lambda o: tap.query(lc_sql.format(o=o)),
                lambda o: pg_rows(lc_sql.format(o=o)),
                lcs,
                lambda o: tap.query(lc_sql.format(o=o)).num_rows,
                lambda o: len(pg_rows(lc_sql.format(o=o))),
            )
            pair(
                "GROUP BY pix4096 (TAP service)",
                lambda _: tap.query(Q2),
                lambda _: pg_rows(Q2),
                [0],
                lambda _: tap.query(Q2).num_rows,
                lambda _: len(pg_rows(Q2)),
                repeats=3,
            )
        # one-shot commands: a new process each, as a user at a shell
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        psql = str(Path(pg.bindir) / "psql")
        cloudphot = [sys.executable, "-m", "cloudphot.cli", "--workdir", str(ws), "query"]

        def one_shot(cmd):
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)

        q1 = lambda c: cone_sql.format(cols="*", ra=c[0], dec=c[1], r=1 / 3600)
        pair(
            'one-shot 1" cone (cloudphot query vs psql -c)',
            lambda c: one_shot([*cloudphot, q1(c), "--format", "csv"]),
            lambda c: one_shot(
                [psql, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-At", "-c", q1(c)]
            ),
            centres[: args.one_shot],
        )
        big = "SELECT * FROM phat_v2.phot_mod LIMIT 100000"
        pair(
            "one-shot 100,000-row page, 94 columns (text table)",
            lambda _: one_shot([*cloudphot, big]),
            lambda _: one_shot(
                [psql, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-c", big]
            ),
            [0],
        )
        conn.close()
    meta["load_end"] = _load()
    cat.close()
    return {"rows": rows, "meta": meta}


def report(shape: str, out: dict, args) -> str:
    meta, rows = out["meta"], out["rows"]
    lines = [
        f"#### Shape `{shape}`: {meta['objects']:,} objects, {meta['measurements']:,} "
        f"measurements, {meta['partitions']} phot_mod / {meta['meas_partitions']} phot_meas "
        f"partitions ({meta['fields']} fields; load averages {meta['load_start']} at the start, "
        f"{meta.get('load_end', '?')} at the end)",
        "",
        "| step | cloudphot | PostgreSQL 15 + Q3C | cloudphot / PG | target | rows (ours / PG) |",
        "|---|---|---|---|---|---|",
    ]
    for label, ours, theirs, n_o, n_t in rows:
        unit = (
            (lambda s: f"{s:.1f} s")
            if label == "ingest" or "cross-match" in label
            else (lambda s: f"{s * 1e3:.1f} ms")
        )
        ratio = ours / theirs if theirs else float("nan")
        key = label.split(" (5 columns)")[0]
        target = TARGETS.get(key)
        verdict = (
            ""
            if target is None
            else (f"<= {target:g}: " + ("met" if ratio <= target else "**missed**"))
        )
        counts = "" if n_o is None and n_t is None else f"{n_o} / {n_t}"
        lines.append(
            f"| {label} | {unit(ours)} | {unit(theirs)} | {ratio:.2f} | {verdict} | {counts} |"
        )
    gib = meta["bytes"] / 2**30
    pg = meta.get("pg_bytes")
    lines.append(
        f"| storage (tables + indexes) | {gib:.2f} GiB | "
        + (f"{pg / 2**30:.2f} GiB | {gib / (pg / 2**30):.2f} | | |" if pg else "n/a | | | |")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="dense,sparse", help="comma-separated: dense, sparse")
    ap.add_argument("--objects", type=int, default=1_000_000, help="approximate objects per shape")
    ap.add_argument("--epochs", type=int, default=10, help="measurements per object (2 filters)")
    ap.add_argument(
        "--density",
        type=float,
        default=PHAT_DENSITY_PER_ARCSEC2,
        help="dense shape: stars/arcsec^2",
    )
    ap.add_argument(
        "--field-size", type=float, default=FIELD_SIZE_ARCSEC, help="dense shape: arcsec"
    )
    ap.add_argument("--cones", type=int, default=15, help="random centres (and objids) per query")
    ap.add_argument("--one-shot", type=int, default=7, help="one-shot command runs")
    ap.add_argument("--lightcurves", type=int, default=1000)
    ap.add_argument("--xmatch", type=int, default=100_000, help="positions to cross-match")
    ap.add_argument("--workdir", default=None, help="keep the workspaces here (default: temp)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: query the catalogs an earlier run built there (no ingest timing)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--build-batch", type=int, default=None, help="fields per catalog version")
    ap.add_argument("--row-group-rows", type=int, default=None)
    ap.add_argument("--partition-order", type=int, default=None)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(args.workdir or tempfile.mkdtemp(prefix="cloudphot-bench-"))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sections = []
    try:
        for shape in args.shapes.split(","):
            out = run_shape(shape.strip(), root, args)
            sections.append(report(shape.strip(), out, args))
            print(sections[-1] + "\n", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    import duckdb

    head = (
        f"Run {started} on {platform.node()} ({os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}; command: `PYTHONPATH=src python benchmarks/catalog_bench.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`"
    )
    print(head + "\n\n" + "\n\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
