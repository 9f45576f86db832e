"""Least privilege and safe storage, checked on every policy the template writes.

Allowed statements may not use wildcard actions, and every resource they name
must be one of the template's own resources (a Ref, GetAtt or Sub of a logical
id), except for the few actions AWS offers no resource-level permission for,
listed in RESOURCE_STAR_ALLOWED with the reason. SAM's own additions (the
X-Ray write policy for Tracing, stream-reading for the DynamoDB event source,
SQS destinations) are generated at deploy time and are not in this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _template_helpers import references

#: actions that only work with Resource "*" (no resource-level permissions in IAM)
RESOURCE_STAR_ALLOWED = {
    # Step Functions log delivery to CloudWatch Logs (Logging on state machines)
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # ECS pulling a private image: the registry login token is account-wide
    "ecr:GetAuthorizationToken",
    # X-Ray segments and custom metrics are not resources
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
}
#: SAM policy templates allowed in Policies (each is scoped to one named resource)
POLICY_TEMPLATES_ALLOWED = {"LambdaInvokePolicy"}
ROOT = Path(__file__).resolve().parents[2]
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix"}
#: AWS-managed resources a policy may name although the template does not create them
MANAGED_RESOURCES = (
    # the EventBridge rule Step Functions creates for ecs:runTask.sync
    ":rule/StepFunctionsGetEventsForECSTaskRule",
    # the account's Glue Data Catalog: every Glue request on a database or table is also
    # authorized against it (CatalogReaderPolicy)
    ":${AWS::AccountId}:catalog",
    # the stack itself, whose outputs the CLI reads (CatalogReaderPolicy)
    ":stack/${AWS::StackName}/*",
    # a Distributed Map starts and watches child executions of its own state machine,
    # whose ARN its own policy cannot reference (a circular dependency)
    ":stateMachine:ReduceFieldStateMachine-*",
    ":execution:ReduceFieldStateMachine-*",
    # every revision of PhotometryTaskDefinition's family (kept registered by its
    # UpdateReplacePolicy): a retry runs the revision its job recorded
    ":task-definition/${AWS::StackName}-photometry:*",
    # and of CatalogTaskDefinition's: an execution started before an update runs the
    # revision its definition named
    ":task-definition/${AWS::StackName}-catalog:*",
    # the same for run_asts's Distributed Map of AST chunks and AstsTaskDefinition's family
    ":stateMachine:RunAstsStateMachine-*",
    ":execution:RunAstsStateMachine-*",
    ":task-definition/${AWS::StackName}-asts:*",
    # ECS's service-linked role, which IAM names and DeploySupport creates when missing
    ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
)


def policy_statements(template: dict) -> list[tuple[str, object]]:
    """(where, statement-or-policy) for every identity policy in the template."""
    found: list[tuple[str, object]] = []
    for lid, res in template["Resources"].items():
        props = res.get("Properties", {}) or {}
        kind = res.get("Type")
        if kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            policies = props.get("Policies", [])
            for policy in policies if isinstance(policies, list) else [policies]:
                if isinstance(policy, dict) and "Statement" in policy:
                    found += [(lid, s) for s in policy["Statement"]]
                else:
                    found.append((lid, policy))
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [
                    (f"{lid}/{policy['PolicyName']}", s)
                    for s in policy["PolicyDocument"]["Statement"]
                ]
            for arn in props.get("ManagedPolicyArns", []):
                found.append((lid, arn))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(lid, s) for s in props["PolicyDocument"]["Statement"]]
    return found


def problems(template: dict, *, managed_allowed: frozenset[str] = frozenset()) -> list[str]:
    """Everything in the template's policies that breaks least privilege."""
    resources = set(template["Resources"])
    # a parameter constrained by AllowedPattern/AllowedValues may narrow a resource
    # (catalogs/${SurveyName}/*), but never stands for one on its own
    params = {
        name
        for name, spec in (template.get("Parameters") or {}).items()
        if spec.get("AllowedPattern") or spec.get("AllowedValues")
    }
    out = []
    for where, statement in policy_statements(template):
        if isinstance(statement, str) and statement in managed_allowed:
            continue
        # the template's own managed policies: their statements are checked here too
        if (
            isinstance(statement, dict)
            and set(statement) == {"Ref"}
            and template["Resources"].get(statement["Ref"], {}).get("Type")
            == "AWS::IAM::ManagedPolicy"
        ):
            continue
        if not isinstance(statement, dict) or "Effect" not in statement:
            if isinstance(statement, dict) and set(statement) <= POLICY_TEMPLATES_ALLOWED:
                continue
            out.append(f"{where}: managed policy or policy template {statement!r}")
            continue
        if statement["Effect"] != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            out.append(f"{where}: NotAction/NotResource in an Allow")
            continue
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        out += [f"{where}: wildcard action {a}" for a in actions if "*" in a]
        targets = statement.get("Resource", [])
        targets = targets if isinstance(targets, list) else [targets]
        for target in targets:
            if target == "*":
                extra = set(actions) - RESOURCE_STAR_ALLOWED
                if extra:
                    out.append(f"{where}: Resource '*' for {sorted(extra)}")
            elif _managed(target):
                continue
            elif (
                not (references(target) - PSEUDO - params)
                or not references(target) <= resources | PSEUDO | params
            ):
                out.append(f"{where}: resource {target!r} is not one of the template's resources")
    return out


def _managed(target) -> bool:
    text = target.get("Fn::Sub") if isinstance(target, dict) else target
    return isinstance(text, str) and text.endswith(MANAGED_RESOURCES)


def test_policies_are_least_privilege(template):
    assert problems(template) == []


def test_the_checker_catches_broad_policies():
    """A checker that can't fail proves nothing: feed it the usual mistakes."""
    bad = {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table"},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Policies": [
                        "AmazonS3FullAccess",
                        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}},
                        {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:*",
                                    "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
                                },
                                {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": "arn:aws:s3:::*",
                                },
                                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
                                {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
                                # an unconstrained parameter could be "*"; a constrained one alone names nothing
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": {"Fn::Sub": "${Table.Arn}/${Free}/*"},
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": {"Fn::Sub": "arn:aws:s3:::${Named}/*"},
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": {"Fn::Sub": "${Table.Arn}/${Named}/*"},
                                },
                            ]
                        },
                    ]
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]
                },
            },
        },
        "Parameters": {
            "Free": {"Type": "String"},
            "Named": {"Type": "String", "AllowedPattern": "^[a-z]+$"},
        },
    }
    found = problems(bad)
    assert len(found) == 9, found
    assert not any("Deny" in f for f in found)


@pytest.mark.parametrize("bucket", ["RawBucket", "ProductsBucket"])
def test_buckets_are_private_encrypted_and_announce_objects(resources, bucket):
    props = resources[bucket]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # which bucket announces its objects (only where a rule listens): test_template_operations
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload") and r["Status"] == "Enabled" for r in rules)


@pytest.mark.parametrize("bucket,days", [("RawBucket", 90), ("ProductsBucket", 30)])
def test_buckets_are_versioned_and_old_versions_expire(resources, bucket, days):
    props = resources[bucket]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    expiring = [
        r for r in props["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r
    ]
    assert [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in expiring] == [days]
    assert all(r["Status"] == "Enabled" and "Prefix" not in r for r in expiring)


def _s3_grants(statements: list[dict], action: str, effect: str) -> list[str]:
    """The object ARN patterns (as ${Bucket.Arn}/... text) a role's statements give ``action``."""
    out = []
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if st["Effect"] != effect or action not in actions:
            continue
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out += [r["Fn::Sub"] for r in resources if isinstance(r, dict) and "Fn::Sub" in r]
    return out


def _may(statements: list[dict], action: str, arn: str) -> bool:
    """IAM's answer for one S3 object (explicit deny wins; * matches across '/')."""
    from fnmatch import fnmatchcase

    def hit(effect):
        return any(fnmatchcase(arn, p) for p in _s3_grants(statements, action, effect))

    return hit("Allow") and not hit("Deny")


def test_the_photometry_worker_writes_only_field_products(resources):
    """It parses untrusted FITS: it may write a field's products and checkpoints, never a
    published catalog, an exposure's preprocessed product or its own request."""
    (policy,) = resources["PhotometryTaskRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    products = "${ProductsBucket.Arn}/"
    for key, allowed in [
        ("fields/m31-b15-f09/catalog.parquet", True),
        ("fields/m31-b15-f09/result.json", True),
        ("branches/strict/fields/m31-b15-f09/catalog.parquet", True),
        ("checkpoints/m31-b15-f09/align.json", True),
        ("fields/m31-b15-f09/request.json", False),
        ("branches/strict/fields/m31-b15-f09/request.json", False),
        ("catalogs/phat_v2/v0001/phot_mod/dataset/Norder=10/Dir=0/Npix=1.parquet", False),
        ("catalogs/phat_v2/LATEST", False),
        ("exposures/jcp001aaq/prep-0123.fits", False),
        ("athena-results/x.csv", False),
    ]:
        assert _may(statements, "s3:PutObject", products + key) is allowed, key
    assert _may(statements, "s3:GetObject", products + "exposures/jcp001aaq/prep-0123.fits")
    assert not _s3_grants(statements, "s3:DeleteObject", "Allow")
    # it reads its request from S3 and reports through its exit; no table is its to write
    assert not any("dynamodb:" in str(st["Action"]) for st in statements)


def test_reruns_can_run_the_task_definition_revision_their_job_recorded(resources):
    task = resources["PhotometryTaskDefinition"]
    assert task["UpdateReplacePolicy"] == "Retain"  # CloudFormation would deregister it
    plan = json.loads((ROOT / "statemachines/reduce_field.asl.json").read_text())["States"]
    assert plan["RunPhotometry"]["Parameters"]["TaskDefinition.$"] == (
        "$.photometry.plan.task_definition"
    )
    assert plan["PlanPhotometry"]["Parameters"]["Payload"]["task_definition"] == (
        "${PhotometryTaskDefinitionArn}"
    )


def test_job_status_changes_are_never_lost(resources):
    config = resources["JobStatusFunction"]["Properties"]["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["JobStatusDeadLetterQueue", "Arn"]},
    }


@pytest.mark.parametrize("api", ["MonitorApi", "TapApi"])
def test_http_apis_are_throttled_and_log_access(resources, api):
    props = resources[api]["Properties"]
    route = props["DefaultRouteSettings"]
    assert 0 < route["ThrottlingRateLimit"] <= route["ThrottlingBurstLimit"]
    logs = props["AccessLogSettings"]
    group = logs["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "$context.identity.sourceIp" in logs["Format"] and "$context.status" in logs["Format"]


def test_every_log_group_expires(template):
    """Lambda's own log groups keep logs forever: functions log to FunctionLogs instead."""
    groups = {
        lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert all(
        g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values()
    )
    assert template["Globals"]["Function"]["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogs"}}
    for lid, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            assert "LoggingConfig" not in res["Properties"], f"{lid} overrides the log group"


@pytest.mark.parametrize("bucket", ["RawBucket", "ProductsBucket"])
def test_buckets_deny_plain_http(template, bucket):
    policies = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1, f"{bucket} needs exactly one bucket policy"
    denies = [
        s
        for s in policies[0]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert denies, f"{bucket}: no statement denying aws:SecureTransport false"
    covered = denies[0]["Resource"]
    assert {"Fn::GetAtt": [bucket, "Arn"]} in covered, "the bucket itself"
    assert {"Fn::Sub": "${" + bucket + ".Arn}/*"} in covered, "its objects"


def test_queues_are_encrypted(template):
    queues = [r for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    assert queues
    for queue in queues:
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId")


def test_dead_letter_queues_are_watched(template):
    queues = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    watched = set()
    for res in template["Resources"].values():
        if res["Type"] == "AWS::CloudWatch::Alarm" and res["Properties"]["Namespace"] == "AWS/SQS":
            watched |= references(res["Properties"]["Dimensions"])
            assert res["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert watched == queues


def test_photometry_network_accepts_nothing_from_outside(resources):
    group = resources["PhotometrySecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"]
    nat = [lid for lid, r in resources.items() if r["Type"] == "AWS::EC2::NatGateway"]
    assert nat == [], "public subnets and AssignPublicIp instead of a NAT gateway (cost)"
    zones = {
        str(resources[s]["Properties"]["AvailabilityZone"])
        for s in ("PhotometrySubnetA", "PhotometrySubnetB")
    }
    assert len(zones) == 2


#: AWS managed policies SAM attaches by itself, each with Resource "*" inside:
#: CloudWatch Logs for every function, X-Ray for Tracing, stream reading for the
#: DynamoDB event source (ListStreams has no resource-level permission)
SAM_MANAGED_ALLOWED = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    }
)


def test_roles_sam_generates_are_least_privilege(sam_translated):
    """What is deployed is SAM's translation: check the roles it generates, including
    the statements it adds for event sources and destinations, with the same rules."""
    translated = sam_translated
    roles = {lid for lid, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert {
        "OnObjectFunctionRole",
        "DispatchFunctionRole",
        "IngestExposureStateMachineRole",
    } <= roles
    assert problems(translated, managed_allowed=SAM_MANAGED_ALLOWED) == []
