"""Operations resources: the dashboard, the Spot-reclaim metric and the hourly reconcile.

A dashboard that silently misses a new state machine or function is worse than
none (an empty graph reads as "no errors"), so every state machine, Lambda
function and queue the template declares must be on it.
"""

from __future__ import annotations

import json
import re

import pytest
from _template_helpers import PLACEHOLDER, references

from cloudphot.template import functions, resources_of_type, state_machines

STATUSES = {
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionsAborted",
}


@pytest.fixture
def body_text(resources) -> str:
    return resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]


@pytest.fixture
def metrics(body_text) -> list[list]:
    """Every metric row of every widget, placeholders left as ``${...}`` text."""
    body = json.loads(body_text)
    rows = []
    for widget in body["widgets"]:
        assert {"x", "y", "width", "height"} <= set(widget)
        rows += widget["properties"].get("metrics", [])
    return rows


def _dimension(row: list, name: str) -> str | None:
    parts = [p for p in row if isinstance(p, str)]
    for i in range(2, len(parts) - 1, 2):
        if parts[i] == name:
            return parts[i + 1]
    return None


def test_dashboard_refers_only_to_template_resources(template, body_text):
    named = {m.split(".", 1)[0] for m in PLACEHOLDER.findall(body_text)}
    assert named <= set(template["Resources"]) | {"AWS::Region"}


def test_every_state_machine_has_its_executions_by_status(template, metrics):
    machines = set(state_machines(template))
    assert machines
    for machine in machines:
        shown = {
            row[1]
            for row in metrics
            if row[0] == "AWS/States" and _dimension(row, "StateMachineArn") == "${" + machine + "}"
        }
        assert STATUSES <= shown, f"{machine}: missing {sorted(STATUSES - shown)}"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_errors_and_throttles(template, metrics, metric):
    shown = {
        _dimension(row, "FunctionName")
        for row in metrics
        if row[0] == "AWS/Lambda" and row[1] == metric
    }
    assert shown == {"${" + f + "}" for f in functions(template)}


def test_every_dead_letter_queue_depth_is_shown(template, metrics):
    queues = set(resources_of_type(template, "AWS::SQS::Queue"))
    shown = {
        _dimension(row, "QueueName")
        for row in metrics
        if row[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]
    }
    assert shown == {"${" + q + ".QueueName}" for q in queues}
    assert "${DispatchDeadLetterQueue.QueueName}" in shown


def test_the_checks_are_not_vacuous(template, metrics):
    """Dropping one function's row must be noticed by the comparison above."""
    errors = [r for r in metrics if r[:2] == ["AWS/Lambda", "Errors"]]
    fewer = {_dimension(r, "FunctionName") for r in errors[1:]}
    assert fewer != {"${" + f + "}" for f in functions(template)}


def test_spot_interruptions_come_from_a_metric_filter_that_matches_a_reclaim(resources, metrics):
    """The dashboard's SpotInterruptions metric is produced by a filter on the reduce_field
    execution log, and that filter's pattern matches what the classifier calls a Spot reclaim."""
    from cloudphot.pipeline.reduce import describe_worker_failure

    shown = [row for row in metrics if row[:2] == ["cloudphot", "SpotInterruptions"]]
    assert shown
    filters = [
        r["Properties"]
        for r in resources_of_type({"Resources": resources}, "AWS::Logs::MetricFilter").values()
        if any(
            t["MetricName"] == "SpotInterruptions" and t["MetricNamespace"] == "cloudphot"
            for t in r["Properties"]["MetricTransformations"]
        )
    ]
    assert len(filters) == 1
    (flt,) = filters
    (log_group,) = references(flt["LogGroupName"])
    machine = resources["ReduceFieldStateMachine"]["Properties"]
    destination = machine["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert references(destination) == {log_group}, "the filter must read reduce_field's log"
    assert machine["Logging"]["IncludeExecutionData"] is True, "the cause is execution data"

    pattern = flt["FilterPattern"]
    assert '$.type = "TaskFailed"' in pattern
    (regex,) = re.findall(r"\$\.details\.cause = %([^%]+)%", pattern)
    # the cause Step Functions logs for a reclaimed ecs:runTask.sync task
    cause = json.dumps(
        {
            "StopCode": "SpotInterruption",
            "StoppedReason": "Your Spot Task was interrupted.",
            "Containers": [{"ExitCode": 143}],
        }
    )
    assert re.search(regex, cause)
    assert describe_worker_failure("States.TaskFailed", cause)[0] == "spot"
    other = json.dumps({"StopCode": "EssentialContainerExited", "Containers": [{"ExitCode": 3}]})
    assert not re.search(regex, other)


def test_reconcile_runs_hourly_with_only_what_it_needs(resources):
    fn = resources["ReconcileFunction"]["Properties"]
    assert fn["CodeUri"] == "functions/reconcile/" and fn["Handler"] == "app.handler"
    (source,) = fn["Events"].values()
    assert source["Type"] == "Schedule"
    assert source["Properties"]["Schedule"] == "rate(1 hour)"
    granted = {}
    for policy in fn["Policies"]:
        for statement in policy["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                granted.setdefault(action, set()).update(references(statement["Resource"]))
    assert granted == {
        "s3:ListBucket": {"RawBucket"},
        "dynamodb:GetItem": {"EventsTable"},
        "dynamodb:PutItem": {"EventsTable"},
    }
    # the bucket itself (ListBucket acts on the bucket ARN), not its objects
    (listing,) = [
        s for p in fn["Policies"] for s in p["Statement"] if s["Action"] == "s3:ListBucket"
    ]
    assert listing["Resource"] == {"Fn::GetAtt": ["RawBucket", "Arn"]}


def test_a_bucket_notifies_eventbridge_only_when_a_rule_listens(template, project_root):
    """Issue 17 item 11: the template says what the code does. A bucket with EventBridge
    on and no rule for it sends every write's event to nobody (ProductsBucket did)."""
    from cloudphot.runtime.targets import LocalTargets
    from cloudphot.settings import Settings
    from cloudphot.template import resources_of_type

    targets = LocalTargets.load(project_root, Settings())
    routed = set(targets.object_created_routes())
    for lid, res in resources_of_type(template, "AWS::S3::Bucket").items():
        on = (
            ((res.get("Properties") or {}).get("NotificationConfiguration") or {})
            .get("EventBridgeConfiguration", {})
            .get("EventBridgeEnabled")
        )
        bucket = targets.bucket_for_logical_id(lid)
        assert bool(on) == (bucket in routed), f"{lid}: EventBridge {on}, routed {bucket in routed}"
