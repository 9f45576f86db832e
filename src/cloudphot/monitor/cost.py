"""What a run costs (or would cost) on AWS, from what the local runtime measured.

What is measured, per job and per execution attempt (every attempt is billed):

- **Lambda**: each ``lambda:invoke`` Task in the execution history is one request;
  its billed duration is the time from ``TaskScheduled`` to ``TaskSucceeded`` /
  ``TaskFailed`` (locally the handler runs in-process, so this is the handler's
  wall time), rounded up to 1 ms, times the function's ``MemorySize`` from
  template.yaml (GB-seconds), plus ephemeral storage above 512 MB.
- **Fargate** (ECS ``runTask.sync``): wall time from scheduling to the task's stop,
  with the 1-minute minimum, times the task definition's ``Cpu``/``Memory`` from
  template.yaml, or the RunTask overrides the plan chose (vCPU-hours, GB-hours,
  ephemeral storage above 20 GB); priced at Spot rates when the capacity provider was
  ``FARGATE_SPOT``, on-demand otherwise. Each task also pays for its **public IPv4
  address** while it runs (the VPC has no NAT gateway; $0.005/h) and for its **image
  pull**: Fargate bills from the pull's start, which does not exist locally, so every
  task is charged ``image_pull_seconds`` (default 90 s: the ~4 GB worker image at
  ~50 MB/s) at its own size and rate.
- **CloudWatch Logs** ingestion: the state machines log ``ALL`` events with execution
  data, so a history's JSON is what they ship (measured); a worker's own log file when
  the runtime kept it (measured); $0.50/GB.
- **Step Functions** (standard workflows): one transition per state entered, plus
  one per Task retry, counted from the history.
- **S3**: estimated from the objects a job touched: a GET per object read (the
  triggering upload, keys passed to tasks), a PUT per object written (keys in task
  results and the job output).
- **DynamoDB** (on-demand): one write per job state change and per DynamoDB
  ``putItem``/``updateItem`` integration (rounded up per KB), one read per ``getItem``/``query``.
- ``cpu_seconds`` (``job.ran_on``) is the runtime thread's CPU time for the job and
  ``worker_cpu_seconds`` an ECS worker's when the runtime recorded it; they are
  reported beside the bill (AWS bills allocated capacity over time, not CPU used).

Platform functions outside any execution (the S3 notification handler, the
dispatcher and the job-status updater) are charged once per event / status change
with an assumed duration (``platform_lambda_ms``).

Prices: :data:`DEFAULT_PRICES`, us-east-1 list prices (see :data:`PRICES_AS_OF`);
override with a TOML/JSON file (``--prices`` or ``$CLOUDPHOT_PRICES``) or one env
variable per key, ``CLOUDPHOT_PRICE_<KEY>`` (e.g. ``CLOUDPHOT_PRICE_FARGATE_SPOT_VCPU_HOUR``).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import BudgetExceeded, ConfigError
from ..events import Event, Job

__all__ = [
    "DEFAULT_PRICES",
    "FITS_SUFFIXES",
    "PRICES_AS_OF",
    "BudgetExceeded",
    "Estimate",
    "JobCost",
    "Ledger",
    "SurveyCost",
    "Usage",
    "check_budget",
    "estimate_run",
    "job_cost",
    "load_prices",
    "objects_touched",
    "survey_cost",
    "workspace_ledger",
]

#: When and where the default prices were taken.
PRICES_AS_OF = (
    "us-east-1 public list prices (aws.amazon.com/{lambda,fargate,step-functions,s3,"
    "dynamodb}/pricing), as listed in June 2026 and checked 2026-11-24; "
    "Fargate Spot is a market price that moves: override it for real budgets"
)

#: USD per unit. Free tiers are ignored (a survey reduction is not a free-tier workload).
DEFAULT_PRICES: dict[str, float] = {
    "lambda_gb_second": 0.0000166667,  # x86_64
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "lambda_storage_gb_second": 0.0000000309,  # ephemeral storage above 512 MB
    "sfn_transition": 0.025 / 1000,  # standard workflows
    "fargate_vcpu_hour": 0.04048,  # Linux/x86, on-demand
    "fargate_gb_hour": 0.004445,
    "fargate_spot_vcpu_hour": 0.01268028,  # FARGATE_SPOT (varies)
    "fargate_spot_gb_hour": 0.00139225,
    "fargate_storage_gb_hour": 0.000111,  # ephemeral storage above 20 GB
    "s3_put_request": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get_request": 0.0004 / 1000,  # GET, SELECT, HEAD
    "dynamodb_write_request": 0.625 / 1e6,  # on-demand WRU
    "dynamodb_read_request": 0.125 / 1e6,  # on-demand RRU
    "platform_lambda_ms": 100.0,  # assumed duration of platform functions
    "public_ipv4_hour": 0.005,  # each Fargate task's public address (no NAT gateway)
    "image_pull_seconds": 90.0,  # billed per task before its container starts
    "logs_ingest_gb": 0.50,  # CloudWatch Logs, standard class
    "s3_storage_gb_month": 0.023,  # S3 Standard, first 50 TB
    "athena_scan_tb": 5.0,  # Athena SQL, per TB scanned (10 MB minimum per query)
}

FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts")
_SPOT = ("FARGATE_SPOT",)


# ------------------------------------------------------------------------ prices
def load_prices(
    path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None
) -> dict[str, float]:
    """Defaults, then a price file (argument, else ``$CLOUDPHOT_PRICES``), then env per key."""
    env = os.environ if env is None else env
    prices = dict(DEFAULT_PRICES)
    path = path or env.get("CLOUDPHOT_PRICES")
    if path:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            doc = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"price file {p} does not exist") from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"price file {p}: {exc}") from None
        if isinstance(doc, dict) and isinstance(doc.get("prices"), dict):
            doc = doc["prices"]
        if not isinstance(doc, dict):
            raise ConfigError(f"price file {p}: expected a table of name = USD")
        for k, v in doc.items():
            prices[_price_key(k, str(p))] = _price_value(k, v, str(p))
    for var, v in env.items():
        if var.startswith("CLOUDPHOT_PRICE_") and var != "CLOUDPHOT_PRICES":
            k = var[len("CLOUDPHOT_PRICE_") :].lower()
            prices[_price_key(k, var)] = _price_value(k, v, var)
    return prices


def _price_key(k: str, where: str) -> str:
    if k not in DEFAULT_PRICES:
        raise ConfigError(f"{where}: unknown price {k!r}; known: {', '.join(DEFAULT_PRICES)}")
    return k


def _price_value(k: str, v: Any, where: str) -> float:
    try:
        value = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: price {k} = {v!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: price {k} = {v!r} must be a finite number >= 0")
    return value


# ------------------------------------------------------------------------ usage
@dataclass
class Usage:
    """Billable quantities; adding two gives the usage of both."""

    cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0
    lambda_requests: int = 0
    lambda_gb_seconds: float = 0.0
    lambda_gb_seconds_arm64: float = 0.0
    lambda_storage_gb_seconds: float = 0.0
    transitions: int = 0
    fargate_vcpu_hours: float = 0.0
    fargate_gb_hours: float = 0.0
    fargate_spot_vcpu_hours: float = 0.0
    fargate_spot_gb_hours: float = 0.0
    fargate_storage_gb_hours: float = 0.0
    fargate_spot_storage_gb_hours: float = 0.0
    fargate_tasks: int = 0
    public_ipv4_hours: float = 0.0
    image_pull_vcpu_hours: float = 0.0  # at on-demand rates
    image_pull_gb_hours: float = 0.0
    image_pull_spot_vcpu_hours: float = 0.0
    image_pull_spot_gb_hours: float = 0.0
    log_gb: float = 0.0
    s3_get: int = 0
    s3_put: int = 0
    dynamodb_writes: int = 0
    dynamodb_reads: int = 0

    def add(self, other: Usage) -> Usage:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    def usd(self, prices: Mapping[str, float]) -> dict[str, float]:
        """Cost by service."""
        p = prices
        return {
            "lambda": (
                self.lambda_requests * p["lambda_request"]
                + self.lambda_gb_seconds * p["lambda_gb_second"]
                + self.lambda_gb_seconds_arm64 * p["lambda_gb_second_arm64"]
                + self.lambda_storage_gb_seconds * p["lambda_storage_gb_second"]
            ),
            "stepfunctions": self.transitions * p["sfn_transition"],
            "fargate_spot": (
                self.fargate_spot_vcpu_hours * p["fargate_spot_vcpu_hour"]
                + self.fargate_spot_gb_hours * p["fargate_spot_gb_hour"]
                + self.fargate_spot_storage_gb_hours * p["fargate_storage_gb_hour"]
            ),
            "fargate": (
                self.fargate_vcpu_hours * p["fargate_vcpu_hour"]
                + self.fargate_gb_hours * p["fargate_gb_hour"]
                + self.fargate_storage_gb_hours * p["fargate_storage_gb_hour"]
            ),
            "public_ipv4": self.public_ipv4_hours * p["public_ipv4_hour"],
            "image_pull": (
                self.image_pull_vcpu_hours * p["fargate_vcpu_hour"]
                + self.image_pull_gb_hours * p["fargate_gb_hour"]
                + self.image_pull_spot_vcpu_hours * p["fargate_spot_vcpu_hour"]
                + self.image_pull_spot_gb_hours * p["fargate_spot_gb_hour"]
            ),
            "logs": self.log_gb * p["logs_ingest_gb"],
            "s3": self.s3_get * p["s3_get_request"] + self.s3_put * p["s3_put_request"],
            "dynamodb": (
                self.dynamodb_writes * p["dynamodb_write_request"]
                + self.dynamodb_reads * p["dynamodb_read_request"]
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class JobCost:
    job_id: str
    task: str
    field: str | None
    state: str
    attempts: int
    usage: Usage
    usd: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.usd.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "task": self.task,
            "field": self.field,
            "state": self.state,
            "attempts": self.attempts,
            "usage": self.usage.to_dict(),
            "usd": {k: round(v, 9) for k, v in self.usd.items()},
            "total_usd": round(self.total, 9),
        }


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value))
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _params(ev: dict) -> dict:
    raw = (ev.get("taskScheduledEventDetails") or {}).get("parameters")
    if isinstance(raw, dict):
        return raw
    try:
        doc = json.loads(raw or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _output(ev: dict) -> dict | None:
    """A TaskSucceeded event's output (the ECS task description), parsed."""
    out = (ev.get("taskSucceededEventDetails") or {}).get("output")
    if isinstance(out, str):
        try:
            out = json.loads(out)
        except ValueError:
            return None
    return out if isinstance(out, dict) else None


def _resource(template: Mapping[str, Any], logical_id: str) -> dict:
    return ((template.get("Resources") or {}).get(logical_id) or {}).get("Properties") or {}


def _lambda_config(template: Mapping[str, Any], function_name: str) -> tuple[float, float, bool]:
    """(memory GB, ephemeral storage GB, arm64) of a function named by ARN or logical id."""
    lid = str(function_name).split(":function:")[-1].split(":")[0]
    glob = (template.get("Globals") or {}).get("Function") or {}
    props = _resource(template, lid)
    mem = float(props.get("MemorySize", glob.get("MemorySize", 128)))
    storage = float(
        (props.get("EphemeralStorage") or glob.get("EphemeralStorage") or {}).get("Size", 512)
    )
    arch = props.get("Architectures", glob.get("Architectures", ["x86_64"])) or ["x86_64"]
    return mem / 1024, storage / 1024, "arm64" in arch


def _number(template: Mapping[str, Any], value: Any, default: float) -> float:
    """A template property as a number: a literal, or a parameter's default (``!Ref``)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        value = ((template.get("Parameters") or {}).get(value["Ref"]) or {}).get("Default")
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _task_config(
    template: Mapping[str, Any], task_definition: str, overrides: Mapping[str, Any] | None = None
) -> tuple[float, float, float]:
    """(vCPU, memory GB, ephemeral storage GB) of an ECS task: the RunTask overrides'
    cpu/memory (the plan's size) when given, else the task definition's."""
    lid = str(task_definition).split("task-definition/")[-1].split(":")[0]
    props = _resource(template, lid)
    overrides = overrides or {}
    cpu = _number(template, overrides.get("Cpu") or props.get("Cpu"), 1024) / 1024
    mem = _number(template, overrides.get("Memory") or props.get("Memory"), 2048) / 1024
    storage = float((props.get("EphemeralStorage") or {}).get("SizeInGiB", 20))
    return cpu, mem, storage


def execution_usage(
    history: list[dict],
    template: Mapping[str, Any],
    *,
    image_pull_seconds: float = DEFAULT_PRICES["image_pull_seconds"],
) -> Usage:
    """Billable usage of one execution, from its GetExecutionHistory-shaped events."""
    u = Usage()
    # Logging: Level ALL with IncludeExecutionData ships each event with its data
    u.log_gb += sum(len(json.dumps(e, default=str)) for e in history) / 1e9
    by_id = {int(e.get("id", 0)): e for e in history}
    scheduled_in_entry = 0
    for ev in sorted(history, key=lambda e: int(e.get("id", 0))):
        typ = str(ev.get("type", ""))
        if typ.endswith("StateEntered"):
            u.transitions += 1
        if typ == "TaskScheduled":
            # a retry of the same Task is a transition of its own
            prev = by_id.get(int(ev.get("previousEventId") or 0), {})
            scheduled_in_entry = 0 if str(prev.get("type", "")).endswith("StateEntered") else 1
            u.transitions += scheduled_in_entry
            d = ev.get("taskScheduledEventDetails") or {}
            if d.get("resourceType") == "dynamodb":
                res = str(d.get("resource", ""))
                if res.startswith(("get", "query", "scan")):
                    u.dynamodb_reads += 1
                else:
                    size = len(json.dumps(_params(ev).get("Item") or {}))
                    u.dynamodb_writes += max(1, math.ceil(size / 1024))
        if typ not in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            continue
        # walk back along this lane to the TaskScheduled that started the call
        start: dict | None = None
        cur = ev
        for _ in range(8):
            earlier = by_id.get(int(cur.get("previousEventId") or 0))
            if earlier is None:
                break
            if earlier.get("type") == "TaskScheduled":
                start = earlier
                break
            cur = earlier
        if start is None:
            continue
        t0, t1 = _ts(start.get("timestamp")), _ts(ev.get("timestamp"))
        seconds = max(0.0, (t1 - t0).total_seconds()) if t0 and t1 else 0.0
        d = start.get("taskScheduledEventDetails") or {}
        params = _params(start)
        if d.get("resourceType") == "lambda":
            mem_gb, storage_gb, arm = _lambda_config(template, params.get("FunctionName", ""))
            billed = math.ceil(seconds * 1000) / 1000
            u.lambda_requests += 1
            if arm:
                u.lambda_gb_seconds_arm64 += billed * mem_gb
            else:
                u.lambda_gb_seconds += billed * mem_gb
            u.lambda_storage_gb_seconds += billed * max(0.0, storage_gb - 0.5)
        elif d.get("resourceType") == "ecs":
            vcpu, mem_gb, storage_gb = _task_config(
                template, params.get("TaskDefinition", ""), params.get("Overrides")
            )
            strategy = params.get("CapacityProviderStrategy") or []
            provider = (
                strategy[0].get("CapacityProvider")
                if strategy
                else params.get("LaunchType", "FARGATE")
            )
            hours = max(seconds, 60.0) / 3600
            u.fargate_tasks += 1
            u.public_ipv4_hours += (seconds + image_pull_seconds) / 3600
            pull = image_pull_seconds / 3600
            if provider in _SPOT:
                u.image_pull_spot_vcpu_hours += vcpu * pull
                u.image_pull_spot_gb_hours += mem_gb * pull
            else:
                u.image_pull_vcpu_hours += vcpu * pull
                u.image_pull_gb_hours += mem_gb * pull
            log_file = (_output(ev) or {}).get("LogFile")
            if isinstance(log_file, str) and os.path.isfile(log_file):
                u.log_gb += os.path.getsize(log_file) / 1e9  # the worker's own log lines
            extra_storage = max(0.0, storage_gb - 20) * hours
            if provider in _SPOT:
                u.fargate_spot_vcpu_hours += vcpu * hours
                u.fargate_spot_gb_hours += mem_gb * hours
                u.fargate_spot_storage_gb_hours += extra_storage
            else:
                u.fargate_vcpu_hours += vcpu * hours
                u.fargate_gb_hours += mem_gb * hours
                u.fargate_storage_gb_hours += extra_storage
    return u


# ------------------------------------------------------------------------ objects
def _objects_in(doc: Any, out: set[tuple[str, str]], depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(doc, dict):
        bucket = doc.get("bucket") or doc.get("Bucket")
        for kk in ("key", "Key"):
            if isinstance(bucket, str) and isinstance(doc.get(kk), str):
                out.add((bucket, doc[kk]))
        for k, v in doc.items():
            if isinstance(bucket, str) and k.endswith("_key") and isinstance(v, str):
                out.add((bucket, v))
            elif isinstance(bucket, str) and k.endswith("_keys") and isinstance(v, list):
                out.update((bucket, x) for x in v if isinstance(x, str))
            else:
                _objects_in(v, out, depth + 1)
    elif isinstance(doc, list):
        for v in doc:
            _objects_in(v, out, depth + 1)
    elif (
        isinstance(doc, str)
        and doc.startswith("s3://")
        and "/" in doc[5:]
        and not any(c.isspace() for c in doc)
    ):
        b, k = doc[5:].split("/", 1)
        out.add((b, k))
    elif isinstance(doc, str) and doc[:1] in "{[" and len(doc) < 200_000:
        try:
            _objects_in(json.loads(doc), out, depth + 1)
        except json.JSONDecodeError:
            pass


def objects_touched(
    event: Event | None, job: Job, history: list[dict], raw_bucket: str = "raw"
) -> list[dict[str, str]]:
    """Objects a job read and wrote, as ``{"uri", "access"}``.

    Written: objects named in its tasks' results and its output (products the job
    made, even when a later task of the job reads them again), except the raw
    uploads, which the pipeline never writes. Read: its event's object and every
    other object passed to its tasks.
    """
    given: set[tuple[str, str]] = set()
    made: set[tuple[str, str]] = set()
    trigger: set[tuple[str, str]] = set()
    if event is not None:
        _objects_in(event.payload, trigger)
    for ev in history:
        if ev.get("type") == "TaskScheduled":
            _objects_in(_params(ev), given)
        elif ev.get("type") == "TaskSucceeded":
            _objects_in((ev.get("taskSucceededEventDetails") or {}).get("output"), made)
    _objects_in(job.output, made)
    written = {o for o in made if o not in trigger and o[0] != raw_bucket}
    read = (trigger | given) - written
    return [{"uri": f"s3://{b}/{k}", "access": "read"} for b, k in sorted(read)] + [
        {"uri": f"s3://{b}/{k}", "access": "written"} for b, k in sorted(written)
    ]


def job_field(job: Job, event: Event | None) -> str | None:
    """The field a job belongs to: its event's field, else the field its output names."""
    for doc in (
        (event.payload if event else None),
        job.output,
        (job.input.get("event") or {}).get("payload") if isinstance(job.input, dict) else None,
    ):
        if isinstance(doc, dict) and isinstance(doc.get("field_id"), str):
            return doc["field_id"]
    if event is not None and event.type.startswith("field."):
        return event.subject or None
    return None


def job_cost(
    job: Job,
    event: Event | None,
    history: list[dict] | Iterable[list[dict]],
    template: Mapping[str, Any],
    prices: Mapping[str, float],
    raw_bucket: str = "raw",
) -> JobCost:
    """One job's usage and price; ``history`` is one execution's or a list of attempts'."""
    histories: list[Any] = (
        history
        if history and isinstance(history, list) and isinstance(history[0], list)
        else [history]
    )
    u = Usage()
    touched_read: set[str] = set()
    touched_written: set[str] = set()
    for h in histories:
        u.add(
            execution_usage(
                list(h), template, image_pull_seconds=prices.get("image_pull_seconds", 90.0)
            )
        )
        for o in objects_touched(event, job, list(h), raw_bucket):
            (touched_read if o["access"] == "read" else touched_written).add(o["uri"])
    ran = job.ran_on or {}
    u.cpu_seconds += float(ran.get("cpu_seconds") or 0)
    u.worker_cpu_seconds += sum(float(w.get("cpu_seconds") or 0) for w in ran.get("workers") or [])
    u.s3_get += len(touched_read) * max(1, len(histories))
    u.s3_put += len(touched_written)
    u.dynamodb_writes += len(job.transitions) + 1  # create + every state change
    return JobCost(
        job.job_id, job.task, job_field(job, event), job.state.value, job.attempts, u, u.usd(prices)
    )


# ------------------------------------------------------------------------ ledger
@dataclass
class Ledger:
    prices: dict[str, float]
    jobs: list[JobCost] = field(default_factory=list)
    platform: Usage = field(default_factory=Usage)
    exposures: int = 0  # FITS uploads seen (events announcing them)
    input_bytes: int = 0

    def total_usage(self) -> Usage:
        u = Usage()
        for j in self.jobs:
            u.add(j.usage)
        return u.add(self.platform)

    def total_usd(self) -> dict[str, float]:
        return self.total_usage().usd(self.prices)

    @property
    def total(self) -> float:
        return sum(self.total_usd().values())

    def by(self, key: str) -> dict[str, dict[str, Any]]:
        """Sum by ``"task"`` or ``"field"`` (jobs without a field under ``"-"``)."""
        groups: dict[str, dict[str, Any]] = {}
        for j in self.jobs:
            name = getattr(j, key) or "-"
            g = groups.setdefault(name, {"jobs": 0, "usd": 0.0, "usage": Usage()})
            g["jobs"] += 1
            g["usd"] += j.total
            g["usage"].add(j.usage)
        return dict(sorted(groups.items(), key=lambda kv: -kv[1]["usd"]))

    def to_dict(self) -> dict[str, Any]:
        def group(d):
            return {
                k: {"jobs": v["jobs"], "usd": round(v["usd"], 9), "usage": v["usage"].to_dict()}
                for k, v in d.items()
            }

        platform_usd = self.platform.usd(self.prices)
        return {
            "prices_as_of": PRICES_AS_OF,
            "prices": self.prices,
            "total_usd": round(self.total, 9),
            "by_service": {k: round(v, 9) for k, v in self.total_usd().items()},
            "by_task": group(self.by("task")),
            "by_field": group(self.by("field")),
            "platform": {
                "usage": self.platform.to_dict(),
                "usd": round(sum(platform_usd.values()), 9),
            },
            "exposures": self.exposures,
            "input_bytes": self.input_bytes,
            "jobs": [j.to_dict() for j in self.jobs],
        }


def _is_fits(key: str) -> bool:
    return key.lower().endswith(FITS_SUFFIXES)


def workspace_ledger(runtime, prices: Mapping[str, float]) -> Ledger:
    """Every job of a local workspace, every attempt, priced."""
    template = runtime.targets.template
    events = {e.event_id: e for e in runtime.store.events()}
    ledger = Ledger(dict(prices))
    for job in runtime.store.jobs():
        histories = []
        for n in range(max(job.attempts, 1)):
            rec = runtime.executions.find(job.job_id if n == 0 else f"{job.job_id}-r{n}")
            if rec is not None:
                histories.append(runtime.executions.history(rec.arn))
        cost = job_cost(
            job,
            events.get(job.event_id),
            histories or [[]],
            template,
            prices,
            runtime.settings.bucket("raw"),
        )
        # a Distributed Map's children are executions of their own (their Lambda
        # invocations, ECS tasks and transitions are billed like the parent's)
        children = runtime.executions.children(job.job_id)
        for rec in children:
            cost.usage.add(execution_usage(runtime.executions.history(rec.arn), template))
        if children:
            cost.usd = cost.usage.usd(prices)
        ledger.jobs.append(cost)
    p = Usage()
    glob = (template.get("Globals") or {}).get("Function") or {}
    mem_gb = float(glob.get("MemorySize", 128)) / 1024
    seconds = float(prices["platform_lambda_ms"]) / 1000
    status_changes = sum(len(j.transitions) for j in runtime.store.jobs())
    from_s3 = [e for e in events.values() if e.source == "s3"]
    calls = len(from_s3) + len(events) + status_changes  # on_object + dispatch + job status
    p.lambda_requests = calls
    p.lambda_gb_seconds = calls * seconds * mem_gb
    p.dynamodb_writes = len(events) * 2  # put + mark dispatched
    ledger.platform = p
    fits = [e for e in from_s3 if _is_fits(str(e.payload.get("key", "")))]
    ledger.exposures = len(fits)
    ledger.input_bytes = sum(int(e.payload.get("size") or 0) for e in fits)
    return ledger


# ------------------------------------------------------------------------ estimate
@dataclass
class Estimate:
    files: int
    bytes: int
    usd: float
    by_task: dict[str, float]
    basis: str
    per_exposure_usd: float
    by_size_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 9) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


#: a priori usage per exposure when the workspace has no past run: one ingest
#: execution (7 transitions, one 2 s Lambda at 1024 MB), one field check, a share
#: of a field's photometry (3 minutes of a 4 vCPU / 16 GB Spot task per 8 exposures,
#: its public IPv4 and its image pull)
def _a_priori(prices: Mapping[str, float]) -> dict[str, float]:
    ingest = Usage(
        lambda_requests=1, lambda_gb_seconds=2.0, transitions=7, s3_get=1, dynamodb_writes=6
    ).usd(prices)
    check = Usage(
        lambda_requests=1, lambda_gb_seconds=0.25 * 0.5, transitions=2, dynamodb_writes=4
    ).usd(prices)
    reduce = Usage(
        lambda_requests=2,
        lambda_gb_seconds=3.0 * 4,
        transitions=3,
        fargate_spot_vcpu_hours=4 * 180 / 3600 / 8,
        fargate_spot_gb_hours=16 * 180 / 3600 / 8,
        fargate_spot_storage_gb_hours=30 * 180 / 3600 / 8,
        public_ipv4_hours=(180 + prices.get("image_pull_seconds", 90.0)) / 3600 / 8,
        image_pull_spot_vcpu_hours=4 * prices.get("image_pull_seconds", 90.0) / 3600 / 8,
        image_pull_spot_gb_hours=16 * prices.get("image_pull_seconds", 90.0) / 3600 / 8,
        s3_get=3,
        s3_put=4,
    ).usd(prices)
    # run_asts with the packaged 300 fakes: two 1 vCPU / 4 GB chunk tasks of ~2 min and
    # the field products task (HLSP, plots, mosaics) of ~1 min, per field of ~8 exposures
    asts = Usage(
        lambda_requests=3,
        lambda_gb_seconds=3.0 * 20,
        transitions=14,
        fargate_spot_vcpu_hours=1 * 300 / 3600 / 8,
        fargate_spot_gb_hours=4 * 300 / 3600 / 8,
        fargate_spot_storage_gb_hours=30 * 300 / 3600 / 8,
        s3_get=6,
        s3_put=8,
    ).usd(prices)
    return {
        "ingest_exposure": sum(ingest.values()),
        "check_field": sum(check.values()),
        "reduce_field": sum(reduce.values()),
        "run_asts": sum(asts.values()),
    }


def estimate_run(
    directory: str | os.PathLike, ledger: Ledger | None, prices: Mapping[str, float]
) -> Estimate:
    """Predict what uploading the exposures under ``directory`` will cost (the files
    ``cloudphot upload`` takes from it: a simulator's truth.fits is no exposure).

    With past runs in the workspace: their cost per exposure, by task (the
    per-exposure figure also scaled by bytes, since photometry time grows with
    pixels: ``by_size_usd``). Without: an a priori per-exposure model.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"--estimate {d}: not a directory")
    from ..uploads import is_exposure_name  # what 'cloudphot upload DIR' takes

    files = sorted(p for p in d.rglob("*") if p.is_file() and is_exposure_name(p.name))
    n, size = len(files), sum(p.stat().st_size for p in files)
    if ledger is not None and ledger.exposures and ledger.jobs:
        per_task = {k: v["usd"] / ledger.exposures for k, v in ledger.by("task").items()}
        platform = sum(ledger.platform.usd(ledger.prices).values()) / ledger.exposures
        per_task["(platform)"] = platform
        per_exp = sum(per_task.values())
        by_size = (ledger.total / ledger.input_bytes * size) if ledger.input_bytes else None
        return Estimate(
            n,
            size,
            per_exp * n,
            {k: v * n for k, v in per_task.items()},
            f"past runs in this workspace: {ledger.exposures} exposure(s), "
            f"{len(ledger.jobs)} job(s)",
            per_exp,
            by_size,
        )
    per_task = _a_priori(prices)
    per_exp = sum(per_task.values())
    return Estimate(
        n,
        size,
        per_exp * n,
        {k: v * n for k, v in per_task.items()},
        "a priori model (no past run in this workspace)",
        per_exp,
    )


def check_budget(usd: float, budget: float | None, what: str = "this run") -> None:
    """Raise :class:`BudgetExceeded` when ``usd`` is over ``budget`` (the dispatcher's hook)."""
    if budget is not None and usd > budget:
        raise BudgetExceeded(f"{what} costs ${usd:.4f}, over the budget of ${budget:.4f}")


# ------------------------------------------------------------------------ a survey
#: bytes per pixel of a calibrated exposure: SCI and ERR float32, DQ int16
EXPOSURE_BYTES_PER_PIXEL = 10
#: bytes of a Step Functions history event with its data, as Level ALL logs it
LOG_BYTES_PER_TRANSITION = 800


@dataclass
class SurveyCost:
    """A survey's bill: one reduction (``once``) and what it then costs per month
    (``monthly``), each item with the assumption behind it."""

    survey: str
    once: dict[str, float]
    monthly: dict[str, float]
    assumptions: dict[str, str]
    stored_tb: dict[str, float]

    @property
    def once_total(self) -> float:
        return sum(self.once.values())

    @property
    def monthly_total(self) -> float:
        return sum(self.monthly.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "survey": self.survey,
            "once_usd": {k: round(v, 2) for k, v in self.once.items()},
            "once_total_usd": round(self.once_total, 2),
            "monthly_usd": {k: round(v, 2) for k, v in self.monthly.items()},
            "monthly_total_usd": round(self.monthly_total, 2),
            "stored_tb": {k: round(v, 3) for k, v in self.stored_tb.items()},
            "assumptions": self.assumptions,
        }


def survey_cost(
    budget: Any,
    prices: Mapping[str, float],
    *,
    catalog_tb: float = 0.3,
    keep_versions: int | None = 10,
    shared_versions: bool = True,
    fields_touched_per_field: float = 2.0,
    queries_per_month: int = 10_000,
    gb_scanned_per_query: float = 0.2,
    attempts_per_task: float = 1.3,
) -> SurveyCost:
    """Price a survey from its plan (:func:`cloudphot.monitor.budget.survey_budget`: Step
    Functions, Lambda, Spot photometry, catalog builds) plus what the plan does not
    count: each task's public IPv4 and image pull, CloudWatch Logs ingestion, S3
    storage of exposures, products and catalog versions, and Athena's bytes scanned.

    Catalog versions: one per reduced field. A full copy per version stores about
    ``catalog_tb`` x fields / 2 (the catalog grows field by field); sharing unchanged
    partitions (manifests) stores the final catalog plus, per kept version, the
    partitions one field rewrites (``fields_touched_per_field`` fields' worth).
    """
    shape, p = budget.shape, prices
    usd = budget.usd()
    task_hours = budget.spot_vcpu_hours / budget.task_size.vcpu * attempts_per_task
    tasks = shape.fields * attempts_per_task + shape.fields  # photometry + catalog builds
    pull_h = tasks * p["image_pull_seconds"] / 3600
    once = {
        "step_functions": usd["step_functions"],
        "lambda": usd["lambda"],
        "fargate_spot (photometry)": usd["fargate_spot"] * attempts_per_task,
        "fargate (catalog builds)": usd.get("fargate_catalog", 0.0),
        "public_ipv4": (task_hours + budget.catalog_task_hours + pull_h) * p["public_ipv4_hour"],
        "image_pull": pull_h
        * (
            budget.task_size.vcpu * p["fargate_spot_vcpu_hour"]
            + budget.task_size.memory_gib * p["fargate_spot_gb_hour"]
        ),
        "logs": budget.transitions * LOG_BYTES_PER_TRANSITION / 1e9 * p["logs_ingest_gb"],
    }
    raw_tb = shape.fields * shape.exposures_per_field * shape.pixels_per_exposure
    raw_tb *= EXPOSURE_BYTES_PER_PIXEL / 1e12
    products_tb = raw_tb  # a preprocessed copy of each exposure (masks, sky) + small tables
    versions = shape.fields
    kept = versions if keep_versions is None else min(versions, keep_versions)
    if shared_versions:
        per_version = catalog_tb * min(1.0, fields_touched_per_field / shape.fields)
        catalog_stored = catalog_tb + (kept - 1) * per_version
    else:  # a full copy per version: the newest `kept` of a catalog growing field by field
        catalog_stored = sum(catalog_tb * (versions - i) / versions for i in range(kept))
    stored = {"raw": raw_tb, "products": products_tb, "catalogs": catalog_stored}
    monthly = {f"s3 storage ({k})": v * 1000 * p["s3_storage_gb_month"] for k, v in stored.items()}
    scanned_tb = queries_per_month * max(gb_scanned_per_query, 0.01) / 1000
    monthly["athena scans"] = scanned_tb * p["athena_scan_tb"]
    assumptions = {
        "exposures": f"{shape.fields} fields x {shape.exposures_per_field} exposures of "
        f"{shape.pixels_per_exposure / 1e6:.1f} Mpix, {EXPOSURE_BYTES_PER_PIXEL} B/pixel",
        "photometry": f"{budget.task_size.vcpu:g} vCPU / {budget.task_size.memory_gib:g} GiB "
        f"Spot tasks (the engine's one core, sized by memory), {attempts_per_task} attempts "
        "each on average (reclaims)",
        "image pull": f"{p['image_pull_seconds']:g} s per task, billed at the task's rate",
        "logs": f"{LOG_BYTES_PER_TRANSITION} B per state transition (Level ALL with data)",
        "catalog": f"{catalog_tb} TB final, one version per field, "
        + (f"keep {keep_versions}" if keep_versions else "all kept")
        + (", versions share unchanged partitions" if shared_versions else ", full copies"),
        "athena": f"{queries_per_month:,} queries/month scanning {gb_scanned_per_query} GB each",
    }
    return SurveyCost(shape.name, once, monthly, assumptions, stored)
