"""Error names: the state machines name only errors that exist, and retry categories.

Step Functions matches ``ErrorEquals`` by exact name. A name cloudphot raises must be
a class in ``errors.py``, and a Retry names the category (``TransientError``), which
every subclass is reported under, so a new kind of transient error is retried
without editing a state machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudphot import errors

ROOT = Path(__file__).resolve().parents[2]


def _clauses(node, where=""):
    """(state machine file, state, "Retry"|"Catch", names) of every clause."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("Retry", "Catch") and isinstance(v, list):
                for clause in v:
                    yield where, k, clause.get("ErrorEquals", [])
            yield from _clauses(v, f"{where}/{k}" if k not in ("States",) else where)
    elif isinstance(node, list):
        for v in node:
            yield from _clauses(v, where)


CLAUSES = [
    (path.name, where, kind, names)
    for path in sorted((ROOT / "statemachines").glob("*.asl.json"))
    for where, kind, names in _clauses(json.loads(path.read_text()), "")
]


def test_every_error_name_the_state_machines_match_is_a_cloudphot_error():
    unknown = sorted(
        {
            f"{f}{w}: {name}"
            for f, w, _, names in CLAUSES
            for name in names
            # names Step Functions (States.*) or a service integration (Lambda.*,
            # DynamoDB.*, Athena.*...) raise have a dot; cloudphot's classes never do
            if "." not in name
            and not (
                isinstance(getattr(errors, name, None), type)
                and issubclass(getattr(errors, name), errors.CloudphotError)
                and name in errors.__all__
            )
        }
    )
    assert not unknown, "ErrorEquals names with no class in errors.py:\n" + "\n".join(unknown)


def test_no_state_machine_names_an_error_that_is_reported_under_its_category():
    hidden = sorted(
        {
            f"{f}{w}: {name} (reported as {getattr(errors, name).reported_as})"
            for f, w, _, names in CLAUSES
            for name in names
            if isinstance(getattr(errors, name, None), type)
            and getattr(errors, name).reported_as not in (None, name)
        }
    )
    assert not hidden, "never matched, Lambda reports these by category:\n" + "\n".join(hidden)


def _lambda_tasks(states: dict, where: str = ""):
    for name, st in states.items():
        if st.get("Type") == "Task" and "lambda:invoke" in st.get("Resource", ""):
            yield f"{where}{name}", st
        for sub in ("Iterator", "ItemProcessor"):
            if sub in st:
                yield from _lambda_tasks(st[sub]["States"], f"{where}{name}/")
        for branch in st.get("Branches", []):
            yield from _lambda_tasks(branch["States"], f"{where}{name}/")


def test_every_lambda_task_retries_the_transient_category():
    missing = [
        f"{path.name}: {where}"
        for path in sorted((ROOT / "statemachines").glob("*.asl.json"))
        for where, st in _lambda_tasks(json.loads(path.read_text())["States"])
        if not {n for r in st.get("Retry", []) for n in r["ErrorEquals"]}
        & {"TransientError", "States.ALL"}
    ]
    assert not missing, missing


def test_a_subclass_of_a_category_is_raised_under_the_category_name():
    class ReplicaLag(errors.TransientError):
        """A transient error nobody has written into a state machine."""

    reported = errors.as_reported(ReplicaLag("index not caught up"))
    assert type(reported) is errors.TransientError
    assert str(reported) == "ReplicaLag: index not caught up"
    bad = errors.InvalidExposure("x_flc.fits", "no SCI")
    assert errors.as_reported(bad) is bad  # data errors keep their names for Catch


@pytest.mark.slow
def test_a_new_transient_error_in_a_lambda_is_retried_by_the_real_state_machine(
    local_settings, project_root, tmp_path
):
    """Through the local runtime: the ingest Lambda raises a subclass of TransientError
    that no ASL file names, once; ingest_exposure's Retry runs it again, and it succeeds."""
    from cloudphot.events import JobState
    from cloudphot.pipeline.steps import read_uploaded_exposure
    from cloudphot.platform import make_handler
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.simulate.exposure import synthetic_exposure

    class ReplicaLag(errors.TransientError):
        pass

    calls = []

    def flaky(request, svc):
        calls.append(request["key"])
        if len(calls) == 1:
            raise ReplicaLag("the exposures index has not caught up")
        return read_uploaded_exposure(request, svc)

    rt = LocalRuntime(local_settings, project_root=project_root, sleep=lambda s: None)
    try:
        rt.register()
        rt.lambdas._handlers["IngestExposureFunction"] = make_handler(flaky, metric="Test")
        exposure = synthetic_exposure(
            tmp_path / "jlag01q_flc.fits", rootname="jlag01q", shape=(64, 64), nstars=8, seed=1
        )
        rt.upload([exposure])
        rt.run()
        (job,) = [j for j in rt.store.jobs() if j.task == "ingest_exposure"]
        assert job.state is JobState.SUCCEEDED and job.attempts == 1 and len(calls) == 2
        failed = [
            e["taskFailedEventDetails"]
            for e in rt.executions.history(job.execution_id)
            if e["type"] == "TaskFailed"
        ]
        assert [f["error"] for f in failed] == ["TransientError"]
        assert "ReplicaLag: the exposures index" in failed[0]["cause"]
    finally:
        rt.close()


#: errors Step Functions itself raises (ASL spec appendix A and the AWS developer guide)
STATES_ERRORS = frozenset(
    "States." + n
    for n in (
        "ALL HeartbeatTimeout Timeout TaskFailed Permissions ResultPathMatchFailure "
        "ParameterPathFailure QueryEvaluationError BranchFailed NoChoiceMatched "
        "IntrinsicFailure ExceedToleratedFailureThreshold ItemReaderFailed "
        "ResultWriterFailed Runtime DataLimitExceeded"
    ).split()
)
#: ErrorEquals prefix of an optimised integration -> (botocore service, the Java SDK's
#: catch-all names Step Functions reports when the service's error has no class)
INTEGRATIONS = {
    "Lambda": ("lambda", {"AWSLambdaException", "SdkClientException"}),
    "DynamoDB": ("dynamodb", {"AmazonDynamoDBException", "SdkClientException"}),
    "ECS": ("ecs", {"AmazonECSException", "SdkClientException"}),
    "Athena": ("athena", {"AmazonAthenaException", "SdkClientException"}),
    # S3Exception: the Java SDK v2's base class, the name AWS SDK integrations
    # (arn:aws:states:::aws-sdk:s3:*) report an unmodelled S3 error under
    "S3": ("s3", {"AmazonS3Exception", "S3Exception", "SdkClientException"}),
}
#: error codes every AWS service may return (AWS API reference, "Common errors")
COMMON_ERRORS = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestLimitExceeded"}
)


def _service_errors(service: str) -> set[str]:
    """The service's exception shapes, also under the Java SDK's ``...Exception`` names."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    shapes = {s for s in model.shape_names if model.shape_for(s).metadata.get("exception")}
    return shapes | {s + "Exception" for s in shapes if not s.endswith("Exception")}


def _task_clauses(states: dict, where: str = ""):
    """(state path, Resource, names) of every Retry/Catch clause of a Task state."""
    for name, st in states.items():
        if st.get("Type") == "Task":
            for kind in ("Retry", "Catch"):
                for clause in st.get(kind, []):
                    yield f"{where}{name}/{kind}", st["Resource"], clause["ErrorEquals"]
        for sub in ("Iterator", "ItemProcessor"):
            if sub in st:
                yield from _task_clauses(st[sub]["States"], f"{where}{name}/")
        for branch in st.get("Branches", []):
            yield from _task_clauses(branch["States"], f"{where}{name}/")


def test_every_dotted_error_name_is_one_step_functions_or_the_called_service_raises():
    """A misspelt or wrong-service name (DynamoDB.Throttling, a Lambda task retrying
    DynamoDB.*) matches nothing and silently turns a retry into a failure."""
    known = {prefix: _service_errors(svc) | extra for prefix, (svc, extra) in INTEGRATIONS.items()}
    dead = []
    for path in sorted((ROOT / "statemachines").glob("*.asl.json")):
        for where, resource, names in _task_clauses(json.loads(path.read_text())["States"]):
            called = resource.split(":::", 1)[-1].split(":", 1)[0].lower()
            if called == "aws-sdk":  # arn:aws:states:::aws-sdk:<service>:<action>
                called = resource.split(":::", 1)[-1].split(":")[1].lower()
            for name in (n for n in names if "." in n):
                prefix, _, code = name.partition(".")
                if prefix == "States":
                    ok = name in STATES_ERRORS
                else:
                    ok = (
                        prefix in known
                        and INTEGRATIONS[prefix][0] == called
                        and (code in known[prefix] or code in COMMON_ERRORS)
                    )
                if not ok:
                    dead.append(f"{path.name}: {where}: {name} (Task calls {called})")
    assert not dead, "ErrorEquals names nothing raises there:\n" + "\n".join(dead)


def test_every_transient_class_is_reported_under_a_name_the_state_machines_retry():
    """The other direction: each retryable class reaches a Retry (by its category)."""
    retried = {n for _, _, kind, names in CLAUSES if kind == "Retry" for n in names if "." not in n}
    retryable = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.TransientError)
    ]
    assert retryable and all((c.reported_as or c.__name__) in retried for c in retryable)
