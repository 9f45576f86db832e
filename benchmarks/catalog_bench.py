"""Photometry database benchmark: cloudphot (Parquet/HATS + DuckDB) vs PostgreSQL 15 + Q3C.

One command, same data, one run::

    PYTHONPATH=src python benchmarks/catalog_bench.py                 # defaults: 10M objects, 100M measurements
    PYTHONPATH=src python benchmarks/catalog_bench.py --objects 200000 --epochs 10   # reduced

Steps: generate PHAT-like M31 field products (PHAT density, ACS-sized fields,
streamed per field and per exposure so memory stays bounded); ingest = cloudphot
catalog build vs PostgreSQL load + Q3C index + CLUSTER + ANALYZE (as Data Lab
serves phat_v2); cone searches at 1", 10", 1' and 10' (median over random centres
inside the footprint, warm caches, SELECT * on phot_mod); the seed paper's
GROUP BY pix4096; light curves of 1,000 objects (one batched query, plus the
median single-object latency); a 1" cross-match of N positions (cloudphot:
Catalog.crossmatch; PostgreSQL: q3c_join against an uploaded, Q3C-indexed table).
Prints a Markdown section for benchmarks/RESULTS.md. Wall-clock numbers are
only meaningful relative to each other on the same machine.
"""

from __future__ import annotations

import argparse
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
from cloudphot.catalog.synthetic import (
    FIELD_SIZE_ARCSEC,
    M31_DEC_DEG,
    PHAT_DENSITY_PER_ARCSEC2,
    make_survey,
)
from cloudphot.settings import Settings


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


#: cones expected to hold more objects than this select five columns, not all 94
WIDE_CONE_ROWS = 1_000_000


def _progress(who: str, step: str, times: dict[str, float]) -> None:
    print(f"# {who} {step}: {times[step] * 1000:.1f} ms", file=sys.stderr, flush=True)


def run_one(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10_000_000, help="approximate object count")
    ap.add_argument("--epochs", type=int, default=10, help="measurements per object (2 filters)")
    ap.add_argument(
        "--density",
        type=float,
        default=PHAT_DENSITY_PER_ARCSEC2,
        help="stars per arcsec^2 (PHAT average ~18)",
    )
    ap.add_argument("--field-size", type=float, default=FIELD_SIZE_ARCSEC, help="arcsec")
    ap.add_argument("--cones", type=int, default=15, help="random centres per radius")
    ap.add_argument("--lightcurves", type=int, default=1000)
    ap.add_argument("--xmatch", type=int, default=1_000_000, help="positions to cross-match")
    ap.add_argument("--workdir", default=None, help="keep the workspace here (default: temp)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--build-batch",
        type=int,
        default=None,
        help="fields per catalog version (default: all at once up to 1M objects, "
        "else 2 fields per version to bound memory)",
    )
    ap.add_argument(
        "--row-group-rows",
        type=int,
        default=None,
        help="rows per Parquet row group (default: the catalog build's)",
    )
    ap.add_argument(
        "--partition-order",
        type=int,
        default=None,
        help="HEALPix order of the catalog partitions (default: the build's)",
    )
    args = ap.parse_args(argv)
    # a SIGTERM (timeout, Ctrl-C from a supervisor) unwinds the with-blocks, so the
    # temporary PostgreSQL server is stopped rather than orphaned
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    per_field = args.density * args.field_size**2
    if args.build_batch is None:
        args.build_batch = 0 if args.objects <= 1_000_000 else 2
    nfields = max(1, math.ceil(args.objects / per_field))
    nx = math.ceil(math.sqrt(nfields))
    ny = math.ceil(nfields / nx)
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="cloudphot-bench-"))
    settings = Settings.from_env(home=tmp, env={})
    cat = Catalog(settings, max_rows=100_000_000, timeout_s=3600)
    res: dict[str, object] = {}
    print(
        f'# workspace {tmp}; {nx}x{ny} fields of {args.field_size}" at {args.density}/arcsec^2',
        file=sys.stderr,
    )

    t0 = time.perf_counter()
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
    res["generate_s"] = time.perf_counter() - t0
    print(
        f"# generated {survey.n_field_rows} field rows, {survey.n_measurements} measurements "
        f"in {res['generate_s']:.1f} s",
        file=sys.stderr,
    )

    # the build holds the rows of the partitions it touches in memory: at the default
    # size, publish in batches of fields (each batch is a version; only the partitions it
    # touches are rewritten) so memory stays at a few fields' worth
    ids_all = [f.field_id for f in survey.fields]
    batch = args.build_batch or len(ids_all)
    build_s = 0.0
    for i in range(0, len(ids_all), batch):
        opts = {"row_group_rows": args.row_group_rows, "partition_order": args.partition_order}
        build = cat.build(ids_all[: i + batch], **{k: v for k, v in opts.items() if v})
        build_s += build.seconds
    res["build_s"] = build_s
    res["versions"] = build.version
    res["objects"] = build.n_objects
    res["measurements"] = build.n_measurements
    print(f"# cloudphot build {build_s:.1f} s ({build.version} versions)", file=sys.stderr)

    files_mod = cat.engine.files("phot_mod")
    files_meas = cat.engine.files("phot_meas")
    rng = np.random.default_rng(args.seed)
    # centres: random objects (so cones are inside the footprint)
    sample = cat.query(
        f"SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE random_id < "
        f"{min(100.0, 100.0 * 5000 / max(build.n_objects, 1))!r}"
    )
    centres = [
        (float(sample["ra"][i]), float(sample["dec"][i]))
        for i in rng.integers(0, len(sample), args.cones)
    ]
    radii = {'1"': 1.0, '10"': 10.0, "1'": 60.0, "10'": 600.0}
    # SELECT * (all 94 columns) unless a cone holds more than WIDE_CONE_ROWS objects at this
    # density (a 10' cone at PHAT density is ~20M rows: no client holds that many wide rows,
    # and Data Lab's own cone service caps results); those select the usual five columns
    area_deg2 = nx * ny * (args.field_size / 3600) ** 2
    expected = {
        label: min(1.0, math.pi * (r / 3600) ** 2 / area_deg2) * args.objects
        for label, r in radii.items()
    }
    narrow = "objid, ra, dec, f475w_vega, f814w_vega"
    cone_cols = {label: "*" if n <= WIDE_CONE_ROWS else narrow for label, n in expected.items()}
    cone_sql = (
        "SELECT {cols} FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {ra!r}, "
        "{dec!r}, {r!r})"
    )
    q2 = (
        "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
        "FROM phat_v2.phot_mod GROUP BY pix4096"
    )
    lc_ids = [
        int(x)
        for x in rng.choice(
            np.asarray(sample["objid"]), min(args.lightcurves, len(sample)), replace=False
        )
    ]
    lc_batch = (
        "SELECT objid, mjd, filter, vega, err FROM phat_v2.phot_meas WHERE objid IN ("
        + ",".join(map(str, lc_ids))
        + ") ORDER BY objid, mjd"
    )
    lc_one = (
        "SELECT objid, mjd, filter, vega, err FROM phat_v2.phot_meas WHERE objid = {o} ORDER BY mjd"
    )
    # cross-match positions: real objects jittered by 0.3", plus as many random misses
    allpos = cat.query(
        "SELECT ra, dec FROM phat_v2.phot_mod WHERE random_id < "
        f"{min(100.0, 100.0 * args.xmatch / max(build.n_objects, 1))!r}"
    )
    n_x = min(args.xmatch, len(allpos))
    cosd = math.cos(math.radians(M31_DEC_DEG))
    xra = np.asarray(allpos["ra"])[:n_x] + rng.normal(0, 0.3, n_x) / 3600 / cosd
    xdec = np.asarray(allpos["dec"])[:n_x] + rng.normal(0, 0.3, n_x) / 3600
    res["xmatch_n"] = n_x

    ours: dict[str, float] = {}
    counts: dict[str, float] = {}
    for label, r in radii.items():
        sql_at = cone_sql.format(
            cols=cone_cols[label], ra=centres[0][0], dec=centres[0][1], r=r / 3600
        )
        cat.query(sql_at)  # warm
        times, ns = [], []
        for ra, dec in centres:
            t0 = time.perf_counter()
            n = len(cat.query(cone_sql.format(cols=cone_cols[label], ra=ra, dec=dec, r=r / 3600)))
            times.append(time.perf_counter() - t0)
            ns.append(n)
        ours[f"cone {label}"] = statistics.median(times)
        counts[f"cone {label}"] = statistics.median(ns)
        _progress("cloudphot", f"cone {label}", ours)
    cat.query(q2)
    ours["GROUP BY pix4096"] = _median_time(lambda: cat.query(q2), 3)
    counts["GROUP BY pix4096"] = len(cat.query(q2))
    ours["1000 light curves (one query)"] = _median_time(lambda: cat.query(lc_batch), 3)
    counts["1000 light curves (one query)"] = len(cat.query(lc_batch))
    ours["1 light curve"] = statistics.median(
        [_median_time(lambda o=o: cat.query(lc_one.format(o=o)), 1) for o in lc_ids[:30]]
    )
    t0 = time.perf_counter()
    xm = cat.crossmatch(xra, xdec, 1.0)
    ours[f'1" cross-match of {n_x} positions'] = time.perf_counter() - t0
    counts[f'1" cross-match of {n_x} positions'] = len(xm)
    for k in list(ours)[len(radii) :]:
        _progress("cloudphot", k, ours)
    res["bytes"] = sum(os.path.getsize(f) for f in files_mod + files_meas)

    theirs: dict[str, float] = {}
    their_counts: dict[str, float] = {}
    if not args.no_postgres:
        from cloudphot.catalog._postgres import TempPostgres, q3c_available

        if not q3c_available():
            print("# PostgreSQL + q3c not installed: skipping the peer", file=sys.stderr)
        else:
            with TempPostgres(shared_buffers="512MB") as pg:
                conn = pg.connect()
                t_mod = pg.load_table(conn, "phat_v2", "phot_mod", files_mod)
                t_meas = pg.load_table(conn, "phat_v2", "phot_meas", files_meas)
                res["pg_ingest_s"] = t_mod + t_meas
                res["pg_bytes"] = run_one(
                    conn,
                    "SELECT pg_total_relation_size('phat_v2.phot_mod') "
                    "+ pg_total_relation_size('phat_v2.phot_meas')",
                )
                print(f"# postgres ingest {t_mod + t_meas:.1f} s", file=sys.stderr)

                def run(sql):
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        return cur.fetchall()

                for label, r in radii.items():
                    run(
                        cone_sql.format(
                            cols=cone_cols[label], ra=centres[0][0], dec=centres[0][1], r=r / 3600
                        )
                    )
                    times, ns = [], []
                    for ra, dec in centres:
                        t0 = time.perf_counter()
                        ns.append(
                            len(
                                run(
                                    cone_sql.format(
                                        cols=cone_cols[label], ra=ra, dec=dec, r=r / 3600
                                    )
                                )
                            )
                        )
                        times.append(time.perf_counter() - t0)
                    theirs[f"cone {label}"] = statistics.median(times)
                    their_counts[f"cone {label}"] = statistics.median(ns)
                    _progress("postgres", f"cone {label}", theirs)
                run(q2)
                theirs["GROUP BY pix4096"] = _median_time(lambda: run(q2), 3)
                their_counts["GROUP BY pix4096"] = len(run(q2))
                theirs["1000 light curves (one query)"] = _median_time(lambda: run(lc_batch), 3)
                their_counts["1000 light curves (one query)"] = len(run(lc_batch))
                theirs["1 light curve"] = statistics.median(
                    [_median_time(lambda o=o: run(lc_one.format(o=o)), 1) for o in lc_ids[:30]]
                )
                # upload the positions as Data Lab's xmatch does, then q3c_join
                t0 = time.perf_counter()
                with conn.cursor() as cur:
                    cur.execute(
                        "CREATE UNLOGGED TABLE upload (idx integer, ra double precision, "
                        "dec double precision)"
                    )
                    with cur.copy("COPY upload FROM STDIN") as cp:
                        for i in range(n_x):
                            cp.write_row((i, float(xra[i]), float(xdec[i])))
                    cur.execute("CREATE INDEX ON upload (q3c_ang2ipix(ra, dec))")
                    cur.execute("ANALYZE upload")
                res["pg_xmatch_upload_s"] = time.perf_counter() - t0
                xsql = (
                    "SELECT DISTINCT ON (u.idx) u.idx, m.objid FROM upload u JOIN phat_v2.phot_mod m "
                    "ON q3c_join(u.ra, u.dec, m.ra, m.dec, 1/3600.) "
                    "ORDER BY u.idx, q3c_dist(u.ra, u.dec, m.ra, m.dec)"
                )
                t0 = time.perf_counter()
                their_counts[f'1" cross-match of {n_x} positions'] = len(run(xsql))
                theirs[f'1" cross-match of {n_x} positions'] = time.perf_counter() - t0
                for k in list(theirs)[len(radii) :]:
                    _progress("postgres", k, theirs)
                conn.close()

    # ---------------------------------------------------------------- report
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}); "
        f"command: `PYTHONPATH=src python benchmarks/catalog_bench.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
        f"Data: {res['objects']:,} objects, {res['measurements']:,} measurements "
        f"({nx * ny} fields at {args.density}/arcsec^2), generated in {res['generate_s']:.1f} s.",
        "",
        "| step | cloudphot | PostgreSQL 15 + Q3C | ratio (PG / cloudphot) | rows (ours / PG) |",
        "|---|---|---|---|---|",
    ]
    pg_ing = res.get("pg_ingest_s")
    build_s = float(res["build_s"])
    pg_txt = f"{pg_ing:.2f} s" if pg_ing else "n/a"
    ratio_txt = f"{pg_ing / build_s:.2f}" if pg_ing else ""
    lines.append(
        f"| ingest (build / load+index+cluster) | {build_s:.2f} s | {pg_txt} | {ratio_txt} | |"
    )
    for k, v in ours.items():
        o = theirs.get(k)
        label = k.removeprefix("cone ")
        shown = k + (f" ({narrow})" if cone_cols.get(label, "*") != "*" else "")
        lines.append(
            f"| {shown} | {v * 1000:.1f} ms | {f'{o * 1000:.1f} ms' if o else 'n/a'} | "
            f"{f'{o / v:.2f}' if o else ''} | {counts.get(k, '')} / "
            f"{their_counts.get(k, '')} |"
        )
    ours_gib = res["bytes"] / 2**30
    pg_gib = res["pg_bytes"] / 2**30 if res.get("pg_bytes") else None
    lines.append(
        f"| storage (tables + indexes) | {ours_gib:.2f} GiB | "
        + (f"{pg_gib:.2f} GiB | {pg_gib / ours_gib:.2f} | |" if pg_gib else "n/a | | |")
    )
    if "pg_xmatch_upload_s" in res:
        lines.append(
            f"\nPostgreSQL cross-match upload (COPY + Q3C index) took a further "
            f"{res['pg_xmatch_upload_s']:.2f} s, not counted above."
        )
    print("\n".join(lines))
    if not args.workdir:
        cat.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
