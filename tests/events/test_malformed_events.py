"""A malformed-event corpus over every Lambda step and the dispatcher (issue 14.4).

Each step gets a valid request, then every field of it (at every depth) replaced by
values of the wrong type or shape, or removed, and the request itself replaced by
non-objects. The only outcomes allowed: the step returns, or it raises one of
cloudphot's named errors (InvalidEvent for a malformed request; a storage or data
error naming what is missing). AttributeError, TypeError, KeyError, IndexError,
ValueError and UnicodeError are bugs: they reach Step Functions as nameless failures.
"""

from __future__ import annotations

import copy
import json

import pytest

from cloudphot.errors import CloudphotError

WRONG = [None, [], {}, 0, -1, 1.5, True, "", "x", "\udc80", "a" * 2000, [1, "a"], {"a": 1}]
NOT_OBJECTS = [None, [], "request", 7, True, 1.5]


def _paths(obj, prefix=()):
    """Every (path, value) inside a JSON-like object, depth first."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k), v
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i), v
            yield from _paths(v, (*prefix, i))


def _set(obj, path, value, remove=False):
    out = copy.deepcopy(obj)
    node = out
    for p in path[:-1]:
        node = node[p]
    if remove:
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.pop(path[-1])
    else:
        node[path[-1]] = value
    return out


def corpus(valid):
    yield "as sent", valid
    for bad in NOT_OBJECTS:
        yield f"request={bad!r:.20}", bad
    for path, _ in _paths(valid):
        yield f"{'.'.join(map(str, path))} removed", _set(valid, path, None, remove=True)
        for bad in WRONG:
            yield f"{'.'.join(map(str, path))}={bad!r:.20}", _set(valid, path, bad)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    settings = Settings.from_env(home=tmp_path_factory.mktemp("ws"), backend="local", env={})
    return LocalPlatform(settings).services


def _notification(bucket="raw", key="m31/jgood01q_flc.fits", etag="0123abcd"):
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2026-01-01T00:00:00Z",
        "detail": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 100, "etag": etag, "version-id": "v1"},
        },
    }


def _event(type_, payload):
    return {
        "event_id": "e1",
        "type": type_,
        "subject": "s",
        "payload": payload,
        "source": "s3",
        "created_at": "2026-01-01T00:00:00.000Z",
    }


EXPOSURE = {
    "exposure_id": "jgood01q",
    "bucket": "raw",
    "key": "m31/jgood01q_flc.fits",
    "etag": "0123abcd",
    "filter": "F814W",
    "mjd": 57000.1,
}
PLAN = {
    "request": {"bucket": "products", "key": "fields/f/request.json"},
    "capacity_provider": "FARGATE_SPOT",
    "memory_mib": 16384,
    "attempts": {"spot": 0, "transient": 0, "memory": 0},
    "limits": {"spot": 6, "spot_fallback": 2, "transient": 3, "memory": 2},
    "excluded": [],
}


def _steps():
    from cloudphot.catalog.steps import handle as build_catalog
    from cloudphot.pipeline.fields import check_field
    from cloudphot.pipeline.reduce import (
        classify_worker_failure,
        plan_photometry,
        preprocess_step,
        summarize_field,
    )
    from cloudphot.pipeline.steps import (
        read_uploaded_exposure,
        record_execution_status,
        record_object_created,
    )

    return {
        "OnObject": (record_object_created, _notification()),
        "IngestExposure": (
            read_uploaded_exposure,
            {"job_id": "j-1", "bucket": "raw", "key": "a_flc.fits", "etag": "e"},
        ),
        "CheckField/registered": (
            check_field,
            {"job_id": "j", "event": _event("exposure.registered", {"field_id": "m31-f1"})},
        ),
        "CheckField/manifest": (
            check_field,
            {
                "job_id": "j",
                "event": _event(
                    "object.created", {"bucket": "raw", "key": "manifests/m31-f1.json"}
                ),
            },
        ),
        "Preprocess": (
            preprocess_step,
            {"job_id": "j", "field_id": "m31-f1", "exposure": EXPOSURE, "options": {}},
        ),
        "PlanPhotometry": (
            plan_photometry,
            {
                "job_id": "reduce_field-0123456789abcdef",
                "field_id": "m31-f1",
                "exposures": [EXPOSURE],
                "options": {"photometry": {}},
            },
        ),
        "PlanPhotometry/by-reference": (
            plan_photometry,
            {
                "job_id": "reduce_field-0123456789abcdef",
                "field_id": "m31-f1",
                "exposure_list": {"bucket": "products", "key": "fields/m31-f1/exposures.json"},
                "options": {},
            },
        ),
        "ClassifyWorkerFailure": (
            classify_worker_failure,
            {
                "error": {
                    "Error": "States.TaskFailed",
                    "Cause": json.dumps({"StopCode": "SpotInterruption", "Containers": [{}]}),
                },
                "plan": PLAN,
            },
        ),
        "SummarizeField": (
            summarize_field,
            {"field_id": "m31-f1", "exposures": [EXPOSURE], "options": {}},
        ),
        "JobStatus": (
            record_execution_status,
            {
                "detail-type": "Step Functions Execution Status Change",
                "detail": {
                    "name": "ingest_exposure-0123456789abcdef",
                    "status": "SUCCEEDED",
                    "executionArn": "arn:x",
                },
            },
        ),
        "BuildCatalog": (
            build_catalog,
            {
                "action": "build",
                "job_id": "j",
                "event": _event("field.reduced", {"field_id": "m31-f1"}),
            },
        ),
    }


@pytest.mark.parametrize("step", sorted(_steps()))
def test_every_malformed_request_gets_a_named_error(svc, step):
    fn, valid = _steps()[step]
    bugs = []
    for label, request in corpus(valid):
        try:
            fn(request, svc)
        except CloudphotError:
            pass
        except Exception as exc:  # collecting every bug is the point
            bugs.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
    assert not bugs, f"{step}: {len(bugs)} unnamed error(s):\n" + "\n".join(bugs[:40])


def test_the_dispatcher_dispatches_or_sets_aside_every_malformed_event(svc):
    """Stored event items with every field mangled: each is dispatched (its jobs created)
    or set aside with a named error; the dispatcher itself never raises."""
    from cloudphot.events import Dispatcher, load_registry

    class Starter:
        def start(self, job):
            return None

    valid = _event("object.created", json.dumps({"bucket": "raw", "key": "a_flc.fits", "etag": ""}))
    dispatcher = Dispatcher(svc.store, load_registry(), Starter())
    handled = 0
    for n, (label, item) in enumerate(corpus({**valid, "payload": json.loads(valid["payload"])})):
        if not isinstance(item, dict):
            continue  # the tables hold objects only
        item = {**item, "event_id": f"corpus-{n}"}
        if isinstance(item.get("payload"), dict):
            item["payload"] = json.dumps(item["payload"])
        try:
            svc.tables.put("events", item)
        except CloudphotError:
            continue  # not storable (the tables refuse it): never reaches a dispatcher
        dispatcher.dispatch_item(item)
        stored = svc.tables.get("events", item["event_id"])
        letter = svc.tables.get("dead_letters", item["event_id"])
        jobs = svc.store.jobs_for_event(item["event_id"])
        assert stored["dispatched_at"], label
        assert bool(letter) or jobs or item.get("type") != "object.created", label
        if letter:
            assert letter["error"] and letter["cause"], label
        handled += 1
    assert handled > 100
