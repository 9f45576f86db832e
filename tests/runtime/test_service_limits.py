"""Payload quotas of the services the state machines pass data through."""

from __future__ import annotations

import threading

import pytest

from cloudphot.runtime.ecs import OVERRIDES_LIMIT_CHARS, EcsTaskFailed, LocalEcs
from cloudphot.runtime.lambdas import INVOKE_PAYLOAD_LIMIT_BYTES, LambdaError, LocalLambdas


def test_ecs_container_overrides_over_8192_characters_are_refused(tmp_path):
    ecs = LocalEcs(None, {}, tmp_path)
    env = [{"Name": "BIG", "Value": "x" * OVERRIDES_LIMIT_CHARS}]
    params = {
        "TaskDefinition": "arn:aws:ecs:local:0:task-definition/t:1",
        "Overrides": {"ContainerOverrides": [{"Name": "c", "Environment": env}]},
    }
    with pytest.raises(EcsTaskFailed, match="at most 8192") as info:
        ecs.run_task(params, cancelled=threading.Event())
    assert info.value.error == "ECS.InvalidParameterException"


class _Targets:
    def __init__(self):
        self.template = {"Resources": {"F": {"Properties": {}}}}


def _lambdas(result):
    lambdas = LocalLambdas(_Targets())
    lambdas.handler = lambda logical_id: lambda event, ctx: result
    return lambdas


def test_lambda_request_over_6_mb_is_refused():
    with pytest.raises(LambdaError) as info:
        _lambdas(None).invoke("F", "x" * INVOKE_PAYLOAD_LIMIT_BYTES)
    assert info.value.error == "Lambda.RequestTooLargeException"


def test_lambda_response_over_6_mb_fails_the_invocation():
    with pytest.raises(LambdaError) as info:
        _lambdas("x" * INVOKE_PAYLOAD_LIMIT_BYTES).invoke("F", {})
    assert info.value.error == "Function.ResponseSizeTooLarge"
    assert _lambdas({"ok": 1}).invoke("F", {}) == {"ok": 1}
