"""`cloudphot aws doctor`: the account against the template and the survey's plan."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from cloudphot.pipeline import doctor, sizing
from cloudphot.template import find_project_root, load_template

ROOT = find_project_root()


@pytest.fixture(scope="module")
def needs():
    return doctor.template_needs(load_template(ROOT / "template.yaml"), ROOT)


def test_the_template_needs_what_the_state_machines_fan_out(needs):
    assert needs.reserved_concurrency == 0  # no reserved concurrency anywhere
    assert needs.task_sizes["CatalogTaskDefinition"] == ("2048", "16384")
    # the exposures' Distributed Map runs Lambdas 8 at a time
    assert needs.lambda_fan_out["reduce_field.asl.json:PreprocessExposures"] == 8
    assert all(f.status == "ok" for f in doctor.check_template(needs))


def test_an_invalid_fargate_pair_fails_before_deploying(needs):
    bad = doctor.template_needs(
        load_template(ROOT / "template.yaml"), ROOT, {"CatalogTaskMemory": "1000"}
    )
    (fail,) = [f for f in doctor.check_template(bad) if f.status == "fail"]
    assert "CatalogTaskDefinition" in fail.detail and "cpu 2048: memory 4096-16384" in fail.detail


def _by_check(findings):
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f.status)
    return out


def test_a_new_account(needs):
    """Concurrency 10 and no service-linked role, default Fargate quotas: deployable (the
    stack creates the role); the Map's 8 Lambdas fit, a 16 vCPU photometry task does not
    fit a 6-vCPU Spot quota."""
    facts = doctor.AccountFacts(
        lambda_concurrency=10,
        fargate_ondemand_vcpu=6,
        fargate_spot_vcpu=6,
        ecs_service_linked_role=False,
    )
    small = sizing.TaskSize(2048, 14336)
    assert _by_check(doctor.check_account(needs, facts, small))["lambda concurrency"] == ["ok"]
    # a brick's 18 fields at once: 144 Lambdas asked of 10
    found = _by_check(doctor.check_account(needs, facts, small, fields=18))
    assert found["lambda concurrency"] == ["warn"]
    assert found["ecs service-linked role"] == ["ok"]
    assert found["fargate spot vCPU"] == ["warn"]  # 3 tasks at once of the Map's 8+
    big = sizing.TaskSize(16384, 122880)
    found = _by_check(doctor.check_account(needs, facts, big))
    assert found["fargate spot vCPU"] == ["fail"] and found["fargate on-demand vCPU"] == ["fail"]


def test_reserved_concurrency_in_a_low_quota_account_fails(needs):
    import dataclasses

    reserving = dataclasses.replace(needs, reserved_concurrency=1)
    facts = doctor.AccountFacts(lambda_concurrency=10, ecs_service_linked_role=True)
    (fail,) = [
        f
        for f in doctor.check_account(reserving, facts, sizing.TaskSize(1024, 2048))
        if f.status == "fail"
    ]
    assert "keeps 100 unreserved" in fail.detail and "L-B99A9384" in fail.fix


def test_facts_from_moto_and_stubbed_quotas():
    """IAM from moto; Lambda's account settings and Service Quotas stubbed with AWS's
    answers (moto has neither): a new account (concurrency 10), and a quota never changed
    read as the AWS default."""
    from botocore.stub import Stubber

    from cloudphot.aws.account import FARGATE_ONDEMAND_VCPU, FARGATE_SPOT_VCPU, gather_facts

    with mock_aws():
        quotas = boto3.client("service-quotas", region_name="us-east-1")
        stub = Stubber(quotas)
        stub.add_response(
            "get_service_quota",
            {"Quota": {"QuotaCode": FARGATE_ONDEMAND_VCPU, "Value": 6.0}},
            {"ServiceCode": "fargate", "QuotaCode": FARGATE_ONDEMAND_VCPU},
        )
        stub.add_client_error("get_service_quota", "NoSuchResourceException", "never set")
        stub.add_response(
            "get_aws_default_service_quota",
            {"Quota": {"QuotaCode": FARGATE_SPOT_VCPU, "Value": 6.0}},
            {"ServiceCode": "fargate", "QuotaCode": FARGATE_SPOT_VCPU},
        )

        lam = boto3.client("lambda", region_name="us-east-1")
        lam_stub = Stubber(lam)
        for _ in range(2):
            lam_stub.add_response(
                "get_account_settings",
                {
                    "AccountLimit": {
                        "ConcurrentExecutions": 10,
                        "UnreservedConcurrentExecutions": 10,
                    }
                },
            )
        lam_stub.activate()

        class Session:
            region_name = "us-east-1"

            def client(self, name):
                own = {"service-quotas": quotas, "lambda": lam}
                return own.get(name) or boto3.client(name, region_name="us-east-1")

        with stub:
            facts = gather_facts(Session())
        assert facts.lambda_concurrency == 10
        assert facts.fargate_ondemand_vcpu == 6.0 and facts.fargate_spot_vcpu == 6.0
        assert facts.ecs_service_linked_role is False and facts.unreadable == {}
        # a caller without service-quotas:GetServiceQuota: named, not a crash
        stub = Stubber(quotas)
        for _ in range(2):
            stub.add_client_error("get_service_quota", "AccessDeniedException", "not allowed")
        with stub:
            facts = gather_facts(Session())
        assert facts.fargate_spot_vcpu is None and "AccessDenied" in facts.unreadable["spot"]
        found = doctor.check_account(
            doctor.template_needs(load_template(ROOT / "template.yaml"), ROOT),
            facts,
            sizing.TaskSize(1024, 2048),
        )
        assert [f.status for f in found if f.check == "fargate spot vCPU"] == ["warn"]


def test_cli_offline_exit_status():
    ok = subprocess.run(
        [sys.executable, "-m", "cloudphot", "aws", "doctor", "--offline", "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudphot",
            "aws",
            "doctor",
            "--offline",
            "--parameter-overrides",
            "CatalogTaskCpu=1024",
            "CatalogTaskMemory=16384",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert bad.returncode == 1 and "CatalogTaskDefinition" in bad.stdout
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudphot",
            "aws",
            "doctor",
            "--offline",
            "--parameter-overrides",
            "NoSuchThing=1",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert refused.returncode == 2 and "NoSuchThing" in refused.stderr
