"""Test helper: the template's stateful resources inside a moto mock, from ``template.yaml`` itself.

Tests that exercise the AWS adapters (DynamoDB tables, S3 object store, Step
Functions starter) build their moto resources here, so the keys, indexes,
streams and state machine definitions they run against are the ones that get
deployed: if the template and the code drift apart, those tests fail.

Nothing here is a second copy of the schema: tables are created from the
template's ``AWS::DynamoDB::Table`` properties (which CloudFormation names
almost exactly like the DynamoDB API), and state machines from their
``DefinitionUri`` files with ``DefinitionSubstitutions`` resolved to the moto
resources' names and ARNs.

What is created: S3 buckets (encryption, versioning), DynamoDB tables (keys,
GSIs, streams, point-in-time recovery), SQS queues, Step Functions state
machines, the catalog's Glue database and tables (columns, partition keys and
projection parameters) and its Athena workgroup (enforced configuration).
Template parameters take their defaults unless ``parameters`` overrides them. Lambda functions, ECS clusters and task definitions, IAM roles,
subnets and security groups are *not* created (moto needs docker to run
functions, and nothing here runs tasks); their names, ids and ARNs are
synthesized in AWS's shapes so that state machines referring to them can be
created, and they appear in the returned mapping like everything else.

Use it inside an active mock::

    with moto.mock_aws():
        physical = create_from_template()
        physical["EventsTable"]                 # 'cloudphot-EventsTable'
        physical["IngestExposureStateMachine"]  # 'arn:aws:states:us-east-1:...'
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import boto3

from cloudphot.errors import ConfigError
from cloudphot.template import find_project_root, load_template, resources_of_type, state_machines

__all__ = ["create_from_template", "physical_names"]

_BUCKET = "AWS::S3::Bucket"
_TABLE = "AWS::DynamoDB::Table"
_QUEUE = "AWS::SQS::Queue"
_STATE_MACHINE = "AWS::Serverless::StateMachine"
_FUNCTION = "AWS::Serverless::Function"
_GLUE_DATABASE = "AWS::Glue::Database"
_GLUE_TABLE = "AWS::Glue::Table"
_WORKGROUP = "AWS::Athena::WorkGroup"
#: types named in the first pass (functions are named, not created)
_NAMED = (_BUCKET, _TABLE, _QUEUE, _STATE_MACHINE, _FUNCTION)

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def create_from_template(
    template: dict | None = None,
    *,
    session: boto3.Session | None = None,
    region: str = "us-east-1",
    stack_name: str = "cloudphot",
    project_root: str | Path | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, str]:
    """Create the template's buckets, tables, queues and state machines in moto.

    Parameters
    ----------
    template
        The parsed template (:func:`cloudphot.template.load_template`); default:
        the project's ``template.yaml``.
    session
        boto3 session to create clients from (default: a new one).
    region
        Region of the resources and of the ARNs in state machine definitions.
    stack_name
        Prefix of the physical names, as CloudFormation would use the stack name.
    project_root
        Directory that ``DefinitionUri`` paths are relative to (default: the project root).
    parameters
        Template parameter values (default: each parameter's ``Default``).

    Returns
    -------
    dict
        Logical id -> what ``Ref`` returns for it in CloudFormation: the bucket
        name, table name, queue URL, function name or state machine ARN, Glue
        database or table name, workgroup name (and the synthesized cluster name, task
        definition ARN, subnet and security group ids).

    Call inside an active moto mock (``moto.mock_aws``); against real AWS this
    would create real resources.
    """
    template = template if template is not None else load_template()
    root = Path(project_root) if project_root else find_project_root()
    session = session or boto3.Session(region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    names = physical_names(template, region=region, account=account, stack_name=stack_name)
    params = {k: str(v.get("Default", "")) for k, v in (template.get("Parameters") or {}).items()}
    params.update(parameters or {})
    resolver = _Resolver(
        names,
        region=region,
        account=account,
        stack_name=stack_name,
        parameters=params,
        mappings=template.get("Mappings") or {},
    )

    s3 = session.client("s3", region_name=region)
    for lid, res in resources_of_type(template, _BUCKET).items():
        _create_bucket(s3, names[lid]["Ref"], res.get("Properties", {}), region)

    ddb = session.client("dynamodb", region_name=region)
    for lid, res in resources_of_type(template, _TABLE).items():
        stream_arn = _create_table(ddb, names[lid]["Ref"], res.get("Properties", {}))
        if stream_arn:
            names[lid]["StreamArn"] = stream_arn

    sqs = session.client("sqs", region_name=region)
    for lid, _res in resources_of_type(template, _QUEUE).items():
        url = sqs.create_queue(QueueName=names[lid]["QueueName"])["QueueUrl"]
        names[lid]["Ref"] = url

    sfn = session.client("stepfunctions", region_name=region)
    for lid, spec in state_machines(template).items():
        definition = _definition(root, spec.definition_uri, spec.substitutions, resolver)
        props = template["Resources"][lid].get("Properties", {})
        sfn.create_state_machine(
            name=names[lid]["Name"],
            definition=definition,
            type=props.get("Type", "STANDARD"),
            roleArn=f"arn:aws:iam::{account}:role/{stack_name}-{lid}Role",
        )

    glue = session.client("glue", region_name=region)
    for lid, res in resources_of_type(template, _GLUE_DATABASE).items():
        database = resolver.resolve(res["Properties"]["DatabaseInput"])
        glue.create_database(DatabaseInput=database)
        names[lid] = {"Ref": database["Name"]}
    for lid, res in resources_of_type(template, _GLUE_TABLE).items():
        props = resolver.resolve(res["Properties"])
        glue.create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])
        names[lid] = {"Ref": props["TableInput"]["Name"]}

    athena = session.client("athena", region_name=region)
    for lid, res in resources_of_type(template, _WORKGROUP).items():
        props = resolver.resolve(res["Properties"])
        athena.create_work_group(
            Name=props["Name"],
            Description=props.get("Description", ""),
            Configuration=_workgroup_configuration(props.get("WorkGroupConfiguration", {})),
        )
        names[lid] = {"Ref": props["Name"]}

    return {lid: attrs["Ref"] for lid, attrs in names.items()}


def _workgroup_configuration(config: dict) -> dict:
    """CloudFormation's WorkGroupConfiguration as the CreateWorkGroup API spells it."""
    out = dict(config)
    if "BytesScannedCutoffPerQuery" in out:
        out["BytesScannedCutoffPerQuery"] = int(out["BytesScannedCutoffPerQuery"])
    return out


def physical_names(
    template: dict,
    *,
    region: str = "us-east-1",
    account: str = "123456789012",
    stack_name: str = "cloudphot",
) -> dict[str, dict[str, str]]:
    """Deterministic physical names and attributes (``Ref``, ``Arn``, ...) per logical id.

    Names are fixed before anything is created, so a state machine can refer to a
    function or table regardless of the order the template lists them in.
    """
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    out: dict[str, dict[str, str]] = {}
    for lid, res in template.get("Resources", {}).items():
        kind, props = res.get("Type"), res.get("Properties", {}) or {}
        if kind not in _NAMED:
            continue
        if kind == _BUCKET:
            name = _literal(props.get("BucketName"), pseudo) or f"{stack_name}-{lid}".lower()
            out[lid] = {
                "Ref": name,
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
            }
        elif kind == _TABLE:
            name = _literal(props.get("TableName"), pseudo) or f"{stack_name}-{lid}"
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            out[lid] = {"Ref": name, "Arn": arn}  # StreamArn: known once created
        elif kind == _QUEUE:
            name = _literal(props.get("QueueName"), pseudo) or f"{stack_name}-{lid}"
            out[lid] = {
                "Ref": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                "QueueName": name,
                "Arn": f"arn:aws:sqs:{region}:{account}:{name}",
            }
        elif kind == _FUNCTION:
            name = _literal(props.get("FunctionName"), pseudo) or f"{stack_name}-{lid}"
            out[lid] = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
        elif kind == _STATE_MACHINE:
            name = _literal(props.get("Name"), pseudo) or f"{stack_name}-{lid}"
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            out[lid] = {"Ref": arn, "Arn": arn, "Name": name}
    for lid, res in template.get("Resources", {}).items():
        if lid not in out and res.get("Type") in _SYNTHESIZED:
            out[lid] = _SYNTHESIZED[res["Type"]](lid, res.get("Properties", {}) or {}, pseudo)
    return out


def _hex(lid: str) -> str:
    return hashlib.sha256(lid.encode()).hexdigest()[:17]


def _where(pseudo: dict[str, str]) -> tuple[str, str, str]:
    return pseudo["AWS::Region"], pseudo["AWS::AccountId"], pseudo["AWS::StackName"]


def _cluster(lid, props, pseudo):
    region, account, stack = _where(pseudo)
    name = _literal(props.get("ClusterName"), pseudo) or f"{stack}-{lid}"
    return {"Ref": name, "Arn": f"arn:aws:ecs:{region}:{account}:cluster/{name}"}


def _task_definition(lid, props, pseudo):
    region, account, stack = _where(pseudo)
    family = _literal(props.get("Family"), pseudo) or f"{stack}-{lid}"
    arn = f"arn:aws:ecs:{region}:{account}:task-definition/{family}:1"
    return {"Ref": arn, "TaskDefinitionArn": arn}


def _role(lid, props, pseudo):
    _, account, stack = _where(pseudo)
    name = _literal(props.get("RoleName"), pseudo) or f"{stack}-{lid}"
    return {"Ref": name, "Arn": f"arn:aws:iam::{account}:role/{name}"}


#: resources that are not created but that substitutions may name (ids and ARNs are
#: synthesized in the shapes AWS uses, so definitions that carry them still validate)
_SYNTHESIZED = {
    "AWS::ECS::Cluster": _cluster,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::IAM::Role": _role,
    "AWS::EC2::Subnet": lambda lid, *_: {"Ref": f"subnet-{_hex(lid)}"},
    "AWS::EC2::VPC": lambda lid, *_: {"Ref": f"vpc-{_hex(lid)}"},
    "AWS::EC2::SecurityGroup": lambda lid, *_: {
        "Ref": f"sg-{_hex(lid)}",
        "GroupId": f"sg-{_hex(lid)}",
    },
}


def _literal(value: Any, pseudo: dict[str, str]) -> str | None:
    """A name given in the template: a string, or a Sub of pseudo parameters only."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text = value["Fn::Sub"]
        if set(_SUB.findall(text)) <= set(pseudo):
            return _SUB.sub(lambda m: pseudo[m.group(1)], text)
    return None


# ------------------------------------------------------------------ resources
def _create_bucket(s3, name: str, props: dict, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    encryption = props.get("BucketEncryption")
    if encryption:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault
        rules = [
            {
                (
                    "ApplyServerSideEncryptionByDefault"
                    if k == "ServerSideEncryptionByDefault"
                    else k
                ): v
                for k, v in rule.items()
            }
            for rule in encryption["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})


def _create_table(ddb, name: str, props: dict) -> str | None:
    """CloudFormation's table properties are the CreateTable parameters, give or take SSE.

    Returns the table's stream ARN, if it has a stream.
    """
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {
                k: v
                for k, v in gsi.items()
                if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
            }
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    sse = props.get("SSESpecification")
    if sse and sse.get("SSEEnabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    table = ddb.create_table(**kwargs)["TableDescription"]
    pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return table.get("LatestStreamArn")


def _definition(root: Path, uri: str, substitutions: dict, resolver: _Resolver) -> str:
    """The definition file with every ``${Name}`` replaced by its resolved substitution."""
    path = root / uri
    if not path.is_file():
        raise ConfigError(f"state machine definition {uri} not found under {root}")
    text = path.read_text(encoding="utf-8")
    values = {k: resolver.resolve(v) for k, v in substitutions.items()}

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"{uri}: ${{{key}}} has no DefinitionSubstitution in template.yaml")
        return str(values[key])

    text = _SUB.sub(replace, text)
    json.loads(text)  # a substitution must not break the JSON
    return text


class _Resolver:
    """Resolves the intrinsics that substitutions use (Ref, GetAtt, Sub, Join) to moto names."""

    def __init__(
        self,
        names: dict[str, dict[str, str]],
        *,
        region: str,
        account: str,
        stack_name: str,
        parameters: dict[str, str] | None = None,
        mappings: dict | None = None,
    ):
        self.names = names
        self.parameters = parameters or {}
        self.mappings = mappings or {}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def attribute(self, lid: str, attr: str = "Ref") -> str:
        if attr == "Ref" and lid in self.pseudo:
            return self.pseudo[lid]
        if attr == "Ref" and lid in self.parameters and lid not in self.names:
            return self.parameters[lid]
        try:
            return self.names[lid][attr]
        except KeyError:
            raise ConfigError(
                f"cannot resolve {lid}.{attr} in moto: not a bucket, table, queue, "
                "function or state machine with that attribute"
            ) from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict) and not (
            len(value) == 1 and ("Ref" in value or next(iter(value)).startswith("Fn::"))
        ):
            return {k: self.resolve(v) for k, v in value.items()}  # properties, not an intrinsic
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self.attribute(arg)
            if fn == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attribute(lid, attr)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
            if fn == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                local = {k: self.resolve(v) for k, v in local.items()}

                def sub(match: re.Match) -> str:
                    ref = match.group(1)
                    if ref in local:
                        return str(local[ref])
                    lid, _, attr = ref.partition(".")
                    return self.attribute(lid, attr or "Ref")

                # ${!Literal} is CloudFormation's escape for a literal ${Literal}
                return _SUB.sub(sub, text).replace("${!", "${")
            if fn == "Fn::FindInMap":
                name, key, attr = (str(self.resolve(a)) for a in arg)
                return self.mappings[name][key][attr]
        raise ConfigError(f"cannot resolve {value!r} for moto")
