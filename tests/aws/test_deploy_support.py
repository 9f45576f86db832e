"""The DeploySupport custom resource against moto: ECS's service-linked role, and the
stack's images built by CodeBuild and answered to CloudFormation by digest."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cloudphot.aws.deploy_support import context_zip, handle

REGION = "us-east-1"
URL = "https://cloudformation-custom-resource-response.example/answer?sig=1"


def _event(kind: str, request: str = "Create", **props) -> dict:
    return {
        "RequestType": request,
        "ResponseURL": URL,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/cloudphot/x",
        "RequestId": f"req-{kind}-{request}",
        "LogicalResourceId": "StackImage" if kind == "Image" else "EcsServiceLinkedRole",
        "ResourceType": f"Custom::{kind}",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", "Kind": kind, **props},
    }


@pytest.fixture
def aws():
    with mock_aws():
        clients = {
            n: boto3.client(n, region_name=REGION) for n in ("iam", "ecr", "s3", "codebuild")
        }
        yield clients


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "context"
    (root / "ecs_tasks" / "photometry").mkdir(parents=True)
    (root / "ecs_tasks" / "photometry" / "Dockerfile").write_text("FROM scratch\n")
    (root / "src" / "cloudphot").mkdir(parents=True)
    (root / "src" / "cloudphot" / "__init__.py").write_text("x = 1\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'cloudphot'\n")
    return root


def test_an_existing_role_as_iam_reports_it_is_fine(aws):
    """IAM answers InvalidInput "...has been taken in this account" for an existing role."""
    from botocore.stub import Stubber

    stub = Stubber(aws["iam"])
    stub.add_client_error(
        "create_service_linked_role",
        "InvalidInput",
        "Service role name AWSServiceRoleForECS has been taken in this account, please try "
        "a different suffix.",
    )
    stub.add_client_error("create_service_linked_role", "InvalidInput", "bad service name")
    sent = []
    with stub:
        handle(_event("ServiceLinkedRole"), aws, send=lambda u, b: sent.append(b))
        handle(_event("ServiceLinkedRole"), aws, send=lambda u, b: sent.append(b))
    assert [b["Status"] for b in sent] == ["SUCCESS", "FAILED"]


def test_service_linked_role_is_created_once_and_kept(aws):
    sent = []
    send = lambda url, body: sent.append((url, body))
    handle(_event("ServiceLinkedRole"), aws, send=send)
    roles = aws["iam"].list_roles(PathPrefix="/aws-service-role/")["Roles"]
    # (moto spells it AWSServiceRoleForecs; AWS: AWSServiceRoleForECS)
    assert [r["RoleName"].lower() for r in roles] == ["awsservicerolefor" + "ecs"]
    # an account that has it (a second stack, or any earlier ECS use) is fine too
    handle(_event("ServiceLinkedRole", "Update"), aws, send=send)
    handle(_event("ServiceLinkedRole", "Delete"), aws, send=send)
    assert [b["Status"] for _, b in sent] == ["SUCCESS"] * 3
    assert {b["PhysicalResourceId"] for _, b in sent} == {"AWSServiceRoleForECS"}
    assert aws["iam"].list_roles(PathPrefix="/aws-service-role/")["Roles"]  # kept on delete


def _stack(aws):
    for name in ("photo", "tap"):
        aws["ecr"].create_repository(repositoryName=name)
    aws["s3"].create_bucket(Bucket="products")
    aws["iam"].create_role(
        RoleName="build", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )
    aws["codebuild"].create_project(
        name="imagebuild",
        source={"type": "S3", "location": "products/deploy/image-sources/none.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
        },
        serviceRole="arn:aws:iam::123456789012:role/build",
    )
    return {
        "RepositoryName": "photo",
        "LambdaRepositoryName": "tap",
        "ProjectName": "imagebuild",
        "ArtifactsBucket": "products",
        "SourceVersion": "arn:aws:lambda:us-east-1:123456789012:function:ds:3",
    }


def _push(aws, repository: str, tag: str, content: str) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": content},
        }
    )
    image = aws["ecr"].put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
    return image["image"]["imageId"]["imageDigest"]


def _build_event(env: list[dict], status: str) -> dict:
    return {
        "source": "aws.codebuild",
        "detail-type": "CodeBuild Build State Change",
        "detail": {
            "build-status": status,
            "project-name": "imagebuild",
            "additional-information": {
                "environment": {"environment-variables": env},
                "logs": {"deep-link": "https://console.aws.amazon.com/cloudwatch/logs/x"},
            },
        },
    }


def test_image_is_built_then_answered_by_digest(aws, context):
    props = _stack(aws)
    sent = []
    send = lambda url, body: sent.append((url, body))
    # Create: uploads the context, starts the build, and does not answer yet
    assert handle(_event("Image", **props), aws, context_root=context, send=send) is None
    assert sent == []
    body, tag = context_zip(context)
    uploaded = aws["s3"].get_object(Bucket="products", Key=f"deploy/image-sources/{tag}.zip")
    assert uploaded["Body"].read() == body
    (build_id,) = aws["codebuild"].list_builds_for_project(projectName="imagebuild")["ids"]
    # the build carries the pending request (what CodeBuild's event will hand back)
    env = [
        {"name": "IMAGE_TAG", "value": tag},
        {"name": "CFN_RESPONSE_URL", "value": URL},
        {"name": "CFN_STACK_ID", "value": _event("Image")["StackId"]},
        {"name": "CFN_REQUEST_ID", "value": "req-Image-Create"},
        {"name": "CFN_LOGICAL_ID", "value": "StackImage"},
        {"name": "CFN_PHYSICAL_ID", "value": f"photo:{tag[:16]}"},
        {"name": "CFN_REPOSITORY", "value": "photo"},
        {"name": "CFN_LAMBDA_REPOSITORY", "value": "tap"},
    ]
    # the build ended but pushed only one image: FAILED, never a dangling URI
    digest_tap = _push(aws, "tap", tag, "sha256:" + "1" * 64)
    answer = handle(_build_event(env, "SUCCEEDED"), aws, send=send)
    assert answer["Status"] == "FAILED" and "both images" in answer["Reason"]
    digest = _push(aws, "photo", tag, "sha256:" + "2" * 64)
    answer = handle(_build_event(env, "SUCCEEDED"), aws, send=send)
    assert answer["Status"] == "SUCCESS" and sent[-1] == (URL, answer)
    assert answer["RequestId"] == "req-Image-Create" and answer["LogicalResourceId"] == "StackImage"
    assert answer["Data"]["ImageUri"].endswith(f"/photo@{digest}")
    assert answer["Data"]["LambdaImageUri"].endswith(f"/tap@{digest_tap}")
    assert "latest" not in json.dumps(answer)
    # an update with the same sources finds the images and answers at once (no build)
    again = handle(_event("Image", "Update", **props), aws, context_root=context, send=send)
    assert again["Status"] == "SUCCESS" and again["Data"]["ImageUri"] == answer["Data"]["ImageUri"]
    assert aws["codebuild"].list_builds_for_project(projectName="imagebuild")["ids"] == [build_id]
    # changed sources: a new tag, so a new build
    (context / "src" / "cloudphot" / "__init__.py").write_text("x = 2\n")
    assert handle(_event("Image", "Update", **props), aws, context_root=context, send=send) is None
    assert len(aws["codebuild"].list_builds_for_project(projectName="imagebuild")["ids"]) == 2


def test_a_failed_build_fails_the_deploy_with_its_log_link(aws, context):
    sent = []
    env = [
        {"name": "IMAGE_TAG", "value": "t"},
        *(
            {"name": "CFN_" + k, "value": v}
            for k, v in {
                "RESPONSE_URL": URL,
                "STACK_ID": "s",
                "REQUEST_ID": "r",
                "LOGICAL_ID": "StackImage",
                "PHYSICAL_ID": "photo:t",
                "REPOSITORY": "photo",
                "LAMBDA_REPOSITORY": "tap",
            }.items()
        ),
    ]
    answer = handle(_build_event(env, "FAILED"), aws, send=lambda u, b: sent.append(b))
    assert answer["Status"] == "FAILED" and "cloudwatch/logs" in answer["Reason"]
    # a build started by hand (no pending request) and in-progress phases are ignored
    assert handle(_build_event(env[:1], "FAILED"), aws, send=lambda u, b: sent.append(b)) is None
    assert handle(_build_event(env, "IN_PROGRESS"), aws, send=lambda u, b: sent.append(b)) is None
    assert len(sent) == 1


def test_every_failure_reaches_cloudformation(aws, context, tmp_path):
    """An exception (no such project, a context without a Dockerfile, an unknown kind)
    must still answer FAILED: otherwise CloudFormation waits an hour for the resource."""
    sent = []
    send = lambda url, body: sent.append(body)
    props = _stack(aws)
    handle(
        _event("Image", **{**props, "ProjectName": "nope"}), aws, context_root=context, send=send
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    handle(_event("Image", **props), aws, context_root=empty, send=send)
    handle(_event("Nonsense"), aws, send=send)
    assert [b["Status"] for b in sent] == ["FAILED"] * 3
    assert "Dockerfile" in sent[1]["Reason"] and "Nonsense" in sent[2]["Reason"]


def test_context_zip_is_deterministic_and_sees_every_change(context):
    a = context_zip(context)
    (context / "src" / "cloudphot" / "__pycache__").mkdir()
    (context / "src" / "cloudphot" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert context_zip(context) == a  # bytecode is not a source
    (context / "ecs_tasks" / "photometry" / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    assert context_zip(context)[1] != a[1]
