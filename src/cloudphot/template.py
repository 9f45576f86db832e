"""Read ``template.yaml``: the one description of the AWS application.

The local runtime resolves state-machine ``DefinitionSubstitutions`` and Lambda
handlers from it, and tests build their moto resources from it, so the code and
the template cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FunctionSpec",
    "StateMachineSpec",
    "find_project_root",
    "functions",
    "load_template",
    "resources_of_type",
    "state_machines",
    "table_logical_id",
]

_SHORT_TAGS = ("Ref", "Condition")
_FN_TAGS = (
    "GetAtt",
    "Sub",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Base64",
    "Cidr",
    "Transform",
    "ToJsonString",
    "Length",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}`` and ``!GetAtt A.B`` into
    ``{"Fn::GetAtt": ["A", "B"]}``, the long forms CloudFormation itself uses."""


def _construct(tag: str):
    def build(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {tag if tag in _SHORT_TAGS else f"Fn::{tag}": value}

    return build


for _tag in _SHORT_TAGS + _FN_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def find_project_root(start: Path | None = None) -> Path:
    """The directory holding ``template.yaml``: from ``CLOUDPHOT_PROJECT``, else searched
    upwards from ``start`` (default: this package, then the working directory)."""
    import os

    if os.environ.get("CLOUDPHOT_PROJECT"):
        return Path(os.environ["CLOUDPHOT_PROJECT"]).absolute()
    candidates = [start] if start else [Path(__file__).resolve(), Path.cwd().resolve()]
    for c in candidates:
        for d in [c, *c.parents]:
            if (d / "template.yaml").is_file() and (d / "statemachines").is_dir():
                return d
    from .errors import ConfigError

    raise ConfigError(
        "cannot find the cloudphot project (template.yaml and statemachines/); "
        "run from a checkout or set CLOUDPHOT_PROJECT to its directory"
    )


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)


def load_template(path: str | Path | None = None) -> dict:
    path = Path(path) if path else find_project_root() / "template.yaml"
    return _load(str(path), path.stat().st_mtime)


def table_logical_id(table: str) -> str:
    """The template's logical id of a logical table: ``dead_letters`` -> ``DeadLettersTable``
    (its stack output is the same plus ``Name``)."""
    return "".join(part.title() for part in table.split("_")) + "Table"


def resources_of_type(template: dict, *types: str) -> dict[str, dict]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") in types}


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str  # "module.function", relative to code_uri
    environment: dict[str, Any]


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    definition_uri: str
    substitutions: dict[str, Any]


def functions(template: dict) -> dict[str, FunctionSpec]:
    glob = template.get("Globals", {}).get("Function", {})
    out = {}
    for lid, res in resources_of_type(template, "AWS::Serverless::Function").items():
        props = res.get("Properties", {})
        env = dict(glob.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        # container-image functions name their handler file for local runs in Metadata
        local = (res.get("Metadata") or {}).get("Cloudphot") or {}
        out[lid] = FunctionSpec(
            lid,
            local.get("LocalCodeUri") or props.get("CodeUri", glob.get("CodeUri", ".")),
            local.get("LocalHandler") or props.get("Handler", glob.get("Handler", "app.handler")),
            env,
        )
    return out


def state_machines(template: dict) -> dict[str, StateMachineSpec]:
    out = {}
    for lid, res in resources_of_type(template, "AWS::Serverless::StateMachine").items():
        props = res.get("Properties", {})
        out[lid] = StateMachineSpec(
            lid, props["DefinitionUri"], props.get("DefinitionSubstitutions", {})
        )
    return out
