"""Facts about an AWS account for ``cloudphot aws doctor`` (cloudphot.pipeline.doctor).

Each fact is read on its own; one the caller may not read (an access denied, a service
not offered in the region) is left None with the reason, and the doctor says so.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..pipeline.doctor import AccountFacts

__all__ = ["FARGATE_ONDEMAND_VCPU", "FARGATE_SPOT_VCPU", "gather_facts"]

#: Service Quotas codes (service "fargate")
FARGATE_ONDEMAND_VCPU = "L-3032A538"
FARGATE_SPOT_VCPU = "L-36FBB829"


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def gather_facts(session: Any = None, *, region: str | None = None) -> AccountFacts:
    """Quotas and the ECS service-linked role, with a boto3 ``session`` (default: your
    configured credentials, in ``region`` or the configured one)."""
    if session is None:
        import boto3

        session = boto3.Session(region_name=region)
    facts = AccountFacts(region=session.region_name or "")
    try:
        limits = session.client("lambda").get_account_settings()["AccountLimit"]
        facts.lambda_concurrency = int(limits["ConcurrentExecutions"])
    except (ClientError, BotoCoreError, KeyError) as exc:
        facts.unreadable["lambda"] = _why(exc)
    quotas = session.client("service-quotas")
    for name, code, attr in (
        ("on-demand", FARGATE_ONDEMAND_VCPU, "fargate_ondemand_vcpu"),
        ("spot", FARGATE_SPOT_VCPU, "fargate_spot_vcpu"),
    ):
        try:
            value = quotas.get_service_quota(ServiceCode="fargate", QuotaCode=code)["Quota"][
                "Value"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                facts.unreadable[name] = _why(exc)
                continue
            try:  # never changed in this account: the AWS default applies
                value = quotas.get_aws_default_service_quota(ServiceCode="fargate", QuotaCode=code)[
                    "Quota"
                ]["Value"]
            except (ClientError, BotoCoreError) as exc2:
                facts.unreadable[name] = _why(exc2)
                continue
        except BotoCoreError as exc:
            facts.unreadable[name] = _why(exc)
            continue
        setattr(facts, attr, float(value))
    iam = session.client("iam")
    try:
        iam.get_role(RoleName="AWSServiceRoleForECS")
        facts.ecs_service_linked_role = True
    except iam.exceptions.NoSuchEntityException:
        facts.ecs_service_linked_role = False
    except (ClientError, BotoCoreError) as exc:
        facts.unreadable["iam"] = _why(exc)
    return facts
