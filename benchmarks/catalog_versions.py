"""Catalog versions: storage, build time and verification cost, against the previous build.

    PYTHONPATH=src python benchmarks/catalog_versions.py --fields 10 --density 0.1

One synthetic survey (``--fields`` fields in a row of pointings, overlapping by 10 %)
is published one field per version, ``--fields`` versions, twice on the same data
and interleaved (for each field: one build, then the other, alternating which goes
first):

``previous``  the build as it was on main before versions shared their partitions
              (``git show <rev>:src/cloudphot/catalog/build.py``, loaded as a module of
              this package): every version a full HATS tree of server-side copies;
``shared``    today's build: the manifest names unchanged partitions where the version
              that wrote them put them, and identical re-derived partitions are shared.

Storage is what S3 bills: every distinct key under ``catalogs/`` at its size (a local
hard link is free, a CopyObject is not). Verification: the SHA-256 throughput of this
machine, and the first query of a process with and without checking its files
(interleaved, medians), on the last version. Prints a Markdown section for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cloudphot.catalog import integrity
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.build import build_catalog, read_manifest
from cloudphot.catalog.synthetic import make_survey
from cloudphot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def load_previous(rev: str):
    """The build module at ``rev``, importable as ``cloudphot.catalog._build_previous``."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:src/cloudphot/catalog/build.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import cloudphot.catalog as pkg

    path = Path(tempfile.mkdtemp(prefix="prev-build-")) / "_build_previous.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(
        "cloudphot.catalog._build_previous", path, submodule_search_locations=None
    )
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = pkg.__name__
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 10 ms)."""

    def __enter__(self):
        import threading

        self.peak = self.base = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def billed(store, bucket: str, survey: str) -> int:
    return sum(i.size for i in store.list(bucket, f"catalogs/{survey}/"))


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=10)
    ap.add_argument("--density", type=float, default=0.1, help="stars per arcsec^2")
    ap.add_argument("--size", type=float, default=120.0, help="field size, arcsec")
    ap.add_argument("--epochs", type=int, default=8, help="epochs per filter")
    ap.add_argument("--previous", default="7b49125", help="git revision of the previous build")
    ap.add_argument("--repeats", type=int, default=7, help="first-query timings")
    args = ap.parse_args(argv)

    prev_mod = load_previous(args.previous)
    work = Path(tempfile.mkdtemp(prefix="catalog-versions-"))
    cats, stores = {}, {}
    try:
        base = Settings.from_env(home=work / "shared", env={})
        cat = Catalog(base)
        t0 = time.perf_counter()
        survey = make_survey(
            cat.store,
            base.bucket("products"),
            n_fields_ra=args.fields,
            density_per_arcsec2=args.density,
            epochs_per_filter=args.epochs,
            size_arcsec=args.size,
            cepheid_fraction=0.0,
        )
        sim = time.perf_counter() - t0
        shutil.copytree(work / "shared", work / "previous")
        for mode in ("shared", "previous"):
            s = Settings.from_env(home=work / mode, env={})
            cats[mode] = Catalog(s)
            store = cats[mode].store
            store.copies_are_free = False  # bill as S3 does: a copy is a new object
            stores[mode] = store
        bucket = base.bucket("products")
        builders = {"shared": build_catalog, "previous": prev_mod.build_catalog}
        ids = [f.field_id for f in survey.fields]
        rows = []
        for i in range(len(ids)):
            order = ("shared", "previous") if i % 2 == 0 else ("previous", "shared")
            row = {"version": i + 1}
            for mode in order:
                t = time.perf_counter()
                with PeakRSS() as mem:
                    res = builders[mode](stores[mode], bucket, base.survey, ids[: i + 1])
                row[f"{mode}_s"] = time.perf_counter() - t
                row[f"{mode}_mb"] = (mem.peak - mem.base) / 1e6
                row[f"{mode}_bytes"] = billed(stores[mode], bucket, base.survey)
                row["objects"] = res.n_objects
                row["measurements"] = res.n_measurements
            rows.append(row)
        last = read_manifest(stores["shared"], bucket, base.survey)
        one_version = sum(e["size"] for _, _, e in integrity.manifest_files(last))

        # verification: hashing speed, and a first query with and without it
        files = [stores["shared"].path_of(bucket, k) for _, k, _ in integrity.manifest_files(last)]
        t = time.perf_counter()
        for f in files:
            integrity.sha256_file(f)
        hash_s = time.perf_counter() - t
        total = sum(f.stat().st_size for f in files)
        q = "SELECT count(*) AS n, avg(f475w_vega) AS m FROM phat_v2.phot_mod WHERE f475w_vega < 90"
        cone = (
            "SELECT * FROM phat_v2.phot_mod WHERE q3c_radial_query(ra, dec, {ra}, {dec}, 10/3600.0)"
        )
        c0 = survey.fields[len(ids) // 2]
        timings: dict[str, list[float]] = {"checked": [], "unchecked": []}
        cone_t: dict[str, list[float]] = {"checked": [], "unchecked": []}
        hashed: dict[str, int] = {}
        s_shared = Settings.from_env(home=work / "shared", env={})
        for r in range(args.repeats):
            for mode in ("checked", "unchecked") if r % 2 == 0 else ("unchecked", "checked"):
                integrity.CHECKS.forget()
                with Catalog(s_shared) as c:
                    if mode == "unchecked":
                        c.engine.verify = lambda paths: None
                    _ = c.engine  # (opened before the clock: both modes pay the same)
                    before = integrity.CHECKS.bytes_hashed
                    t = time.perf_counter()
                    c.query(q)
                    timings[mode].append(time.perf_counter() - t)
                    hashed[mode] = integrity.CHECKS.bytes_hashed - before
                integrity.CHECKS.forget()
                with Catalog(s_shared) as c:
                    if mode == "unchecked":
                        c.engine.verify = lambda paths: None
                    _ = c.engine
                    t = time.perf_counter()
                    c.query(cone.format(ra=c0.ra_deg, dec=c0.dec_deg))
                    cone_t[mode].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in timings.items()}
        cmed = {k: statistics.median(v) for k, v in cone_t.items()}

        print(
            f"### {args.fields} versions, one field each "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n"
        )
        print(
            f"{platform.machine()} VM, {os.cpu_count()} cores shared, load {load()} at the end; "
            f'{args.fields} fields of {args.size:.0f}" at {args.density} stars/arcsec^2, '
            f"{args.epochs} epochs per filter (simulated in {sim:.0f} s); previous build = "
            f"`{args.previous}`; builds interleaved, alternating which runs first.\n"
        )
        print(
            "| version | objects | measurements | previous build s | shared build s | "
            "ratio | S3 bytes previous | S3 bytes shared | ratio | peak RSS growth previous / shared |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| v{r['version']} | {r['objects']:,} | {r['measurements']:,} | "
                f"{r['previous_s']:.2f} | {r['shared_s']:.2f} | "
                f"{r['shared_s'] / r['previous_s']:.2f} | {r['previous_bytes'] / 1e6:.2f} MB | "
                f"{r['shared_bytes'] / 1e6:.2f} MB | "
                f"{r['shared_bytes'] / r['previous_bytes']:.2f} | "
                f"{r['previous_mb']:.0f} / {r['shared_mb']:.0f} MB |"
            )
        tot_p = sum(r["previous_s"] for r in rows)
        tot_s = sum(r["shared_s"] for r in rows)
        print(
            f"\nAll {args.fields} builds: previous {tot_p:.1f} s, shared {tot_s:.1f} s "
            f"(ratio {tot_s / tot_p:.2f}). Storage of all versions: previous "
            f"{rows[-1]['previous_bytes'] / 1e6:.1f} MB, shared "
            f"{rows[-1]['shared_bytes'] / 1e6:.1f} MB; one self-contained version is "
            f"{one_version / 1e6:.1f} MB, so the shared store holds "
            f"{rows[-1]['shared_bytes'] / one_version:.2f} versions' worth for "
            f"{args.fields} versions (previous: "
            f"{rows[-1]['previous_bytes'] / one_version:.2f}).\n"
        )
        print(
            f"Verification: SHA-256 of the last version's {len(files)} files "
            f"({total / 1e6:.1f} MB) {hash_s:.3f} s = {total / 1e6 / hash_s:.0f} MB/s; "
            f"first query of a process (a scan of phot_mod, which hashes its "
            f"{hashed['checked'] / 1e6:.1f} MB), median of "
            f"{args.repeats}: {med['checked'] * 1e3:.0f} ms checked vs "
            f'{med["unchecked"] * 1e3:.0f} ms unchecked; first 10" cone: '
            f"{cmed['checked'] * 1e3:.0f} ms vs {cmed['unchecked'] * 1e3:.0f} ms; later "
            f"queries in the process: one stat() per file."
        )
    finally:
        for c in cats.values():
            c.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
