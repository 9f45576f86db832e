"""The small steps of the reduce_field state machine (the heavy step is the ECS worker).

Each step is idempotent: products have deterministic keys derived from their
inputs, and a step whose product already exists returns it without redoing work.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..errors import InvalidEvent, ObjectNotFound
from ..products import keys
from .services import Services
from .steps import require

__all__ = [
    "RETRY_LIMITS",
    "classify_worker_failure",
    "plan_photometry",
    "preprocess_step",
    "summarize_field",
]

#: default retry budgets per failure class (a task's options may override them)
RETRY_LIMITS = {
    "spot": 6,  # Spot reclaims tolerated in total (they do not use the others' budgets)
    "spot_fallback": 2,  # after this many reclaims, run on on-demand capacity
    "transient": 3,  # throttling, service errors, lost connections
    "memory": 2,  # out-of-memory reruns, each with twice the memory
}
MEMORY_CAP_MIB = 30720  # Fargate's maximum with 4 vCPU


def preprocess_step(request: dict, svc: Services) -> dict:
    """Masks (DQ, saturation, cosmic rays) and sky of one exposure, as a product."""
    from ..photometry.options import PhotometryOptions
    from ..photometry.preprocess import preprocess_exposure

    require(request, "field_id")
    exp = request.get("exposure")
    require(exp, "exposure_id", "bucket", "key")
    bucket = svc.settings.bucket("products")
    key = _prep_key(exp, (request.get("options") or {}).get("branch"))
    out = {
        "exposure_id": exp["exposure_id"],
        "image": Path(exp["key"]).name,
        "prep": {"bucket": bucket, "key": key},
    }
    if svc.objects.exists(bucket, key):
        return {**out, "reused": True}
    options = PhotometryOptions(**((request.get("options") or {}).get("photometry") or {}))
    with (
        svc.objects.local_path(exp["bucket"], exp["key"]) as path,
        tempfile.TemporaryDirectory(prefix="cloudphot-prep-") as tmp,
    ):
        result = preprocess_exposure(path, options=options, output=Path(tmp) / "prep.fits")
        svc.objects.put_file(bucket, key, result.path)
    return {**out, "reused": False, "stats": result.stats}


def _prep_key(exp: dict, branch: str | None) -> str:
    """Where an exposure's preprocessed product lives (one rule for writer and readers)."""
    etag = str(exp.get("etag") or "noetag")[:12]
    return keys.exposure_product(exp["exposure_id"], f"prep-{etag}.fits", branch)


def read_exposure_list(request: dict, svc: Services) -> list[dict]:
    """The field's exposures from the object ``request["exposure_list"]`` names.

    reduce_field passes the list by reference (a field's list would grow its state
    toward Step Functions' 256 KiB limit); an inline ``exposures`` list is still read.
    """
    if "exposures" in request:
        exposures = request["exposures"]
    else:
        ref = request.get("exposure_list")
        require(ref, "bucket", "key")
        try:
            exposures = json.loads(svc.objects.get_bytes(ref["bucket"], ref["key"]))
        except ObjectNotFound:
            raise InvalidEvent(
                f"the exposure list s3://{ref['bucket']}/{ref['key']} is missing; rerun "
                "check_field for the field"
            ) from None
        except ValueError as exc:
            raise InvalidEvent(
                f"the exposure list s3://{ref['bucket']}/{ref['key']} is not JSON: {exc}"
            ) from None
    if not isinstance(exposures, list) or not exposures:
        raise InvalidEvent("the field's exposures must be a non-empty list")
    for e in exposures:
        require(e, "exposure_id", "bucket", "key")
    return exposures


def plan_photometry(request: dict, svc: Services) -> dict:
    """Write the worker's request to the products bucket (container overrides are capped
    at 8 KiB, a field's exposure list is not) and choose the first capacity.

    The preprocessed products are found by their deterministic keys, checked to exist,
    rather than passed in the execution's state (which would grow with the field)."""
    require(request, "job_id", "field_id")
    exposures = read_exposure_list(request, svc)
    options = dict(request.get("options") or {})
    bucket = svc.settings.bucket("products")
    prepared = {}
    for e in exposures:
        prep = {"bucket": bucket, "key": _prep_key(e, options.get("branch"))}
        if not svc.objects.exists(prep["bucket"], prep["key"]):
            raise InvalidEvent(
                f"exposure {e['exposure_id']}: its preprocessed product s3://{bucket}/"
                f"{prep['key']} is missing; did PreprocessExposures run?"
            )
        prepared[Path(e["key"]).name] = prep
    worker_request = {
        "job_id": request["job_id"],
        "field_id": request["field_id"],
        "exposures": [
            {"bucket": e["bucket"], "key": e["key"], "etag": e.get("etag", "")} for e in exposures
        ],
        "preprocessed": prepared,
        "options": options,
        "products_bucket": svc.settings.bucket("products"),
        "branch": options.get("branch"),
    }
    key = keys.field_product(request["field_id"], "request.json", options.get("branch"))
    svc.objects.put_bytes(
        bucket,
        key,
        json.dumps(worker_request, indent=1, sort_keys=True).encode(),
        content_type="application/json",
    )
    limits = {**RETRY_LIMITS, **(options.get("retry_limits") or {})}
    return {
        "request": {"bucket": bucket, "key": key},
        "capacity_provider": "FARGATE" if options.get("on_demand") else "FARGATE_SPOT",
        "memory_mib": int(options.get("memory_mib", 16384)),
        "attempts": {"spot": 0, "transient": 0, "memory": 0},
        "limits": limits,
    }


def _worker_failure_class(error: str, cause: str) -> tuple[str, str, str]:
    """(class, error name, reason) of a failed photometry task.

    ``ecs:runTask.sync`` reports every container failure as ``States.TaskFailed``
    with the DescribeTasks JSON as cause; the class comes from the task's
    StopCode and the container's exit code (worker protocol: 3 data error,
    75 transient, 137 out of memory, 143 SIGTERM).
    """
    if error == "States.Timeout":
        return "transient", "WorkerTimedOut", "the photometry task exceeded its timeout"
    try:
        task = json.loads(cause) if cause else {}
    except json.JSONDecodeError:
        task = {}
    if not isinstance(task, dict):
        task = {}
    container = (task.get("Containers") or [{}])[0] or {}
    code = container.get("ExitCode")
    reason = container.get("Reason") or task.get("StoppedReason") or cause[:500]
    stop = task.get("StopCode", "")
    if stop == "SpotInterruption" or (code == 143 and stop != "UserInitiated"):
        return "spot", "SpotInterrupted", str(reason)
    if code == 137 or "OutOfMemory" in str(reason):
        return "memory", "OutOfMemory", str(reason)
    if code == 75 or stop in ("TaskFailedToStart", "ServiceSchedulerInitiated"):
        return "transient", "TransientError", str(reason)
    if code == 3:
        return "data", _named(reason, "DataError"), str(reason)
    if error.startswith("ECS."):  # RunTask/DescribeTasks API errors: throttling, no capacity
        return "transient", "TransientError", str(reason)
    return "unknown", _named(reason, "WorkerFailed"), str(reason)


def _named(reason: str, default: str) -> str:
    try:
        doc = json.loads(reason)
        return str(doc.get("error") or default)
    except (json.JSONDecodeError, TypeError, AttributeError):
        return default


def classify_worker_failure(request: dict, svc: Services | None = None) -> dict:
    """Decide what a failed photometry task costs and whether it runs again.

    Each failure class spends its own budget: a Spot reclaim never uses up the
    budget for real failures, and after ``spot_fallback`` reclaims the task moves
    to on-demand capacity; out-of-memory reruns double the memory up to a cap;
    transient errors back off; data errors are not retried, they are surfaced.
    """
    err = request.get("error") or {}
    plan = request.get("plan") or {}
    attempts = dict(plan.get("attempts") or {"spot": 0, "transient": 0, "memory": 0})
    limits = {**RETRY_LIMITS, **(plan.get("limits") or {})}
    klass, name, reason = _worker_failure_class(
        str(err.get("Error", "")), str(err.get("Cause", ""))
    )
    capacity = plan.get("capacity_provider", "FARGATE_SPOT")
    memory = int(plan.get("memory_mib", 16384))
    retry, wait = False, 0
    if klass in attempts:
        attempts[klass] += 1
        retry = attempts[klass] <= limits[klass]
        wait = min(60, 2 ** attempts[klass])
    if klass == "spot" and attempts["spot"] >= limits["spot_fallback"]:
        capacity = "FARGATE"
    if klass == "memory":
        if memory >= MEMORY_CAP_MIB:
            retry = False
        memory = min(MEMORY_CAP_MIB, memory * 2)
    return {
        **plan,
        "attempts": attempts,
        "capacity_provider": capacity,
        "memory_mib": memory,
        "last_failure": {"class": klass, "error": name, "reason": reason[:2000]},
        "retry": retry,
        "wait_seconds": wait,
    }


def summarize_field(request: dict, svc: Services) -> dict:
    """The worker's result (written next to the products) as the field.reduced payload."""
    require(request, "field_id")
    bucket = svc.settings.bucket("products")
    branch = (request.get("options") or {}).get("branch")
    key = keys.field_product(request["field_id"], "result.json", branch)
    try:
        result = json.loads(svc.objects.get_bytes(bucket, key))
    except ObjectNotFound:
        raise InvalidEvent(
            f"the photometry worker left no s3://{bucket}/{key}; did it finish?"
        ) from None
    result["n_exposures"] = len(read_exposure_list(request, svc))
    if "exposure_list" in request:
        result["exposure_list"] = request["exposure_list"]
    if branch:
        result["branch"] = branch
    return result
