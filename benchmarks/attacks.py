"""Issue 14's attacks, run again from outside the test suite; prints a table of outcomes.

    python benchmarks/attacks.py [--out DIR] [--fuzzed 391] [--kills 4] [--only fits,events,...]

Five campaigns, each on its own local workspace under ``--out``:

- ``fits``: fuzzed exposures (one to four raw header-card edits of real and simulated
  files, seeded) uploaded with good ones in mixed batches through ``cloudphot upload``;
  every file must end registered with a valid record or refused with a named reason,
  and no stored row may change. Plus the issue's re-upload: a good exposure's copy with
  a changed pointing under another key.
- ``events``: the malformed-event corpus of every Lambda step, and malformed stored
  events before the dispatcher among good uploads (``cloudphot run``).
- ``kill``: ``cloudphot run`` SIGKILLed at random moments of a tiny field's reduction,
  then run to the end; the catalog must equal a clean run's row for row.
- ``disk``: the same field reduced on a full disk (a small tmpfs), then the disk grown
  and the failed jobs retried.
- ``readonly``: uploads while the tables file is on a read-only mount.

``disk`` and ``readonly`` mount tmpfs (root only; they are skipped otherwise). Nothing
is asserted: the table says what happened, and the exit status is 1 when any outcome
is one the issue forbids (an unnamed crash, a wrong record, a lost row, exit 0 on a
failure).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "fits"), str(ROOT / "tests" / "events")]

ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "cloudphot",
}


def cli(home: Path, *argv: str, timeout: float = 1800) -> tuple[int, str]:
    """``cloudphot --workdir HOME ARGV`` as a subprocess: (exit status, output)."""
    p = subprocess.run(
        [sys.executable, "-m", "cloudphot.cli", "--workdir", str(home), *argv],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout + p.stderr


def platform(home: Path):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    return LocalPlatform(Settings.from_env(home=home, backend="local", env={}))


def named(error: str | None) -> bool:
    """Is ``error`` one of cloudphot's named errors (or a Step Functions one naming it)?"""
    import cloudphot.errors as errors

    if not error:
        return False
    base = error.split(".")[-1]
    cls = getattr(errors, base, None)
    return (isinstance(cls, type) and issubclass(cls, errors.CloudphotError)) or error in {
        "States.Timeout",
        "Runtime.Restarted",
    }


# ------------------------------------------------------------------------ fuzzed FITS
def fuzz_file(rng: random.Random, seeds: list[Path], n: int, out: Path) -> Path:
    from test_fuzz_headers import KEYS, _keys_of

    from cloudphot.errors import InvalidExposure
    from cloudphot.fits.header_scan import scan_fits
    from fits_cards import add_card, remove_card, set_card

    src = rng.choice(seeds)
    path = out / f"jf{n:06d}q_{'flt' if 'flt' in src.name else 'flc'}.fits"
    shutil.copy(src, path)
    set_card(path, 0, "ROOTNAME", f"'jf{n:06d}q'")  # its own id: refusals are the edits'
    values = [
        "NaN", "Inf", "-Inf", "1E308", "1E400", "0", "-1", "0.0", "99", "1D5", "''", "'",
        "T", "F", "'../../x'", "'a/b'", "'TABLE   '", "'IMAGE   '", "'RA---TAN-SIP'",
        "'F814W'", "'ACS'", "'WFC3'", "'IR'", "'HRC'", "-32", "16", "2880",
        str(rng.uniform(-1e6, 1e6)), str(rng.randint(-(2**40), 2**40)),
        "'" + "".join(rng.choice("abcXYZ/._- 09") for _ in range(rng.randint(0, 20))) + "'",
    ]  # fmt: skip
    for _ in range(rng.randint(1, 4)):
        try:
            hdus = len(scan_fits(path))
        except InvalidExposure:
            break
        hdu = rng.randrange(min(hdus, 7))
        key = rng.choice(KEYS) if rng.random() < 0.6 else rng.choice(_keys_of(path, hdu))
        op = rng.choice(["set", "set", "set", "add", "remove"])
        value = rng.choice(values)
        if op == "set":
            set_card(path, hdu, key, value)
        elif op == "add":
            add_card(path, hdu, key, value)
        else:
            remove_card(path, hdu, key)
    return path


def attack_fits(out: Path, nfuzzed: int, seed: int) -> dict:
    from test_fuzz_headers import _seed_files, assert_valid

    from cloudphot.commands.pipeline import REJECTION_ERRORS
    from cloudphot.simulate.exposure import synthetic_exposure

    home, files = out / "ws", out / "files"
    files.mkdir(parents=True)
    seeds = _seed_files(out / "seeds")
    rng = random.Random(seed)
    good = [
        synthetic_exposure(
            files / f"jgood{i:02d}q_flc.fits", rootname=f"jgood{i:02d}q", shape=(32, 32),
            nstars=5, seed=i,
        )
        for i in range(max(2, nfuzzed // 20))
    ]  # fmt: skip
    fuzzed = [fuzz_file(rng, seeds, n, files) for n in range(nfuzzed)]
    # the re-upload: a copy of a good exposure, pointing moved, under another key
    from fits_cards import set_card

    copy = files / "again" / good[0].name
    copy.parent.mkdir()
    set_card(good[0], 1, "CRVAL1", "11.5", out=copy)
    batches, order = [], [*fuzzed, *good]
    rng.shuffle(order)
    size = 25
    for k in range(0, len(order), size):
        batches.append(order[k : k + size])
    batches.append([copy])
    codes, snapshot = [], None
    for b, batch in enumerate(batches):
        d = out / "batches" / f"b{b:03d}"
        d.mkdir(parents=True)
        for f in batch:
            os.link(f, d / f.name)
        code, _text = cli(home, "upload", str(d), "--prefix", f"b{b:03d}")
        codes.append(code)
        p = platform(home)
        rows = {r["exposure_id"]: r for r in p.tables.scan("exposures")}
        p.close()
        if snapshot is None:
            snapshot = {}
        changed = [k for k, v in snapshot.items() if rows.get(k) != v]
        if changed:
            raise SystemExit(f"stored rows changed by batch {b}: {changed}")
        snapshot = rows
    p = platform(home)
    outcome: Counter = Counter()
    reasons: Counter = Counter()
    crashes, invalid = [], []
    by_key = {}
    for job in p.store.jobs():
        if job.task != "ingest_exposure":
            continue
        key = p.store.event(job.event_id).payload["key"]
        by_key[key] = job
    fuzz_names = {f.name for f in fuzzed}
    records = {r.get("key"): r for r in p.tables.scan("exposures")}
    for key, job in by_key.items():
        kind = "fuzzed" if key.rsplit("/", 1)[-1] in fuzz_names else "good"
        if key.startswith(f"b{len(batches) - 1:03d}/"):
            kind = "re-upload"
        if job.state.value == "SUCCEEDED":
            rec = records.get(key)
            try:
                assert_valid(json.loads(rec["record"]))
                outcome[kind, "accepted, valid"] += 1
            except Exception as exc:  # the campaign reports, it does not stop
                outcome[kind, "accepted, INVALID"] += 1
                invalid.append(f"{key}: {type(exc).__name__} {exc}"[:200])
        elif job.error in REJECTION_ERRORS:
            outcome[kind, f"refused: {job.error}"] += 1
            reasons[_reason(job.cause)] += 1
        elif named(job.error):
            outcome[kind, f"failed, named: {job.error}"] += 1
        else:
            outcome[kind, f"CRASH: {job.error}"] += 1
            crashes.append(f"{key}: {job.error}: {job.cause}"[:300])
    p.close()
    nonzero = sum(c != 0 for c in codes)
    # a batch with a refusal or failure must not exit 0
    silent = 0
    for b, code in enumerate(codes):
        jobs = [j for k, j in by_key.items() if k.startswith(f"b{b:03d}/")]
        silent += code == 0 and any(j.state.value != "SUCCEEDED" for j in jobs)
    wrong = sum(
        v for (kind, what), v in outcome.items() if kind == "good" and what != "accepted, valid"
    )
    wrong += sum(
        v for (kind, what), v in outcome.items() if kind == "re-upload" and "Duplicate" not in what
    )
    return {
        "files": {"fuzzed": nfuzzed, "good": len(good), "re-upload": 1},
        "batches": len(batches),
        "batches exiting non-zero": nonzero,
        "batches with a failure exiting 0": silent,
        "outcomes": {f"{k[0]}: {k[1]}": v for k, v in sorted(outcome.items())},
        "top refusal reasons": dict(reasons.most_common(8)),
        "stored rows changed": 0,
        "crashes": crashes,
        "invalid records": invalid,
        "bad": len(crashes) + len(invalid) + silent + wrong,
    }


def _reason(cause: str | None) -> str:
    """The refusal's reason without the file name and values: what kind of refusal."""
    import re

    try:
        message = json.loads(cause or "")["errorMessage"]
    except (ValueError, TypeError, KeyError):
        message = cause or ""
    message = message.split(": ", 1)[-1]
    return re.sub(r"'[^']*'|-?\d[\d.e+-]*", "…", message)[:70]


# ------------------------------------------------------------------------ malformed events
def attack_events(out: Path) -> dict:
    from test_malformed_events import _event, _steps, corpus

    from cloudphot.errors import CloudphotError
    from cloudphot.simulate.exposure import synthetic_exposure

    home = out / "ws"
    cli(home, "init")
    p = platform(home)
    counts: Counter = Counter()
    bugs = []
    for step, (fn, valid) in sorted(_steps().items()):
        for label, request in corpus(valid):
            try:
                fn(request, p.services)
                counts["step requests: returned"] += 1
            except CloudphotError:
                counts["step requests: named error"] += 1
            except Exception as exc:  # counted, not raised: this is the campaign
                counts["step requests: UNNAMED"] += 1
                bugs.append(f"{step} {label}: {type(exc).__name__}: {exc}"[:200])
    # malformed stored events among good uploads, then one `cloudphot run`
    valid = {**_event("object.created", {}), "payload": {"bucket": "raw", "key": "a_flc.fits"}}
    stored = 0
    for n, (_label, item) in enumerate(corpus(valid)):
        if not isinstance(item, dict):
            continue
        item = {**item, "event_id": f"poison-{n:04d}"}
        if not isinstance(item.get("payload"), str):
            item["payload"] = json.dumps(item.get("payload"), default=str)
        try:
            p.tables.put("events", item)
            stored += 1
        except CloudphotError:
            counts["stored events: refused by the tables"] += 1
    p.close()
    src = out / "good"
    good = [
        synthetic_exposure(src / f"jevt{i:02d}q_flc.fits", rootname=f"jevt{i:02d}q",
                           shape=(32, 32), nstars=5, seed=i)
        for i in range(3)
    ]  # fmt: skip
    _code_up, _ = cli(home, "upload", *map(str, good), "--no-run")
    code, _text = cli(home, "run")
    p = platform(home)
    letters = p.store.dead_letters()
    registered = sum(1 for r in p.tables.scan("exposures") if r["exposure_id"].startswith("jevt"))
    pending = [j.job_id for j in p.store.jobs() if j.state.value in ("PENDING", "RUNNING")]
    p.close()
    return {
        **dict(counts),
        "step requests: total": sum(v for k, v in counts.items() if k.startswith("step")),
        "stored malformed events": stored,
        "set aside as dead letters": len(letters),
        "good uploads registered after them": f"{registered} of {len(good)}",
        "jobs left pending": len(pending),
        "`cloudphot run` exit status": code,
        "unnamed errors": bugs[:20],
        "bad": len(bugs)
        + (registered != len(good))
        + bool(pending)
        + (code == 0 and bool(letters)),
    }


# ------------------------------------------------------------------------ SIGKILL, full disk
def tiny_field(out: Path):
    from cloudphot.simulate.field import simulate_field

    sim = simulate_field(out / "field", preset="tiny", seed=3)
    manifest = out / "field" / "manifests" / f"{sim.field_id}.json"
    manifest.parent.mkdir(exist_ok=True)
    manifest.write_text(
        json.dumps(
            {"field_id": sim.field_id, "exposures": [p.name.split("_")[0] for p in sim.exposures]}
        )
    )
    return sim, manifest


def catalog_rows(home: Path, field_id: str):
    from astropy.table import Table

    from cloudphot.products import keys

    p = platform(home)
    path = p.settings.buckets_dir / p.settings.bucket("products") / keys.field_catalog(field_id)
    p.close()
    return Table.read(path) if path.exists() else None


def same(a, b) -> tuple[int, int]:
    """(rows identical in every column, rows of the clean catalog)."""
    import numpy as np

    if a is None or a.colnames != b.colnames or len(a) != len(b):
        return 0, len(b)
    ok = np.ones(len(b), bool)
    for c in b.colnames:
        x, y = np.asarray(a[c]), np.asarray(b[c])
        eq = (x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else x == y
        ok &= eq.reshape(len(b), -1).all(axis=1)
    return int(ok.sum()), len(b)


def upload_field(home: Path, sim, manifest: Path) -> int:
    code, _ = cli(home, "upload", *map(str, sim.exposures), "--no-run")
    code2, _ = cli(home, "upload", str(manifest), "--no-run")
    return code or code2


def attack_kill(out: Path, kills: int, seed: int, clean) -> dict:
    sim, manifest = clean["field"]
    home = out / "ws"
    upload_field(home, sim, manifest)
    rng = random.Random(seed)
    moments = []
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudphot.cli", "--workdir", str(home), "run"],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # early enough that the work left (less after each kill) is still running
        delay = rng.uniform(4, max(5.0, clean["seconds"] / 3))
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            moments.append(round(delay, 1))
        proc.wait(timeout=60)
    code, _ = cli(home, "run")
    ok, n = same(catalog_rows(home, sim.field_id), clean["catalog"])
    return {
        "SIGKILLs (seconds into a run)": moments,
        "final `cloudphot run` exit status": code,
        "catalog rows identical to the clean run": f"{ok} of {n}",
        "bad": int(ok != n or code != 0),
    }


def _mount(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
        ).returncode
        == 0
    )


def attack_disk(out: Path, clean) -> dict:
    sim, manifest = clean["field"]
    mnt = out / "mnt"
    if os.geteuid() != 0 or not _mount(mnt, "9m"):
        return {"skipped": "needs root to mount a small tmpfs", "bad": 0}
    try:
        home = mnt / "ws"
        cli(home, "init")
        code_up, text_up = cli(home, "upload", *map(str, sim.exposures), str(manifest))
        failed = [line for line in text_up.splitlines() if "No space" in line or "ENOSPC" in line]
        p = platform(home)
        states = Counter(j.state.value for j in p.store.jobs())
        errors = Counter(j.error for j in p.store.jobs() if j.error)
        registered = len(list(p.tables.scan("exposures")))
        p.close()
        subprocess.run(["mount", "-o", "remount,size=400m", str(mnt)], check=True)
        code_retry, _text_retry = cli(home, "retry", "--failed")
        code_run, _ = cli(home, "run")
        ok, n = same(catalog_rows(home, sim.field_id), clean["catalog"])
        return {
            "upload on a 9 MB disk: exit status": code_up,
            "jobs by state": dict(states),
            "errors": {str(k): v for k, v in errors.items()},
            "lines naming the full disk": len(failed),
            "exposures registered before the disk filled": registered,
            "after growing the disk, `retry --failed` exit status": code_retry,
            "catalog rows identical to the clean run": f"{ok} of {n}",
            "bad": int(code_up == 0 or ok != n or code_retry != 0 or code_run != 0),
        }
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def attack_readonly(out: Path) -> dict:
    from cloudphot.simulate.exposure import synthetic_exposure

    if os.geteuid() != 0:
        return {"skipped": "needs root to mount read-only", "bad": 0}
    home = out / "ws"
    src = out / "in"
    first = synthetic_exposure(src / "jro001q_flc.fits", rootname="jro001q", shape=(32, 32))
    second = synthetic_exposure(src / "jro002q_flc.fits", rootname="jro002q", shape=(32, 32))
    third = synthetic_exposure(src / "jro003q_flc.fits", rootname="jro003q", shape=(32, 32))
    cli(home, "upload", str(first))
    cli(home, "upload", str(third), "--no-run")  # its event is stored, its work queued
    p = platform(home)
    tables = p.settings.tables_path
    before = sorted(r["exposure_id"] for r in p.tables.scan("exposures"))
    p.close()
    # the tables file alone on a read-only bind mount (root can write any mode 0444 file)
    ro = subprocess.run(["mount", "--bind", str(tables), str(tables)]).returncode == 0
    ro = ro and subprocess.run(["mount", "-o", "remount,ro,bind", str(tables)]).returncode == 0
    if not ro:
        return {"skipped": "could not bind-mount read-only", "bad": 0}
    try:
        code_up, text_up = cli(home, "upload", str(second))
        code_status, _text_status = cli(home, "status")
        code_run, text_run = cli(home, "run")
    finally:
        subprocess.run(["umount", str(tables)])
    p = platform(home)
    after = sorted(r["exposure_id"] for r in p.tables.scan("exposures"))
    p.close()
    code_again, _ = cli(home, "upload", str(second))
    code_drain, _ = cli(home, "run")
    p = platform(home)
    final = sorted(r["exposure_id"] for r in p.tables.scan("exposures"))
    p.close()
    traceback = "Traceback" in text_up or "Traceback" in text_run
    return {
        "upload with read-only tables: exit status": code_up,
        "its message": text_up.strip().splitlines()[-1][:160] if text_up.strip() else "",
        "a Python traceback shown": traceback,
        "status with read-only tables: exit status": code_status,
        "run with read-only tables: exit status": code_run,
        "its message ": text_run.strip().splitlines()[-1][:160] if text_run.strip() else "",
        "stored exposures kept": f"{len(set(before) & set(after))} of {len(before)}",
        "upload again once writable: exit status": code_again,
        "then run: exit status": code_drain,
        "exposures registered in the end": final,
        "bad": int(
            code_up == 0
            or code_run == 0
            or traceback
            or before != [x for x in after if x in before]
            or final != ["jro001q", "jro002q", "jro003q"]
        ),
    }


# ------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/cloudphot-attacks"))
    ap.add_argument("--fuzzed", type=int, default=391, help="fuzzed FITS files (391)")
    ap.add_argument("--kills", type=int, default=4, help="SIGKILLs of a run (4)")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--only", default="fits,events,kill,disk,readonly")
    args = ap.parse_args(argv)
    only = args.only.split(",")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    results = {}
    t0 = time.monotonic()
    if "fits" in only:
        results["fits"] = attack_fits(args.out / "fits", args.fuzzed, args.seed)
    if "events" in only:
        results["events"] = attack_events(args.out / "events")
    if {"kill", "disk"} & set(only):
        field = tiny_field(args.out / "clean")
        home = args.out / "clean" / "ws"
        start = time.monotonic()
        upload_field(home, *field)
        cli(home, "run")
        clean = {
            "field": field,
            "catalog": catalog_rows(home, field[0].field_id),
            "seconds": time.monotonic() - start,
        }
        if "kill" in only:
            results["kill"] = attack_kill(args.out / "kill", args.kills, args.seed, clean)
        if "disk" in only:
            results["disk"] = attack_disk(args.out / "disk", clean)
    if "readonly" in only:
        results["readonly"] = attack_readonly(args.out / "readonly")
    print(json.dumps(results, indent=1, default=str))
    print(f"\n{time.monotonic() - t0:.0f} s; load {os.getloadavg()}")
    bad = {k: v["bad"] for k, v in results.items() if v.get("bad")}
    print("forbidden outcomes:", bad or "none")
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
