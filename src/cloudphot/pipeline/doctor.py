"""Pre-deploy checks (``cloudphot aws doctor``): what an account lacks for this stack.

The checks read the template (task sizes, reserved concurrency, Map concurrency of the
state machines) and the survey's plan (the photometry task size the planner will
choose), and compare them with facts about the account that the AWS adapter gathered
(:class:`AccountFacts`: quotas, the ECS service-linked role). This module never calls
AWS, so every rule is tested with hand-made facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..template import resources_of_type
from . import sizing

__all__ = [
    "AccountFacts",
    "Finding",
    "TemplateNeeds",
    "check_account",
    "check_template",
    "template_needs",
]

#: Lambda keeps this much of the account's concurrency unreserved (PutFunctionConcurrency
#: refuses a reservation that leaves less)
UNRESERVED_MIN = 100


@dataclass
class AccountFacts:
    """What the adapter learned about the account; None = could not be read."""

    region: str = ""
    lambda_concurrency: int | None = None
    fargate_ondemand_vcpu: float | None = None
    fargate_spot_vcpu: float | None = None
    ecs_service_linked_role: bool | None = None
    unreadable: dict[str, str] = field(default_factory=dict)  # what -> why


@dataclass
class Finding:
    check: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""


@dataclass
class TemplateNeeds:
    task_sizes: dict[str, tuple[Any, Any]]  # task definition -> (Cpu, Memory) as written
    reserved_concurrency: int
    lambda_fan_out: dict[str, int]  # state -> MaxConcurrency of a Map running Lambdas
    task_fan_out: dict[str, int]  # state -> MaxConcurrency of a Map running ECS tasks


def _value(v: Any, params: dict, overrides: dict) -> Any:
    if isinstance(v, dict) and set(v) == {"Ref"} and v["Ref"] in params:
        return overrides.get(v["Ref"], params[v["Ref"]].get("Default"))
    return v


def _maps(states: dict, where: str = ""):
    for name, st in states.items():
        if st.get("Type") == "Map":
            inner = (st.get("ItemProcessor") or st.get("Iterator") or {}).get("States", {})
            yield f"{where}{name}", st, inner
            yield from _maps(inner, f"{where}{name}/")
        for b in st.get("Branches", []):
            yield from _maps(b["States"], f"{where}{name}/")


def template_needs(
    template: dict, root: Path, overrides: dict[str, str] | None = None
) -> TemplateNeeds:
    """What the template asks of the account, with parameter defaults (or ``overrides``)."""
    overrides = overrides or {}
    params = template.get("Parameters", {})
    sizes = {}
    for lid, res in resources_of_type(template, "AWS::ECS::TaskDefinition").items():
        props = res.get("Properties", {})
        cpu, mem = (_value(props.get(k), params, overrides) for k in ("Cpu", "Memory"))
        sizes[lid] = (cpu, mem)
    reserved = 0
    for res in resources_of_type(template, "AWS::Serverless::Function").values():
        n = _value(res.get("Properties", {}).get("ReservedConcurrentExecutions"), params, overrides)
        reserved += int(n or 0)
    lambda_fan, task_fan = {}, {}
    for res in resources_of_type(template, "AWS::Serverless::StateMachine").values():
        uri = res.get("Properties", {}).get("DefinitionUri")
        if not isinstance(uri, str):
            continue
        states = json.loads((root / uri).read_text(encoding="utf-8"))["States"]
        for where, st, inner in _maps(states, f"{Path(uri).name}:"):
            n = st.get("MaxConcurrency") or (1000 if "ItemReader" in st else 40)
            resources = json.dumps(inner)
            if "ecs:runTask" in resources:
                task_fan[where] = int(n)
            elif "lambda:invoke" in resources:
                lambda_fan[where] = int(n)
    return TemplateNeeds(sizes, reserved, lambda_fan, task_fan)


def check_template(needs: TemplateNeeds) -> list[Finding]:
    """Checks that need no account: every task size is one Fargate offers."""
    out = []
    for lid, (cpu, mem) in needs.task_sizes.items():
        try:
            size = sizing.validate_size(int(cpu), int(mem), where=lid)
        except (TypeError, ValueError):
            out.append(
                Finding(
                    "fargate size", "fail", f"{lid}: Cpu {cpu!r} Memory {mem!r} are not numbers"
                )
            )
            continue
        except ConfigError as exc:  # names the valid values
            out.append(
                Finding(
                    "fargate size",
                    "fail",
                    str(exc),
                    "choose a valid pair (e.g. CatalogTaskCpu=2048 CatalogTaskMemory=16384)",
                )
            )
            continue
        out.append(
            Finding("fargate size", "ok", f"{lid}: {size.vcpu:g} vCPU / {size.memory_gib:g} GiB")
        )
    return out


def check_account(
    needs: TemplateNeeds, facts: AccountFacts, photometry: sizing.TaskSize, *, fields: int = 1
) -> list[Finding]:
    """Checks of the account against the template and the survey's photometry task."""
    out = []
    if facts.lambda_concurrency is None:
        out.append(
            Finding("lambda concurrency", "warn", f"not read: {facts.unreadable.get('lambda', '')}")
        )
    else:
        limit = facts.lambda_concurrency
        if needs.reserved_concurrency and limit - needs.reserved_concurrency < UNRESERVED_MIN:
            out.append(
                Finding(
                    "lambda concurrency",
                    "fail",
                    f"the template reserves {needs.reserved_concurrency} of {limit}; Lambda "
                    f"keeps {UNRESERVED_MIN} unreserved, so the deploy would fail",
                    "ask for a higher 'Concurrent executions' quota (Service Quotas, L-B99A9384)",
                )
            )
        widest = max(needs.lambda_fan_out.values(), default=0)
        where = max(needs.lambda_fan_out, key=needs.lambda_fan_out.__getitem__, default="")
        # every field reducing at once runs its own Map
        demand = widest * max(1, fields)
        if widest > limit:
            out.append(
                Finding(
                    "lambda concurrency",
                    "warn",
                    f"account limit {limit}: one Map runs up to {widest} Lambdas at once "
                    f"({where}); they will be throttled and retried (slower, not failed)",
                    "ask for 1,000 concurrent executions (Service Quotas, L-B99A9384)",
                )
            )
        elif demand > limit:
            out.append(
                Finding(
                    "lambda concurrency",
                    "warn",
                    f"account limit {limit}: {fields} fields reducing at once ask for up to "
                    f"{demand} Lambdas ({widest} per {where}); about {limit // widest} fields "
                    "run unthrottled, the rest are retried after throttling",
                    "ask for 1,000 concurrent executions (Service Quotas, L-B99A9384)",
                )
            )
        else:
            out.append(
                Finding("lambda concurrency", "ok", f"limit {limit}, up to {demand} at once")
            )
    for name, quota in (
        ("spot", facts.fargate_spot_vcpu),
        ("on-demand", facts.fargate_ondemand_vcpu),
    ):
        check = f"fargate {name} vCPU"
        if quota is None:
            out.append(Finding(check, "warn", f"not read: {facts.unreadable.get(name, '')}"))
            continue
        largest = max(
            [photometry.vcpu]
            + [int(c) / 1024 for c, _ in needs.task_sizes.values() if str(c).isdigit()]
        )
        if quota < largest:
            out.append(
                Finding(
                    check,
                    "fail",
                    f"quota {quota:g} vCPU is less than one task ({largest:g} vCPU): no task could start",
                    f"ask for more 'Fargate {'Spot' if name == 'spot' else 'On-Demand'} vCPU resource count'",
                )
            )
            continue
        fan = max(needs.task_fan_out.values(), default=1)
        at_once = int(quota // photometry.vcpu)
        if at_once < fan:
            out.append(
                Finding(
                    check,
                    "warn",
                    f"quota {quota:g} vCPU runs {at_once} photometry tasks of {photometry.vcpu:g} "
                    f"vCPU at once (a Map asks for {fan}); the rest wait for the quota",
                    "ask for more vCPUs before a big run",
                )
            )
        else:
            out.append(Finding(check, "ok", f"quota {quota:g} vCPU ({at_once} tasks at once)"))
    if facts.ecs_service_linked_role is None:
        out.append(Finding("ecs service-linked role", "warn", "not read"))
    elif facts.ecs_service_linked_role:
        out.append(Finding("ecs service-linked role", "ok", "AWSServiceRoleForECS exists"))
    else:
        out.append(
            Finding(
                "ecs service-linked role",
                "ok",
                "missing: the stack creates it (EcsServiceLinkedRole); the deploying "
                "identity needs iam:CreateServiceLinkedRole for ecs.amazonaws.com",
            )
        )
    return out
