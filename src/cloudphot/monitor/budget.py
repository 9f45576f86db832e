"""A survey's Step Functions budget, measured on the project's own state machines before
anything runs: executions, state transitions, history events and the largest payload.

Each of ``statemachines/*.asl.json`` is executed once by cloudphot's ASL interpreter
(the same one the local runtime uses, with AWS's 25,000-event and 256 KiB quotas on)
against :class:`DryServices`, which answer every Lambda, ECS, DynamoDB and S3 call
with the shape of what the real step returns and do no work. So the counts are the
interpreter's, event by event, not a hand-written model of the machines: when a
machine changes, the budget changes with it, and a machine that would outgrow a quota
at a survey's size fails here with the quota's own error. ``tests/monitor/test_budget.py``
holds the dry counts to those of a real local run.

Compute (Lambda GB-seconds, Spot vCPU-hours) is sized the way the pipeline sizes it:
the photometry task from :func:`cloudphot.pipeline.sizing.estimate_field` and
:func:`~cloudphot.pipeline.sizing.fit_size`, Lambda memory from template.yaml.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..asl import StateMachine
from ..asl.executor import HISTORY_LIMIT_EVENTS
from ..errors import ConfigError
from ..pipeline import sizing
from ..template import find_project_root, load_template, resources_of_type, state_machines

__all__ = [
    "PAYLOAD_LIMIT_BYTES",
    "SURVEYS",
    "Budget",
    "BudgetRow",
    "DryServices",
    "MachineRun",
    "SurveyShape",
    "max_exposures_per_task",
    "measure_machine",
    "survey_budget",
]

#: Step Functions' quota on one state's input, output or result
PAYLOAD_LIMIT_BYTES = 256 * 1024
#: seconds of preprocessing Lambda per megapixel of an exposure (benchmarks/RESULTS.md,
#: "Full-size exposures": a 2 x 4096x2048 ACS/WFC flc in ~32 CPU-s on one core, 1.9 s per
#: Mpix; 4.0 leaves 2x for a slower Lambda core)
PREPROCESS_SECONDS_PER_MPIX = 4.0
#: Lambda's hard limit on one invocation
LAMBDA_TIMEOUT_S = 900
#: seconds of every other (bookkeeping) Lambda call
STEP_LAMBDA_SECONDS = 0.5
#: seconds of the catalog build per field it merges (benchmarks/RESULTS.md, catalog build)
BUILD_SECONDS_PER_FIELD = 60.0


@dataclass(frozen=True)
class SurveyShape:
    """What sizes a survey's executions: fields and exposures, not the sky."""

    name: str
    fields: int
    exposures_per_field: int
    pixels_per_exposure: int = 2 * 4096 * 2048
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("fields", "exposures_per_field", "pixels_per_exposure"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"survey {self.name!r}: {name} must be a positive integer")

    @property
    def exposures(self) -> int:
        return self.fields * self.exposures_per_field


#: PHAT's shapes (Dalcanton et al. 2012): a brick is an 18-field 3x6 array; each field
#: has ~16 ACS/WFC and ~16 WFC3 exposures over two visits (UVIS/IR chips are smaller,
#: counted here at ACS size, which errs high)
SURVEYS: dict[str, SurveyShape] = {
    "field": SurveyShape("field", 1, 32, description="one PHAT field"),
    "brick": SurveyShape("brick", 18, 32, description="one PHAT brick: 3x6 fields"),
    "phat": SurveyShape("phat", 23 * 18, 32, description="PHAT: 23 bricks of 18 fields"),
}


@dataclass
class MachineRun:
    """One dry execution of a machine (its Distributed Map children counted apart)."""

    machine: str
    status: str
    error: str | None
    events: int
    transitions: int
    largest_payload: int
    lambda_calls: dict[str, int]
    children: int = 0
    child_events: int = 0  # the largest child history
    child_transitions: int = 0  # all children together
    child_lambda_calls: dict[str, int] = field(default_factory=dict)


def _transitions(history: list[dict]) -> int:
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


def _largest(history: list[dict]) -> int:
    sizes = [
        len(d.get("input") or d.get("output") or "")
        for e in history
        for d in e.values()
        if isinstance(d, dict)
    ]
    return max(sizes, default=0)


class DryServices:
    """Every resource the machines call, answered with the real steps' shapes.

    Lambda results are keyed by the function's logical id (``${XFunctionArn}`` in a
    definition resolves to ``XFunction``); S3 is an in-memory dict; Distributed Map
    children are counted.
    """

    def __init__(self, shape: SurveyShape, options: dict | None = None):
        self.shape = shape
        self.options = options or {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.lambda_calls: dict[tuple[str, str], int] = {}  # (execution, function)
        self.children: dict[str, dict] = {}
        self._lock = threading.Lock()

    # resources ------------------------------------------------------------------
    def invoke(self, resource: str, parameters: Any, ctx: Any) -> Any:
        if resource.startswith("arn:aws:states:::lambda:"):
            fn = str(parameters["FunctionName"]).rsplit(":", 1)[-1]
            with self._lock:
                k = (ctx.execution_name, fn)
                self.lambda_calls[k] = self.lambda_calls.get(k, 0) + 1
            answer = self._lambdas().get(fn)
            if answer is None:
                raise ConfigError(f"the budget's dry run does not know function {fn}")
            return {"Payload": answer(parameters.get("Payload") or {})}
        if resource.startswith("arn:aws:states:::ecs:"):
            # runTask.sync's result: the stopped task (its shape, as DescribeTasks gives it)
            return {
                "TaskArn": "arn:aws:ecs:us-east-1:000000000000:task/photometry/0",
                "LastStatus": "STOPPED",
                "StopCode": "EssentialContainerExited",
                "Containers": [{"Name": "worker", "ExitCode": 0}],
            }
        if resource.startswith("arn:aws:states:::dynamodb:"):
            return {}
        if resource == "arn:aws:states:::aws-sdk:s3:getObject":
            # the catalog build task's result (catalog.steps.catalog_task)
            return {"Body": json.dumps(self._build_result())}
        raise ConfigError(f"the budget's dry run does not know resource {resource}")

    def _lambdas(self) -> dict[str, Callable[[dict], Any]]:
        n = self.shape.exposures_per_field
        pixels = n * self.shape.pixels_per_exposure
        estimate = sizing.estimate_field(pixels)
        size = sizing.fit_size(estimate.memory_mib)

        def ingest(p: dict) -> dict:
            ev = p.get("event", {}).get("payload", {})
            return {"exposure": _exposure_record(ev), "seen_etag": None}

        def plan(p: dict) -> dict:
            return {
                "request": {"bucket": "products", "key": "fields/F/request.json"},
                "capacity_provider": "FARGATE_SPOT",
                **size.as_dict(),
                "estimate": estimate.as_dict(),
                "timeout_seconds": sizing.attempt_timeout_s(estimate),
                "attempts": {"spot": 0, "transient": 0, "memory": 0, "capacity": 0},
                "limits": {"spot": 3, "transient": 3, "memory": 4, "capacity": 2},
                "excluded": 0,
                "task_definition": "arn:aws:ecs:us-east-1:000000000000:task-definition/p:1",
            }

        def plan_asts(p: dict) -> dict:
            asts = {**(self.options.get("asts") or {}), **(p.get("options") or {}).get("asts", {})}
            if not asts.get("enabled", True):  # as the real planner answers an opt-out
                return {"n_chunks": 0, "skipped": "options.asts.enabled is false for this survey"}
            n_fakes = int(asts.get("n_fakes", 0))
            size_chunk = max(1, int(asts.get("chunk_size", 1)))
            n_chunks = -(-n_fakes // size_chunk)
            request = {"bucket": "products", "key": "fields/F/asts/x/request.json"}
            chunk_plan = {
                "request": request,
                "capacity_provider": "FARGATE_SPOT",
                **size.as_dict(),
                "timeout_seconds": 3600,
                "attempts": dict.fromkeys(("spot", "capacity", "quota", "transient", "memory"), 0),
                "limits": {"spot": 3, "capacity": 2, "quota": 3, "transient": 3, "memory": 4},
                "task_definition": p.get("task_definition"),
            }
            manifest = {"bucket": "products", "key": "fields/F/asts/x/chunks.json"}
            chunks = [
                {"chunk": i, "first": i * size_chunk, "count": size_chunk, "plan": chunk_plan}
                for i in range(n_chunks)
            ]
            self.objects[(manifest["bucket"], manifest["key"])] = json.dumps(chunks).encode()
            return {
                "n_chunks": n_chunks,
                "n_fakes": n_fakes,
                "fingerprint": "0" * 16,
                "manifest": {**manifest, "prefix": "fields/F/asts/x/runs"},
                "request": request,
            }

        return {
            "PlanAstsFunction": plan_asts,
            "SummarizeAstsFunction": lambda p: {
                "field_id": "F",
                "fingerprint": "0" * 16,
                "n_fakes": (p.get("plan") or {}).get("n_fakes", 0),
                "n_recovered": 0,
                "n_chunks": (p.get("plan") or {}).get("n_chunks", 0),
                "chunks_missing": [],
                "mag50": {"F475W": 27.5, "F814W": 26.5},
                "products": {
                    k: {"bucket": "products", "key": f"fields/F/{k}.parquet"}
                    for k in ("ast", "completeness", "completeness_json")
                },
            },
            "IngestExposureFunction": ingest,
            "CheckFieldFunction": lambda p: {"field_id": "F", "ready": False, "missing": 1},
            "PreprocessExposureFunction": lambda p: {
                "exposure_id": p["exposure"]["exposure_id"],
                "image": {"bucket": "raw", "key": p["exposure"]["key"]},
                "prep": {"bucket": "products", "key": "exposures/X/prep.fits"},
            },
            "PlanPhotometryFunction": plan,
            "SummarizeFieldFunction": lambda p: {
                "field_id": "F",
                "n_stars": 250_000,
                "n_exposures": n,
                "catalog": {"bucket": "products", "key": "fields/F/catalog.parquet"},
                "exposure_list": p.get("exposure_list"),
            },
            "CatalogLockFunction": lambda p: {
                "lock_id": p.get("lock_id"),
                "holder": p.get("holder"),
                "expires_at": "2026-01-01T04:00:00.000000Z",
                "released": True,
            },
        }

    @staticmethod
    def _build_result() -> dict:
        return {
            "changed": True,
            "survey": "phat_v2",
            "version": 2,
            "fits": [f"catalogs/v/fits/{i}.fits" for i in range(4)],
        }

    # S3, for ItemReader and ResultWriter ----------------------------------------
    def s3_get_object(self, bucket: str, key: str) -> bytes:
        return self.objects[(bucket, key)]

    def s3_list_objects(self, bucket: str, prefix: str) -> list[dict]:
        return [
            {"Key": k} for (b, k) in sorted(self.objects) if b == bucket and k.startswith(prefix)
        ]

    def s3_put_object(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    # Distributed Map children ---------------------------------------------------
    def child_started(self, arn: str, name: str, parent_arn: str, input: Any) -> None:
        with self._lock:
            self.children[arn] = {"events": []}

    def child_event(self, arn: str, event: dict) -> None:
        with self._lock:
            self.children[arn]["events"].append(event)

    def child_finished(self, arn, status, output, error, cause) -> None:
        pass


def _exposure_record(ev: dict) -> dict:
    """A registered exposure's record as ingest returns it (its size matters, not values)."""
    key = str(ev.get("key") or "j8f001abq_flc.fits")
    return {
        "exposure_id": key.split("_")[0],
        "field_id": "M31-B15-F09",
        "bucket": ev.get("bucket", "raw"),
        "key": key,
        "etag": ev.get("etag", "0" * 32),
        "filter": "F814W",
        "instrument": "ACS",
        "detector": "WFC",
        "exptime": 350.0,
        "mjd_start": 55000.0,
        "mjd_mid": 55000.002,
        "pointing_ra": 11.04,
        "pointing_dec": 41.27,
        "chips": [{"extver": 1, "shape": [2048, 4096]}, {"extver": 2, "shape": [2048, 4096]}],
        "version": 1,
    }


def _definition(root: Path, path: str) -> str:
    """A definition with ``${...}`` placeholders as ARNs naming their logical ids."""
    text = (root / path).read_text(encoding="utf-8")

    def arn(m: re.Match) -> str:
        name = m.group(1)
        if name.endswith("FunctionArn"):
            return f"arn:aws:lambda:us-east-1:000000000000:function:{name[: -len('Arn')]}"
        return f"arn:aws:local:::{name}"

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", arn, text)


def _inputs(machine: str, shape: SurveyShape, svc: DryServices) -> dict:
    """The input the dispatcher would start ``machine`` with for one field of ``shape``."""
    n = shape.exposures_per_field
    listing = {
        "bucket": "products",
        "key": "fields/F/ready-x/exposures.json",
        "prefix": "fields/F/ready-x/runs",
    }
    exposures = [
        {
            "exposure_id": f"j{i:07d}q",
            "bucket": "raw",
            "key": f"j{i:07d}q_flc.fits",
            "etag": "0" * 32,
            "filter": "F814W",
            "mjd": 55000.0 + i,
        }
        for i in range(n)
    ]
    svc.objects[(listing["bucket"], listing["key"])] = json.dumps(exposures).encode()
    payload: dict[str, Any] = {
        "field_id": "M31-B15-F09",
        "bucket": "raw",
        "bucket_role": "raw",
        "key": "j0000000q_flc.fits",
        "etag": "0" * 32,
        "n_exposures": n,
        "exposure_list": listing,
    }
    return {
        "job_id": f"job-{machine}",
        "event": {"event_id": "e1", "type": "x", "subject": "F", "payload": payload},
        "options": {"photometry": {}},
    }


_PARENT = "budget-dry-run"


def measure_machine(
    logical_id: str, shape: SurveyShape, root: Path | None = None, options: dict | None = None
) -> MachineRun:
    """Run one of template.yaml's state machines dry for one field of ``shape``
    (``options``: the registered task's, e.g. the ASTs' ``n_fakes`` and ``chunk_size``)."""
    root = root or find_project_root()
    specs = state_machines(load_template(root / "template.yaml"))
    if logical_id not in specs:
        raise ConfigError(f"no state machine {logical_id!r} in template.yaml")
    svc = DryServices(shape, options)
    sm = StateMachine(_definition(root, specs[logical_id].definition_uri))
    r = sm.execute(
        _inputs(logical_id, shape, svc),
        name=_PARENT,
        invoker=svc,
        child_executions=svc,
        sleep=lambda s: None,
    )
    children = list(svc.children.values())
    parent_calls: dict[str, int] = {}
    child_calls: dict[str, int] = {}
    for (execution, fn), count in svc.lambda_calls.items():
        calls = parent_calls if execution == _PARENT else child_calls
        calls[fn] = calls.get(fn, 0) + count
    return MachineRun(
        machine=logical_id,
        status=r.status,
        error=None if r.status == "SUCCEEDED" else f"{r.error}: {r.cause}",
        events=len(r.history),
        transitions=_transitions(r.history),
        largest_payload=max([_largest(r.history)] + [_largest(c["events"]) for c in children]),
        lambda_calls=parent_calls,
        children=len(children),
        child_events=max((len(c["events"]) for c in children), default=0),
        child_transitions=sum(_transitions(c["events"]) for c in children),
        child_lambda_calls=child_calls,
    )


#: how many events of a survey start each registered task (tasks.toml); a task not
#: listed here stops the plan, so a new task cannot be left out of the budget silently
_STARTS: dict[str, Callable[[SurveyShape], int]] = {
    "ingest_exposure": lambda s: s.exposures,  # one per uploaded exposure
    "check_field": lambda s: s.exposures,  # one per exposure.registered
    "check_field_manifest": lambda s: s.fields,  # one per uploaded manifest
    "reduce_field": lambda s: s.fields,  # one per field.ready
    "build_catalog": lambda s: s.fields,  # one per field.reduced
    "run_asts": lambda s: s.fields,  # one per field.reduced (compute not in spot_vcpu_hours)
}


@dataclass
class BudgetRow:
    task: str
    machine: str
    executions: int  # top-level executions
    children: int  # Distributed Map child executions
    transitions: int
    max_events: int  # the largest history of one execution (parent or child)
    largest_payload: int  # bytes
    lambda_calls: int
    lambda_gb_seconds: float


@dataclass
class Budget:
    shape: SurveyShape
    rows: list[BudgetRow]
    spot_vcpu_hours: float
    task_size: sizing.TaskSize
    prices: dict[str, float]
    #: catalog builds: hours of the on-demand Fargate task (template CatalogTaskCpu/Memory)
    catalog_task_hours: float = 0.0
    catalog_task_vcpu: float = 2.0
    catalog_task_gib: float = 16.0

    @property
    def executions(self) -> int:
        return sum(r.executions + r.children for r in self.rows)

    @property
    def transitions(self) -> int:
        return sum(r.transitions for r in self.rows)

    @property
    def lambda_gb_seconds(self) -> float:
        return sum(r.lambda_gb_seconds for r in self.rows)

    @property
    def max_events(self) -> int:
        return max(r.max_events for r in self.rows)

    @property
    def largest_payload(self) -> int:
        return max(r.largest_payload for r in self.rows)

    def usd(self) -> dict[str, float]:
        p = self.prices
        hours = self.spot_vcpu_hours / self.task_size.vcpu
        return {
            "step_functions": self.transitions * p["sfn_transition"],
            "lambda": self.lambda_gb_seconds * p["lambda_gb_second"]
            + sum(r.lambda_calls for r in self.rows) * p["lambda_request"],
            "fargate_spot": hours
            * (
                self.task_size.vcpu * p["fargate_spot_vcpu_hour"]
                + self.task_size.memory_gib * p["fargate_spot_gb_hour"]
            ),
            "fargate_catalog": self.catalog_task_hours
            * (
                self.catalog_task_vcpu * p["fargate_vcpu_hour"]
                + self.catalog_task_gib * p["fargate_gb_hour"]
            ),
        }

    def problems(self) -> list[str]:
        """Every quota the plan would break, or come within a factor of 4 of (history
        and state), or within a factor of 2 of (Lambda's 15 minutes)."""
        out = []
        need = sizing.estimate_field(
            self.shape.exposures_per_field * self.shape.pixels_per_exposure
        ).memory_mib
        if need > sizing.MAX_SIZE.memory_mib:
            out.append(
                f"photometry of one field needs {need / 1024:,.0f} GiB, more than Fargate's "
                f"largest task ({sizing.MAX_SIZE.memory_gib:g} GiB): split the field into "
                f"fields of at most {max_exposures_per_task(self.shape):,} exposures"
            )
        prep = _lambda_seconds("PreprocessExposureFunction", self.shape)
        if prep * 2 > LAMBDA_TIMEOUT_S:
            out.append(
                f"preprocessing one exposure takes ~{prep:,.0f} s of Lambda's "
                f"{LAMBDA_TIMEOUT_S} s: split it per chip"
            )
        for r in self.rows:
            if r.max_events * 4 > HISTORY_LIMIT_EVENTS:
                out.append(
                    f"{r.machine}: {r.max_events:,} history events in one execution "
                    f"(quota {HISTORY_LIMIT_EVENTS:,})"
                )
            if r.largest_payload * 4 > PAYLOAD_LIMIT_BYTES:
                out.append(
                    f"{r.machine}: a {r.largest_payload:,}-byte state "
                    f"(quota {PAYLOAD_LIMIT_BYTES:,})"
                )
        return out


def max_exposures_per_task(shape: SurveyShape) -> int:
    """The most exposures of ``shape``'s size one field's photometry task can hold."""
    spare = sizing.MAX_SIZE.memory_mib - sizing.MEMORY_BASE_MIB
    per_exposure = sizing.MEMORY_BYTES_PER_PIXEL * shape.pixels_per_exposure / 2**20
    return max(0, int(spare // per_exposure))


def _lambda_memory_gb(template: dict) -> dict[str, float]:
    default = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    return {
        lid: float(res.get("Properties", {}).get("MemorySize", default)) / 1024
        for lid, res in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def _lambda_seconds(fn: str, shape: SurveyShape) -> float:
    if fn == "PreprocessExposureFunction":
        return PREPROCESS_SECONDS_PER_MPIX * shape.pixels_per_exposure / 1e6
    return STEP_LAMBDA_SECONDS


def survey_budget(shape: SurveyShape, prices: dict[str, float], root: Path | None = None) -> Budget:
    """The Step Functions, Lambda and Spot budget of reducing ``shape`` once."""
    import tomllib

    root = root or find_project_root()
    template = load_template(root / "template.yaml")
    memory = _lambda_memory_gb(template)
    registry = tomllib.loads(
        (root / "src" / "cloudphot" / "pipeline" / "tasks.toml").read_text(encoding="utf-8")
    )
    rows, measured = [], {}
    for task in registry.get("task", []):
        name, executor = task["name"], task["executor"]
        if name not in _STARTS:
            raise ConfigError(
                f"task {name!r} in tasks.toml is not in the budget's plan "
                "(cloudphot.monitor.budget._STARTS): say how many events start it"
            )
        if executor.get("kind") != "state_machine":
            raise ConfigError(f"task {name!r}: the budget plans state machines only")
        machine = executor["name"]
        if machine not in measured:
            measured[machine] = measure_machine(machine, shape, root, task.get("options"))
        run = measured[machine]
        if run.status != "SUCCEEDED":
            raise ConfigError(
                f"{machine} fails for a field of {shape.exposures_per_field} exposures "
                f"(dry run): {run.error}"
            )
        starts = _STARTS[name](shape)
        calls = {f: c * starts for f, c in (run.lambda_calls | {}).items()}
        for f, c in run.child_lambda_calls.items():
            calls[f] = calls.get(f, 0) + c * starts
        rows.append(
            BudgetRow(
                task=name,
                machine=machine,
                executions=starts,
                children=run.children * starts,
                transitions=(run.transitions + run.child_transitions) * starts,
                max_events=max(run.events, run.child_events),
                largest_payload=run.largest_payload,
                lambda_calls=sum(calls.values()),
                lambda_gb_seconds=sum(
                    c * memory.get(f, 0.125) * _lambda_seconds(f, shape) for f, c in calls.items()
                ),
            )
        )
    estimate = sizing.estimate_field(shape.exposures_per_field * shape.pixels_per_exposure)
    size = sizing.fit_size(estimate.memory_mib)
    spot = shape.fields * estimate.seconds / 3600 * size.vcpu
    params = template.get("Parameters", {})
    return Budget(
        shape,
        rows,
        spot,
        size,
        prices,
        catalog_task_hours=_STARTS["build_catalog"](shape) * BUILD_SECONDS_PER_FIELD / 3600,
        catalog_task_vcpu=int(params.get("CatalogTaskCpu", {}).get("Default", 2048)) / 1024,
        catalog_task_gib=int(params.get("CatalogTaskMemory", {}).get("Default", 16384)) / 1024,
    )
