"""Resolve template resources to local targets.

``DefinitionSubstitutions`` in template.yaml name AWS resources (``!GetAtt
IngestExposureFunction.Arn``, ``!Ref EventsTable``). Locally each becomes an ARN
in the ``local`` region that the local resource invoker understands, so the
state machine files run unchanged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from ..template import functions, load_template, resources_of_type, state_machines

__all__ = ["LOCAL_ACCOUNT", "LOCAL_REGION", "LocalTargets"]

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "local"


@dataclass
class LocalTargets:
    """What the template's resources are, locally."""

    root: Path
    template: dict
    settings: Settings

    @classmethod
    def load(cls, root: Path, settings: Settings) -> LocalTargets:
        return cls(root, load_template(root / "template.yaml"), settings)

    # naming conventions ---------------------------------------------------------
    def table_for_logical_id(self, logical_id: str) -> str | None:
        """``EventsTable`` -> the physical name of logical table ``events``."""
        if logical_id.endswith("Table"):
            logical = logical_id[: -len("Table")].lower()
            if logical in self.settings.tables:
                return self.settings.tables[logical]
        return None

    def bucket_for_logical_id(self, logical_id: str) -> str | None:
        if logical_id.endswith("Bucket"):
            logical = logical_id[: -len("Bucket")].lower()
            if logical in self.settings.buckets:
                return self.settings.buckets[logical]
        return None

    def object_created_routes(self) -> dict[str, list[str]]:
        """Physical bucket -> the functions its "Object Created" events reach, as the
        template's EventBridge rules route them (a bucket with EventBridge on but no rule
        for it notifies nobody, on AWS and here)."""
        routes: dict[str, list[str]] = {}
        for logical_id, res in resources_of_type(
            self.template, "AWS::Serverless::Function"
        ).items():
            for event in (res.get("Properties", {}).get("Events") or {}).values():
                pattern = (event.get("Properties") or {}).get("Pattern") or {}
                if event.get("Type") != "EventBridgeRule" or "aws.s3" not in pattern.get(
                    "source", []
                ):
                    continue
                if "Object Created" not in pattern.get("detail-type", []):
                    continue
                names = ((pattern.get("detail") or {}).get("bucket") or {}).get("name") or []
                for name in names:
                    ref = name.get("Ref") if isinstance(name, dict) else None
                    bucket = self.bucket_for_logical_id(ref) if ref else None
                    if bucket is not None:
                        routes.setdefault(bucket, []).append(logical_id)
        return routes

    def function_arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}"

    def state_machine_arn(self, logical_id: str) -> str:
        return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:{logical_id}"

    def execution_arn(self, state_machine: str, name: str) -> str:
        return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:execution:{state_machine}:{name}"

    # resolution -----------------------------------------------------------------
    def resolve(self, value: Any) -> str:
        """A CloudFormation value (Ref/GetAtt/Sub/literal) as a local string."""
        if isinstance(value, (str, int, float)):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(lid, attr)
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub_var(m.group(1), extra), text)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(self.resolve(p) for p in parts)
        raise ConfigError(f"cannot resolve {value!r} locally; use Ref, GetAtt, Sub or a literal")

    def _sub_var(self, name: str, extra: dict) -> str:
        if name in extra:
            return self.resolve(extra[name])
        if "." in name:
            lid, attr = name.split(".", 1)
            return self._getatt(lid, attr)
        return self._ref(name)

    def _resource(self, lid: str) -> dict:
        try:
            return self.template["Resources"][lid]
        except KeyError:
            raise ConfigError(f"template.yaml has no resource {lid!r}") from None

    def _ref(self, lid: str) -> str:
        pseudo = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "cloudphot-local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if lid in pseudo:
            return pseudo[lid]
        if lid in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][lid].get("Default", lid))
        rtype = self._resource(lid)["Type"]
        if rtype == "AWS::DynamoDB::Table":
            return self.table_for_logical_id(lid) or lid
        if rtype == "AWS::S3::Bucket":
            return self.bucket_for_logical_id(lid) or lid
        if rtype == "AWS::Serverless::StateMachine":
            return self.state_machine_arn(lid)
        if rtype == "AWS::ECS::TaskDefinition":
            return f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:task-definition/{lid}:1"
        if rtype == "AWS::Serverless::Function":
            return lid
        return lid  # clusters, subnets, security groups, queues: names are opaque locally

    def _getatt(self, lid: str, attr: str) -> str:
        rtype = self._resource(lid)["Type"]
        if attr == "Arn":
            if rtype == "AWS::Serverless::Function":
                return self.function_arn(lid)
            if rtype == "AWS::DynamoDB::Table":
                name = self.table_for_logical_id(lid) or lid
                return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}"
            if rtype == "AWS::ECS::Cluster":
                return f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:cluster/{lid}"
            if rtype == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{lid}"
            if rtype == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{self.bucket_for_logical_id(lid) or lid}"
        if attr in ("Name", "QueueName"):
            return self._ref(lid)
        return f"{lid}.{attr}"

    # state machines ---------------------------------------------------------------
    def state_machine_ids(self) -> list[str]:
        return sorted(state_machines(self.template))

    def state_machine_definition(self, logical_id: str) -> dict:
        """The definition file with its DefinitionSubstitutions applied, as SAM does."""
        specs = state_machines(self.template)
        if logical_id not in specs:
            raise ConfigError(
                f"no state machine {logical_id!r} in template.yaml; "
                f"known: {', '.join(sorted(specs))}"
            )
        spec = specs[logical_id]
        text = (self.root / spec.definition_uri).read_text(encoding="utf-8")
        values = {k: self.resolve(v) for k, v in spec.substitutions.items()}
        text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
        missing = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)) - set(values))
        if missing:
            raise ConfigError(
                f"{spec.definition_uri}: placeholders without a "
                f"DefinitionSubstitution in template.yaml: {', '.join(missing)}"
            )
        return json.loads(text)

    def logical_id_from_arn(self, arn: str, kind: str) -> str:
        """``arn:aws:lambda:local:...:function:X`` -> ``X`` (also accepts a bare name)."""
        if kind == "function":
            name = arn.split(":function:")[-1].split(":")[0]
        elif kind == "task-definition":
            name = arn.split("task-definition/")[-1].split(":")[0]
        elif kind == "stateMachine":
            name = arn.split(":stateMachine:")[-1]
        else:
            raise ValueError(kind)
        return name

    def function_spec(self, logical_id: str):
        specs = functions(self.template)
        if logical_id not in specs:
            raise ConfigError(f"no function {logical_id!r} in template.yaml")
        return specs[logical_id]

    def ecs_entry_point(self, task_definition: str) -> Path:
        res = self._resource(task_definition)
        meta = (res.get("Metadata") or {}).get("Cloudphot") or {}
        entry = meta.get("LocalEntryPoint")
        if not entry:
            raise ConfigError(
                f"{task_definition} has no Metadata.Cloudphot.LocalEntryPoint "
                "in template.yaml; the local runtime needs it to run the container"
            )
        return self.root / entry

    def ecs_container_names(self, task_definition: str) -> list[str]:
        props = self._resource(task_definition).get("Properties", {})
        return [c.get("Name") for c in props.get("ContainerDefinitions", [])]

    def sqs_queues(self) -> list[str]:
        return sorted(resources_of_type(self.template, "AWS::SQS::Queue"))
