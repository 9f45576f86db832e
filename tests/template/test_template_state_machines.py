"""State machine files against the template that deploys them.

A placeholder without a substitution deploys as a literal ``${...}`` string and
fails at run time; a Task without Retry turns every throttle into a failed job;
a Task without Catch fails the job without recording why. These are checked here
for every state machine, including states nested in Map and Parallel.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from _template_helpers import PLACEHOLDER, definition, definition_text, iter_states, references

from cloudphot.template import load_template, resources_of_type, state_machines

_MACHINES = sorted(state_machines(load_template()))
#: the pipeline's machines, which the dispatcher starts and JobStatus follows; the TAP
#: service's TapJobStateMachine is started by the service (src/cloudphot/service/aws.py)
_PIPELINE = [m for m in _MACHINES if m != "TapJobStateMachine"]


def test_template_has_state_machines():
    assert "IngestExposureStateMachine" in _MACHINES


@pytest.mark.parametrize("machine", _MACHINES)
def test_placeholders_and_substitutions_match(template, project_root, machine):
    spec = state_machines(template)[machine]
    used = set(PLACEHOLDER.findall(definition_text(project_root, spec.definition_uri)))
    declared = set(spec.substitutions)
    assert used - declared == set(), f"{spec.definition_uri}: placeholders without a substitution"
    assert declared - used == set(), f"{machine}: substitutions its definition never uses"


@pytest.mark.parametrize("machine", _MACHINES)
def test_substitutions_refer_to_template_resources(template, machine):
    spec = state_machines(template)[machine]
    for key, value in spec.substitutions.items():
        refs = references(value)
        assert refs, f"{machine}: {key} is a literal; substitute names and ARNs from resources"
        assert refs <= set(template["Resources"]) | {
            "AWS::Region",
            "AWS::AccountId",
            "AWS::Partition",
            "AWS::StackName",
            "AWS::URLSuffix",
        }, (machine, key, refs)


@pytest.mark.parametrize("machine", _MACHINES)
def test_every_task_has_retry_and_catch(template, project_root, machine):
    spec = state_machines(template)[machine]
    states = definition(project_root, spec.definition_uri)["States"]
    tasks = [(where, s) for where, s in iter_states(states) if s.get("Type") == "Task"]
    assert tasks, f"{machine} has no Task states"
    for where, state in tasks:
        assert state.get("Retry"), f"{machine}: Task {where} has no Retry"
        assert state.get("Catch"), f"{machine}: Task {where} has no Catch"


def test_iter_states_reaches_nested_tasks():
    """The walker the Retry/Catch test relies on must see inside Map and Parallel."""
    states = {
        "M": {"Type": "Map", "ItemProcessor": {"States": {"InMap": {"Type": "Task"}}}},
        "P": {"Type": "Parallel", "Branches": [{"States": {"InBranch": {"Type": "Task"}}}]},
        "Old": {"Type": "Map", "Iterator": {"States": {"InIterator": {"Type": "Task"}}}},
    }
    names = {where for where, _ in iter_states(states)}
    assert {"M/InMap", "P[0]/InBranch", "Old/InIterator"} <= names


#: definition files knowingly not deployed yet, with the reason; remove an entry when
#: its state machine is added to template.yaml (the test below then insists)
NOT_DEPLOYED_YET: dict[str, str] = {}


def test_every_definition_file_is_deployed(template, project_root):
    deployed = {spec.definition_uri for spec in state_machines(template).values()}
    files = {
        p.relative_to(project_root).as_posix()
        for p in (project_root / "statemachines").glob("*.asl.json")
    }
    assert files - deployed - set(NOT_DEPLOYED_YET) == set(), (
        "definition files no state machine in template.yaml uses"
    )
    stale = {f for f in NOT_DEPLOYED_YET if f in deployed or f not in files}
    assert stale == set(), "deployed or gone now: remove from NOT_DEPLOYED_YET"


@pytest.mark.parametrize("machine", _MACHINES)
def test_logging_and_tracing(resources, machine):
    props = resources[machine]["Properties"]
    assert props["Logging"]["Level"] == "ALL"
    assert props["Logging"]["IncludeExecutionData"] is True
    group = props["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    (log_group,) = references(group)
    assert resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert props["Tracing"]["Enabled"] is True


def _statements(props: dict) -> list[dict]:
    out = []
    for policy in props.get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            out += policy["Statement"]
    return out


def _actions(statement: dict) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


@pytest.mark.parametrize("machine", _MACHINES)
def test_policies_cover_the_integrations_used(template, project_root, machine):
    """Each Lambda invoked and each DynamoDB item written by a Task is granted to the machine."""
    spec = state_machines(template)[machine]
    props = template["Resources"][machine]["Properties"]
    subs = spec.substitutions
    invoke_granted = {
        references(p["LambdaInvokePolicy"]["FunctionName"]).pop()
        for p in props.get("Policies", [])
        if isinstance(p, dict) and "LambdaInvokePolicy" in p
    }
    # placeholders sit inside JSON strings, so the raw file parses and keeps their names
    raw_states = json.loads(definition_text(project_root, spec.definition_uri))["States"]
    checked = 0
    for where, state in iter_states(raw_states):
        resource = state.get("Resource", "")
        params = state.get("Parameters", {})
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            (name,) = PLACEHOLDER.findall(params["FunctionName"])
            (function,) = references(subs[name])
            assert function in invoke_granted, f"{machine}: {where} invokes {function} ungranted"
        elif resource.startswith("arn:aws:states:::dynamodb:"):
            api = resource.rsplit(":", 1)[1]
            action = "dynamodb:" + api[0].upper() + api[1:]
            (name,) = PLACEHOLDER.findall(params["TableName"])
            (table,) = references(subs[name])
            granted = [
                s
                for s in _statements(props)
                if action in _actions(s) and table in references(s.get("Resource"))
            ]
            assert granted, f"{machine}: {where} needs {action} on {table}"
        else:
            continue
        checked += 1
    assert checked, f"{machine}: no Lambda or DynamoDB integration was checked"


def test_dispatch_can_start_every_state_machine(resources):
    """STATE_MACHINE_ARNS and states:StartExecution must name every cloudphot state machine."""
    props = resources["DispatchFunction"]["Properties"]
    arns = props["Environment"]["Variables"]["STATE_MACHINE_ARNS"]["Fn::Sub"]
    mapping = json.loads(arns)
    assert set(mapping) == set(_PIPELINE)
    for lid, value in mapping.items():
        assert value == "${" + lid + "}", "Ref of a state machine is its ARN"
    start = [s for s in _statements(props) if "states:StartExecution" in _actions(s)]
    assert start and references([s["Resource"] for s in start]) == set(_PIPELINE)


def test_job_status_hears_every_state_machine(resources):
    pattern = resources["JobStatusFunction"]["Properties"]["Events"]["ExecutionStatusChange"][
        "Properties"
    ]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert references(pattern["detail"]["stateMachineArn"]) == set(_PIPELINE)


def test_every_state_machine_has_a_failure_alarm(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = set()
    for alarm in alarms:
        props = alarm["Properties"]
        if props.get("Namespace") == "AWS/States" and props["MetricName"] == "ExecutionsFailed":
            watched |= references(props["Dimensions"])
            assert props["AlarmActions"]
    assert watched == set(_MACHINES)


def test_registered_executors_exist_in_the_template(project_root, template):
    """tasks.toml names executors by logical id; each must be deployed with the right type."""
    kinds = {
        "state_machine": "AWS::Serverless::StateMachine",
        "lambda": "AWS::Serverless::Function",
        "ecs": "AWS::ECS::TaskDefinition",
    }
    registry = tomllib.loads(
        (project_root / "src/cloudphot/pipeline/tasks.toml").read_text(encoding="utf-8")
    )
    assert registry["task"]
    for task in registry["task"]:
        executor = task["executor"]
        res = template["Resources"].get(executor["name"])
        assert res is not None, f"task {task['name']}: no {executor['name']} in template.yaml"
        assert res["Type"] == kinds[executor["kind"]], task["name"]
