"""The small steps of the reduce_field state machine (the heavy step is the ECS worker).

Each step is idempotent: its product is a :class:`~cloudphot.storage.Target`
(a deterministic key, and the fingerprint of its inputs), and a step whose target
is complete returns it without redoing work.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from .. import validate
from ..errors import InvalidEvent, InvalidExposure, NoUsableExposures, ObjectNotFound
from ..products import fingerprint, keys
from ..storage import Target
from ..validate import integer, mapping, s3_key, text
from ..worker import EXIT_DATA_ERROR, EXIT_OUT_OF_MEMORY, EXIT_SPOT_INTERRUPTED, EXIT_TRANSIENT
from . import sizing
from .options import check_photometry_options, check_reduce_options
from .services import Services
from .steps import require

__all__ = [
    "RETRY_LIMITS",
    "classify_worker_failure",
    "describe_worker_failure",
    "plan_photometry",
    "preprocess_step",
    "summarize_field",
]

#: default retry budgets per failure class (a task's options may override them)
RETRY_LIMITS = {
    "spot": 6,  # Spot reclaims tolerated in total (they do not use the others' budgets)
    "spot_fallback": 2,  # after this many reclaims, run on on-demand capacity
    "capacity": 6,  # RunTask found no capacity (Spot shortage, an AZ out of Fargate)
    "capacity_fallback": 2,  # after this many shortages on Spot, run on on-demand capacity
    "quota": 48,  # the account's Fargate vCPU quota is full: wait for other tasks to end
    "transient": 3,  # throttling, service errors, lost connections, timeouts
    "memory": 3,  # out-of-memory reruns along the Fargate sizes (2x memory each)
}
#: every budgeted class, as the plan's attempt counters
_CLASSES = ("spot", "capacity", "quota", "transient", "memory")


def preprocess_step(request: dict, svc: Services) -> dict:
    """Masks (DQ, saturation, cosmic rays) and sky of one exposure, as a product.

    An exposure whose pixels are unusable (no finite pixel, negative ERR...) does not
    fail the field: its reason is written where the product would be (an exclusion
    record, found by the same deterministic key rule), the field is reduced without it.
    """
    from ..photometry.preprocess import preprocess_exposure

    request = mapping(request, "request")
    validate.field_id(request)
    exp = _exposure(mapping(request.get("exposure"), "exposure"), "exposure")
    options = mapping(request.get("options"), "options", optional=True)
    prep, exclusion = _prep_targets(svc, exp, options)
    out = {"exposure_id": exp["exposure_id"], "image": Path(exp["key"]).name, "prep": prep.ref()}
    if prep.exists():
        return {**out, "reused": True}
    photometry = _photometry_options(options)
    try:
        with (
            svc.objects.local_path(exp["bucket"], exp["key"]) as path,
            tempfile.TemporaryDirectory(prefix="cloudphot-prep-") as tmp,
        ):
            result = preprocess_exposure(path, options=photometry, output=Path(tmp) / "prep.fits")
            assert result.path is not None  # written, since an output was given
            prep.write_file(result.path)
    except InvalidExposure as exc:
        excluded = {"exposure_id": exp["exposure_id"], "error": exc.error_name, "reason": str(exc)}
        exclusion.write_bytes(
            json.dumps(excluded, sort_keys=True).encode(), content_type="application/json"
        )
        return {**out, "prep": None, "excluded": excluded}
    return {**out, "reused": False, "stats": result.stats}


def _photometry_options(options: dict):
    """The engine's tunables from ``options.photometry``; unknown or mistyped ones are
    an InvalidEvent naming them (not a TypeError from the dataclass)."""
    from ..photometry.options import PhotometryOptions

    given = mapping(options.get("photometry"), "options.photometry", optional=True)
    check_photometry_options(given)
    return PhotometryOptions(**given)


def _exposure(e: dict, where: str) -> dict:
    """One exposure of a field as the steps get it (ids and keys become product keys)."""
    validate.exposure_id(e, where=where)
    require(e, "bucket", where=where)
    s3_key(e, "key", where)
    text(e, "etag", where, optional=True, empty=True, max_len=200)
    return e


def _etag_segment(exp: dict) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", str(exp.get("etag") or ""))[:12] or "noetag"


def _prep_targets(svc: Services, exp: dict, options: dict) -> tuple[Target, Target]:
    """An exposure's preprocessed product, and the record of why it was excluded instead
    (one rule for writer and readers): keyed by the upload's etag and the branch,
    complete when made from that upload and these photometry options (they set the
    masks and the sky)."""
    branch = validate.branch_name(options)
    inputs = fingerprint(
        {
            "exposure": [exp["bucket"], exp["key"], str(exp.get("etag") or "")],
            "photometry": options.get("photometry"),
        }
    )
    bucket, seg = svc.settings.bucket("products"), _etag_segment(exp)
    return (
        Target(
            svc.objects,
            bucket,
            keys.exposure_product(exp["exposure_id"], f"prep-{seg}.fits", branch),
            inputs,
        ),
        Target(
            svc.objects,
            bucket,
            keys.exposure_product(exp["exposure_id"], f"excluded-{seg}.json", branch),
            inputs,
        ),
    )


def read_exposure_list(request: dict, svc: Services) -> list[dict]:
    """The field's exposures from the object ``request["exposure_list"]`` names.

    reduce_field passes the list by reference (a field's list would grow its state
    toward Step Functions' 256 KiB limit); an inline ``exposures`` list is still read.
    """
    request = mapping(request, "request")
    if "exposures" in request:
        exposures = request["exposures"]
    else:
        ref = require(request.get("exposure_list"), "bucket", "key", where="exposure_list")
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
        _exposure(mapping(e, "exposures[]"), "exposures[]")
    return exposures


def plan_photometry(request: dict, svc: Services) -> dict:
    """Write the worker's request to the products bucket (container overrides are capped
    at 8 KiB, a field's exposure list is not); choose capacity, task size and timeout.

    The preprocessed products are found by their deterministic keys, checked to exist,
    rather than passed in the execution's state (which would grow with the field).
    The size is the smallest Fargate task holding the field's estimated memory
    (:func:`.sizing.estimate_field`, from the registered chips' pixel counts) on
    as few vCPUs as allow it, since the engine runs on one core; ``options.cpu`` /
    ``options.memory_mib`` override it and must be a Fargate size (ConfigError
    otherwise, before anything is submitted). The attempt timeout scales with the
    estimate: a crowded field is not cut off by a constant, and a cut-off attempt
    resumes from its checkpoints.
    """
    require(request, "job_id")
    validate.field_id(request)
    exposures = read_exposure_list(request, svc)
    options = dict(mapping(request.get("options"), "options", optional=True))
    check_reduce_options(options)
    branch = validate.branch_name(options)
    limits = mapping(options.get("retry_limits"), "options.retry_limits", optional=True)
    bucket = svc.settings.bucket("products")
    prepared, kept, excluded = {}, [], []
    for e in exposures:
        prep, exclusion = _prep_targets(svc, e, options)
        if prep.exists():
            prepared[Path(e["key"]).name] = prep.ref()
            kept.append(e)
        elif exclusion.exists():
            excluded.append(exclusion.read_json())
        else:
            raise InvalidEvent(
                f"exposure {e['exposure_id']}: its preprocessed product {prep.uri} is missing "
                "or was made from other inputs; did PreprocessExposures run?"
            )
    if not kept:
        reasons = "; ".join(x.get("reason", "?") for x in excluded)
        raise NoUsableExposures(
            f"field {request['field_id']}: every exposure was excluded ({reasons[:1500]})"
        )
    estimate = sizing.estimate_field(_field_pixels(svc, request["field_id"], kept))
    size = _task_size(options, estimate)
    key = keys.field_product(request["field_id"], "request.json", branch)
    task_definition = _recorded_task_definition(svc, bucket, request, branch) or text(
        request, "task_definition", "request", optional=True
    )
    worker_request = {
        "job_id": request["job_id"],
        "field_id": request["field_id"],
        "task_definition": task_definition,
        "exposures": [
            {"bucket": e["bucket"], "key": e["key"], "etag": e.get("etag", "")} for e in kept
        ],
        "excluded": excluded,
        "preprocessed": prepared,
        "options": options,
        "products_bucket": svc.settings.bucket("products"),
        "branch": branch,
    }
    svc.objects.put_bytes(
        bucket,
        key,
        json.dumps(worker_request, indent=1, sort_keys=True).encode(),
        content_type="application/json",
    )
    return {
        "request": {"bucket": bucket, "key": key},
        "capacity_provider": "FARGATE" if options.get("on_demand") is True else "FARGATE_SPOT",
        **size.as_dict(),
        "estimate": estimate.as_dict(),
        "timeout_seconds": sizing.attempt_timeout_s(estimate),
        "attempts": dict.fromkeys(_CLASSES, 0),
        "limits": {**RETRY_LIMITS, **limits},
        "excluded": len(excluded),
        "task_definition": task_definition,
    }


def _recorded_task_definition(
    svc: Services, bucket: str, request: dict, branch: str | None
) -> str | None:
    """The worker task definition revision (with a digest-named image: the image) this
    job ran first.

    A retry of the job reads it from its own request.json; a replay as a branch from
    the request of the reduction it replays. So reruns run the image the job recorded,
    not whatever a deploy since has made current (the template keeps old revisions
    registered for this: UpdateReplacePolicy Retain).
    """
    own = keys.field_product(request["field_id"], "request.json", branch)
    candidates = [(own, request["job_id"])]
    if branch:
        candidates.append((keys.field_product(request["field_id"], "request.json"), None))
    for key, job_id in candidates:
        try:
            doc = json.loads(svc.objects.get_bytes(bucket, key))
        except (ObjectNotFound, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and (job_id is None or doc.get("job_id") == job_id):
            recorded = doc.get("task_definition")
            if isinstance(recorded, str) and recorded:
                return recorded
    return None


#: pixels of an exposure whose chips are not on record (ACS/WFC: two 4096x2048 chips)
_DEFAULT_EXPOSURE_PIXELS = 2 * 4096 * 2048


def _field_pixels(svc: Services, field_id: str, exposures: list[dict]) -> int:
    """Chip pixels of the field's exposures, from their registered records."""
    wanted = {e.get("exposure_id") for e in exposures}
    pixels = {}
    for item in svc.tables.query("exposures", "by_field", field_id):
        record = json.loads(item["record"]) if isinstance(item.get("record"), str) else item
        if record.get("exposure_id") in wanted:
            pixels[record["exposure_id"]] = sum(
                int(c["shape"][0]) * int(c["shape"][1])
                for c in record.get("chips") or []
                if len(c.get("shape") or []) == 2
            )
    return sum(pixels.get(e, 0) or _DEFAULT_EXPOSURE_PIXELS for e in wanted)


def _task_size(options: dict, estimate: sizing.FieldEstimate) -> sizing.TaskSize:
    cpu, memory = options.get("cpu"), options.get("memory_mib")
    if cpu is not None or memory is not None:
        return sizing.validate_size(cpu, memory, where="options")
    return sizing.fit_size(estimate.memory_mib)


#: RunTask ``Failures`` reasons and ECS API messages that mean "no capacity now"
_CAPACITY = ("capacity is unavailable", "insufficient capacity", "resource:cpu", "resource:memory")
#: ... and that mean the account's quota (vCPUs, concurrent tasks) is full
_QUOTA = ("reached the limit", "limit on the number of", "exceeded the limit", "quota")


def describe_worker_failure(error: str, cause: str) -> tuple[str, str, str]:
    """(class, error name, reason) of a failed ECS worker task.

    ``ecs:runTask.sync`` reports a container failure as ``States.TaskFailed``
    with the DescribeTasks JSON as cause: the class comes from the task's
    StopCode and the container's exit code (the worker protocol's,
    :mod:`cloudphot.worker`). A RunTask call whose response
    has ``Failures`` (no task started) fails as ``AmazonECS.Unknown``; an API
    error as ``ECS.<Exception>``: their reasons say capacity, quota, a size
    Fargate does not offer (configuration), or a transient problem.
    """
    if error == "States.Timeout":
        return "transient", "WorkerTimedOut", "the photometry task exceeded its timeout"
    try:
        task = json.loads(cause) if cause else {}
    except json.JSONDecodeError:
        task = {}
    if not isinstance(task, dict):
        task = {}
    failures = task.get("Failures") or task.get("failures")
    if error == "AmazonECS.Unknown" or (error.startswith("ECS.") and not task.get("Containers")):
        reasons = [str(f.get("Reason", "")) for f in failures or [] if isinstance(f, dict)]
        text = "; ".join(reasons) or cause[:500] or error
        low = text.lower()
        if any(k in low for k in _CAPACITY):
            return "capacity", "CapacityUnavailable", text
        if any(k in low for k in _QUOTA):
            return "quota", "QuotaExceeded", text
        if error == "ECS.InvalidParameterException" or "no fargate configuration" in low:
            return "config", "InvalidTaskSize" if "fargate" in low else "ConfigError", text
        return "transient", "TransientError", text
    container = (task.get("Containers") or [{}])[0] or {}
    code = container.get("ExitCode")
    reason = container.get("Reason") or task.get("StoppedReason") or cause[:500]
    stop = task.get("StopCode", "")
    if stop == "SpotInterruption" or (code == EXIT_SPOT_INTERRUPTED and stop != "UserInitiated"):
        return "spot", "SpotInterrupted", str(reason)
    if code == EXIT_OUT_OF_MEMORY or "OutOfMemory" in str(reason):
        return "memory", "OutOfMemory", str(reason)
    if code == EXIT_TRANSIENT or stop in ("TaskFailedToStart", "ServiceSchedulerInitiated"):
        return "transient", "TransientError", str(reason)
    if code == EXIT_DATA_ERROR:
        return "data", _named(reason, "DataError"), str(reason)
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
    budget for real failures, and after ``spot_fallback`` reclaims (or
    ``capacity_fallback`` Spot shortages) the task moves to on-demand capacity;
    out-of-memory reruns move up the Fargate sizes (:func:`.sizing.escalate`) to
    16 vCPU / 120 GiB; a full vCPU quota waits; transient errors back off;
    configuration and data errors are not retried, they are surfaced.
    """
    request = mapping(request, "request")
    err = mapping(request.get("error"), "error", optional=True)
    plan = mapping(request.get("plan"), "plan")
    counted = mapping(plan.get("attempts"), "plan.attempts", optional=True)
    attempts = {k: integer(counted, k, "plan.attempts", default=0, lo=0) for k in _CLASSES}
    given = mapping(plan.get("limits"), "plan.limits", optional=True)
    limits = {k: integer(given, k, "plan.limits", default=v, lo=0) for k, v in RETRY_LIMITS.items()}
    klass, name, reason = describe_worker_failure(
        text(err, "Error", "error", optional=True, empty=True, max_len=1000) or "",
        text(err, "Cause", "error", optional=True, empty=True, max_len=262_144) or "",
    )
    capacity = text(plan, "capacity_provider", "plan", optional=True) or "FARGATE_SPOT"
    size = sizing.TaskSize(
        integer(plan, "cpu", "plan", default=4096, lo=1),
        integer(plan, "memory_mib", "plan", default=16384, lo=1),
    )
    retry, wait = False, 0
    if klass in attempts:
        attempts[klass] += 1
        retry = attempts[klass] <= limits[klass]
        wait = min(60, 2 ** attempts[klass])
    if klass == "spot" and attempts["spot"] >= limits["spot_fallback"]:
        capacity = "FARGATE"
    if klass == "capacity":
        wait = min(300, 15 * attempts["capacity"])
        if capacity == "FARGATE_SPOT" and attempts["capacity"] >= limits["capacity_fallback"]:
            capacity = "FARGATE"
    if klass == "quota":
        wait = min(600, 60 * attempts["quota"])
    if klass == "memory":
        bigger = sizing.escalate(size)
        if bigger is None:
            retry = False
            reason = (
                f"{reason} (already at Fargate's largest task, "
                f"{size.vcpu:g} vCPU / {size.memory_gib:g} GiB)"
            )
        else:
            size = bigger
    return {
        **plan,
        "attempts": attempts,
        "capacity_provider": capacity,
        **size.as_dict(),
        "last_failure": {"class": klass, "error": name, "reason": reason[:2000]},
        "retry": retry,
        "wait_seconds": wait,
    }


def summarize_field(request: dict, svc: Services) -> dict:
    """The worker's result (written next to the products) as the field.reduced payload."""
    request = mapping(request, "request")
    validate.field_id(request)
    branch = validate.branch_name(mapping(request.get("options"), "options", optional=True))
    bucket = svc.settings.bucket("products")
    result = _product_json(
        svc, bucket, keys.field_product(request["field_id"], "result.json", branch)
    )
    plan = _product_json(
        svc, bucket, keys.field_product(request["field_id"], "request.json", branch)
    )
    excluded = plan.get("excluded") or [] if isinstance(plan, dict) else []
    result["n_exposures"] = len(read_exposure_list(request, svc)) - len(excluded)
    if excluded:
        result["excluded"] = excluded[:100]  # the whole list is in request.json
        result["n_excluded"] = len(excluded)
    if "exposure_list" in request:
        result["exposure_list"] = request["exposure_list"]
    if branch:
        result["branch"] = branch
    return result


def _product_json(svc: Services, bucket: str, key: str) -> dict:
    try:
        doc = json.loads(svc.objects.get_bytes(bucket, key))
    except ObjectNotFound:
        raise InvalidEvent(
            f"the photometry worker left no s3://{bucket}/{key}; did it finish?"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"s3://{bucket}/{key} is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent(f"s3://{bucket}/{key} is not a JSON object")
    return doc
