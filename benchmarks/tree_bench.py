"""How long the event/job tree takes to show for a 20,000-job run: CLI and web API.

A run is synthesised directly in the workspace tables (no pipeline execution):
fields of 16 exposures, each exposure an ``object.created`` event -> ``ingest_exposure``
job -> ``exposure.registered`` event -> ``check_field`` job; the last check emits
``field.ready`` -> ``reduce_field`` job -> ``field.reduced``. About 1% of ingests fail
(``exposure.rejected``, no check) and 2% of field reductions fail on a Spot worker,
with real-looking ``ran_on``, transitions and error causes.

Timed, best of ``--repeat``:

- load: ``store.events()`` + ``store.jobs()`` (SQLite scan and decode), the common first step;
- ``build_tree`` alone;
- CLI: ``cloudphot tree`` (``commands.monitor.cmd_tree``: load, build, filter, rich
  rendering) with output to a null device, default (folded) and ``--all``;
- web: ``MonitorApp.handle("GET", "/api/tree", ...)`` to JSON bytes, default (folded),
  ``failed=1``, a search ``q=``, and ``all=1`` (every root, unfolded).

    python benchmarks/tree_bench.py [--jobs 20000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

EXPOSURES_PER_FIELD = 16


def synthesise(settings, n_jobs: int, seed: int = 0) -> dict[str, int]:
    """Write events and jobs of a finished run with some failures into the tables."""
    from cloudphot.events import Event, EventStore, Job, JobState, job_id_for
    from cloudphot.events.model import event_id_for_object
    from cloudphot.platform import open_platform

    rng = random.Random(seed)
    store = EventStore(open_platform(settings).tables)
    t0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

    def at(s: float) -> str:
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + s))
            + f".{int(s * 1000) % 1000:03d}Z"
        )

    def job(
        event: Event,
        task: str,
        machine: str,
        start: float,
        secs: float,
        ok: bool,
        error: str | None = None,
        cause: str | None = None,
        workers=None,
    ) -> Job:
        jid = job_id_for(event.event_id, task)
        state = JobState.SUCCEEDED if ok else JobState.FAILED
        ran = {
            "runtime": "local",
            "host": "bench",
            "pid": 4242,
            "cpu_seconds": round(secs * 0.8, 3),
        }
        if workers:
            ran["workers"] = workers
        arn = f"arn:aws:states:local:000000000000:execution:{machine}:{jid}"
        return Job(
            job_id=jid,
            event_id=event.event_id,
            task=task,
            executor={"kind": "state_machine", "name": machine},
            input={"event": event.as_input(), "job_id": jid, "task": task, "options": {}},
            state=state,
            attempts=1,
            created_at=at(start),
            updated_at=at(start + secs),
            execution_id=arn,
            error=error,
            cause=cause,
            ran_on=ran,
            output={"outcome": "ok"} if ok else None,
            transitions=[
                {
                    "state": "RUNNING",
                    "at": at(start + 0.01),
                    "host": "bench",
                    "pid": 4242,
                    "execution_id": arn,
                    "attempt": 1,
                },
                {
                    "state": state.value,
                    "at": at(start + secs),
                    "host": "bench",
                    "pid": 4242,
                    **({"error": error} if error else {}),
                },
            ],
        )

    counts = {"events": 0, "jobs": 0, "failed": 0}

    def put_event(e: Event) -> Event:
        store.record(e)
        counts["events"] += 1
        return e

    def put_job(j: Job) -> Job:
        store.create_job(j)
        counts["jobs"] += 1
        counts["failed"] += j.state is JobState.FAILED
        return j

    field_no, clock = 0, 0.0
    while counts["jobs"] < n_jobs:
        field_id = f"bench-f{field_no:05d}"
        registered = []
        for i in range(EXPOSURES_PER_FIELD):
            key = f"{field_id}/j{field_no:05d}{i:02d}q_flc.fits"
            e = put_event(
                Event(
                    event_id_for_object("raw", key, f"etag{field_no}-{i}"),
                    "object.created",
                    key.split("/")[-1],
                    {
                        "bucket": "raw",
                        "key": key,
                        "bucket_role": "raw",
                        "size": 168_000_000,
                        "etag": f"etag{field_no}-{i}",
                    },
                    source="s3",
                    created_at=at(clock),
                )
            )
            clock += 0.05
            ok = rng.random() > 0.01
            cause = (
                None
                if ok
                else json.dumps(
                    {
                        "errorMessage": f"s3://raw/{key}: truncated: HDU 1 "
                        "(SCI,1) declares 67108864 data bytes but the file "
                        "ends 1024 bytes short",
                        "errorType": "InvalidExposure",
                    }
                )
            )
            j = put_job(
                job(
                    e,
                    "ingest_exposure",
                    "IngestExposureStateMachine",
                    clock,
                    2.5,
                    ok,
                    None if ok else "InvalidExposure",
                    cause,
                )
            )
            etype = "exposure.registered" if ok else "exposure.rejected"
            ev = put_event(
                Event(
                    f"{j.job_id}.{etype}",
                    etype,
                    key.split("/")[-1][:9],
                    {"field_id": field_id},
                    source=j.job_id,
                    created_at=at(clock + 2.5),
                )
            )
            if ok:
                registered.append(ev)
        checks = [
            put_job(job(ev, "check_field", "CheckFieldStateMachine", clock + 3, 0.2, True))
            for ev in registered
        ]
        if checks:
            ready = put_event(
                Event(
                    f"{checks[-1].job_id}.field.ready",
                    "field.ready",
                    field_id,
                    {"field_id": field_id},
                    source=checks[-1].job_id,
                    created_at=at(clock + 3.2),
                )
            )
            ok = rng.random() > 0.02
            workers = [
                {
                    "task_arn": f"arn:aws:ecs:local:000000000000:task/cloudphot/{field_no:032x}",
                    "capacity_provider": "FARGATE_SPOT",
                    "log": None,
                }
            ]
            cause = (
                None
                if ok
                else json.dumps(
                    {
                        "StopCode": "SpotInterruption",
                        "StoppedReason": "Your Spot Task was interrupted.",
                        "Containers": [{"ExitCode": 143}],
                    }
                )
            )
            r = put_job(
                job(
                    ready,
                    "reduce_field",
                    "ReduceFieldStateMachine",
                    clock + 4,
                    600,
                    ok,
                    None if ok else "SpotInterrupted",
                    cause,
                    workers,
                )
            )
            if ok:
                put_event(
                    Event(
                        f"{r.job_id}.field.reduced",
                        "field.reduced",
                        field_id,
                        {"field_id": field_id},
                        source=r.job_id,
                        created_at=at(clock + 604),
                    )
                )
        field_no += 1
        clock += 5
    counts["fields"] = field_no
    return counts


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(n_jobs: int = 20_000, repeat: int = 3, profile: bool = False) -> dict:
    from cloudphot.commands.monitor import cmd_tree
    from cloudphot.monitor.tree import build_tree
    from cloudphot.monitor.web import MonitorApp
    from cloudphot.platform import open_platform
    from cloudphot.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(home=Path(tmp) / "ws", backend="local", env={})
        t = time.perf_counter()
        rt = open_platform(settings)
        counts = synthesise(settings, n_jobs)
        synth_s = time.perf_counter() - t
        rows: list[tuple[str, float, str]] = []

        secs, (events, jobs) = _best(lambda: (list(rt.store.events()), rt.store.jobs()), repeat)
        rows.append(("load events + jobs (SQLite scan, decode)", secs, ""))
        secs, roots = _best(lambda: build_tree(events, jobs), repeat)
        rows.append(("build_tree", secs, f"{len(roots)} roots"))

        def cli(*flags):
            args = argparse.Namespace(
                workdir=str(settings.home),
                command="tree",
                failed=False,
                subject=None,
                since=None,
                all=False,
                json=False,
            )
            for f in flags:
                setattr(args, f, True)
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                return cmd_tree(args)

        secs, _ = _best(lambda: cli(), repeat)
        rows.append(("CLI `cloudphot tree` (folded), to /dev/null", secs, ""))
        secs, _ = _best(lambda: cli("failed"), repeat)
        rows.append(("CLI `cloudphot tree --failed`", secs, ""))
        secs, _ = _best(lambda: cli("all"), max(1, repeat - 1))
        rows.append(("CLI `cloudphot tree --all` (every node rendered)", secs, ""))

        app = MonitorApp(rt)
        app._tables_stamp = lambda: None  # measure the real work first, no cache
        for label, query in (
            ("web /api/tree (folded)", ""),
            ("web /api/tree?failed=1", "failed=1"),
            ("web /api/tree?q=bench-f00042", "q=bench-f00042"),
            ("web /api/tree?all=1&limit=100000", "all=1&limit=100000"),
        ):
            secs, resp = _best(lambda q=query: app.handle("GET", "/api/tree", q, None), repeat)
            assert resp[0] == 200, resp[2][:200]
            rows.append((label, secs, f"{len(resp[2]) / 1e6:.2f} MB JSON"))
        del app._tables_stamp
        # what a page polling an idle workspace costs: the tables have not changed
        # (the cache only trusts files quiet for a second)
        app.handle("GET", "/api/tree", "", None)
        time.sleep(1.1)
        app.handle("GET", "/api/tree", "", None)
        secs, resp = _best(lambda: app.handle("GET", "/api/tree", "", None), repeat)
        rows.append(
            (
                "web /api/tree poll, tables unchanged (cached)",
                secs,
                f"{len(resp[2]) / 1e6:.2f} MB JSON",
            )
        )

        prof_text = ""
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            cli()
            app.handle("GET", "/api/tree", "", None)
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
            prof_text = buf.getvalue()
        rt.close()
    return {
        "counts": counts,
        "synth_s": synth_s,
        "rows": rows,
        "profile": prof_text,
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}; "
        f"nproc {os.cpu_count()}; Python {platform.python_version()}",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="cProfile the CLI and web paths once")
    args = p.parse_args(argv)
    r = run(args.jobs, args.repeat, args.profile)
    c = r["counts"]
    print(f"{time.strftime('%Y-%m-%d')}; {r['machine']}")
    print(
        f"synthesised {c['jobs']} jobs ({c['failed']} failed), {c['events']} events, "
        f"{c['fields']} fields in {r['synth_s']:.1f} s\n"
    )
    print(f"| path | seconds (best of {args.repeat}) | note |")
    print("|---|---|---|")
    for label, secs, note in r["rows"]:
        print(f"| {label} | {secs:.3f} | {note} |")
    if r["profile"]:
        print("\n" + r["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
