"""Local runtime overhead: ASL state transitions per second and dispatcher events per second,
each side by side with moto's emulation of the same AWS APIs on the same work.

    python benchmarks/runtime_overhead.py [--events 2000] [--map-items 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # moto_stack


def _events(n: int):
    from cloudphot.events import Event, event_id_for_object

    return [
        Event(
            event_id=event_id_for_object("raw", f"k{i}_flc.fits", f"etag{i}"),
            type="object.created",
            subject=f"k{i}_flc.fits",
            payload={
                "bucket": "raw",
                "key": f"k{i}_flc.fits",
                "etag": f"etag{i}",
                "size": 1,
                "bucket_role": "raw",
            },
            source="s3",
        )
        for i in range(n)
    ]


def _events_per_second(store, dispatcher, n: int) -> float:
    """Record and dispatch ``n`` new events, one job each; events per second."""
    events = _events(n)
    t0 = time.perf_counter()
    for e in events:
        store.record(e)
        dispatcher.dispatch(e)
    return n / (time.perf_counter() - t0)


def dispatcher_local(n: int) -> float:
    """Events/s: record + dispatch (one job each) through SQLite, jobs queued locally."""
    from cloudphot.events import Dispatcher, EventStore, load_registry
    from cloudphot.runtime.sqlite_tables import SQLiteTables

    class Queue:
        def start(self, job):
            return None

    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(SQLiteTables(Path(tmp) / "t.sqlite"))
        dispatcher = Dispatcher(store, load_registry(), Queue())
        return _events_per_second(store, dispatcher, n)


def dispatcher_moto(n: int) -> float:
    """Events/s: the same through moto's DynamoDB, starting moto Step Functions executions."""
    import boto3
    from moto import mock_aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    from cloudphot.aws.dispatch import StepFunctionsStarter
    from cloudphot.aws.dynamodb_tables import DynamoDBTables
    from cloudphot.events import Dispatcher, EventStore, load_registry
    from moto_stack import create_from_template

    with mock_aws():
        names = create_from_template(region="us-east-1")
        tables = DynamoDBTables(
            {k: names[f"{k.title()}Table"] for k in ("tasks", "events", "jobs", "exposures")},
            region="us-east-1",
        )
        store = EventStore(tables)
        registry = load_registry()
        arns = {
            t.executor.name: names[t.executor.name] for t in registry if t.executor.name in names
        }
        starter = StepFunctionsStarter(
            arns, client=boto3.client("stepfunctions", region_name="us-east-1")
        )
        dispatcher = Dispatcher(store, registry, starter)
        return _events_per_second(store, dispatcher, n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--map-items", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    try:
        from asl_overhead import run_map_benchmark

        m = run_map_benchmark(n_items=args.map_items)
        rows.append(
            (
                f"ASL transitions/s, {args.map_items}-item Map",
                {
                    "cloudphot": m["cloudphot_transitions_per_s"],
                    "moto": m["moto_transitions_per_s"],
                    "ratio": m["speedup_vs_moto"],
                    "note": f"moto timed on {m['moto_transitions'] - 1} items",
                },
            )
        )
    except ImportError as exc:  # pragma: no cover
        print(f"(ASL benchmark unavailable: {exc})", file=sys.stderr)
    local = dispatcher_local(args.events)
    moto = dispatcher_moto(min(args.events, 500))
    rows.append(("dispatcher events/s", {"cloudphot": local, "moto": moto, "ratio": local / moto}))
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
        return 0
    print(
        f"machine: {platform.platform()} ({os.cpu_count()} cores), Python {platform.python_version()}"
    )
    print(f"{'measure':<32} {'cloudphot':>12} {'moto':>12} {'ratio':>8}")
    for name, r in rows:
        print(
            f"{name:<32} {r.get('cloudphot', float('nan')):>12.1f} {r.get('moto', float('nan')):>12.1f} "
            f"{r.get('ratio', float('nan')):>8.2f}"
        )
        if r.get("note"):
            print(f"    ({r['note']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
