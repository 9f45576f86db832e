"""The DeploySupport custom resource: what a first ``sam deploy`` needs that CloudFormation
cannot do by itself.

``Kind: ServiceLinkedRole``
    Creates ECS's service-linked role (``AWSServiceRoleForECS``) if the account has none.
    A fresh account has none until ECS is first used, and a cluster with capacity
    providers then fails to create. ``AWS::IAM::ServiceLinkedRole`` cannot be used: it
    fails when the role exists (most accounts). Deleting the stack keeps the role
    (other stacks' clusters use it).

``Kind: Image``
    Builds the stack's one container image (photometry worker, catalog build, TAP
    functions) with CodeBuild, so that nobody needs docker on a laptop and the stack
    never points at an image that does not exist yet. The build context (Dockerfile,
    pyproject.toml, src/, ecs_tasks/) is this function's own package, assembled by
    ``sam build`` (functions/deploy_support/Makefile); its SHA-256 is the image tag.
    If the repository already holds that tag the resource answers at once; otherwise
    it uploads the context to the artifacts bucket, starts the build and returns
    without answering. CodeBuild's state-change event (an EventBridge rule on the
    project) calls this function again, which answers CloudFormation through the
    presigned URL the build carries: SUCCESS with ``ImageUri`` = ``repo@sha256:...``
    (task definitions and image functions are pinned by digest), or FAILED with the
    build's log link. CloudFormation waits up to an hour for the answer.

Everything AWS is passed in (``clients``), so tests run it against moto.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "BUILD_ENV_PREFIX",
    "SOURCES_PREFIX",
    "context_zip",
    "handle",
    "on_build_event",
    "on_custom_resource",
    "send_response",
]

log = logging.getLogger(__name__)

#: environment variables of the CodeBuild run that carry the pending CloudFormation request
BUILD_ENV_PREFIX = "CFN_"
ECS_SERVICE = "ecs.amazonaws.com"
#: where build contexts go in the products bucket (template: UploadBuildContext, ReadBuildContext)
SOURCES_PREFIX = "deploy/image-sources/"
Sender = Callable[[str, dict], None]


def send_response(url: str, body: dict) -> None:
    """PUT the custom resource's answer to CloudFormation's presigned S3 URL."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(data))}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # CloudFormation's https URL
        resp.read()


def _answer(event: Mapping, status: str, *, physical_id: str, reason: str = "", data=None) -> dict:
    return {
        "Status": status,
        "Reason": (reason or status)[:3000],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": data or {},
    }


def context_zip(root: Path) -> tuple[bytes, str]:
    """The build context under ``root`` as a deterministic zip, and its SHA-256 (hex).

    Entries are sorted and carry a fixed time, so the same sources give the same tag
    and an unchanged stack update reuses the image instead of rebuilding it.
    """
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not (root / "Dockerfile").is_file() and not any(p.name == "Dockerfile" for p in files):
        from ..errors import ConfigError

        raise ConfigError(f"{root} holds no Dockerfile: not an image build context")
    buf = io.BytesIO()
    digest = hashlib.sha256()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            rel = p.relative_to(root).as_posix()
            body = p.read_bytes()
            digest.update(rel.encode() + b"\0" + hashlib.sha256(body).digest())
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body)
    return buf.getvalue(), digest.hexdigest()


def _service_linked_role(event: Mapping, iam) -> dict:
    physical = "AWSServiceRoleForECS"
    if event["RequestType"] == "Delete":
        return _answer(event, "SUCCESS", physical_id=physical, reason="kept: other clusters use it")
    try:
        iam.create_service_linked_role(AWSServiceName=ECS_SERVICE)
        reason = "created AWSServiceRoleForECS"
    except iam.exceptions.EntityAlreadyExistsException:
        reason = "AWSServiceRoleForECS exists"
    except iam.exceptions.InvalidInputException as exc:
        # what IAM answers for an existing one: "Service role name AWSServiceRoleForECS
        # has been taken in this account, please try a different suffix."
        if "taken" not in str(exc):
            raise
        reason = "AWSServiceRoleForECS exists"
    return _answer(event, "SUCCESS", physical_id=physical, reason=reason)


def _image_uri(ecr, repository: str, tag: str) -> str | None:
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ImageNotFoundException:
        return None
    details = found.get("imageDetails") or []
    if not details:
        return None
    uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0][
        "repositoryUri"
    ]
    return f"{uri}@{details[0]['imageDigest']}"


def _built(ecr, repository: str, lambda_repository: str, tag: str) -> dict | None:
    """``Data`` of the two images of ``tag``, or None unless both exist."""
    worker = _image_uri(ecr, repository, tag)
    lam = _image_uri(ecr, lambda_repository, tag)
    if worker is None or lam is None:
        return None
    return {"ImageUri": worker, "LambdaImageUri": lam, "Tag": tag}


def _image(event: Mapping, clients: Mapping[str, Any], context_root: Path) -> dict | None:
    props = event["ResourceProperties"]
    repository, project = props["RepositoryName"], props["ProjectName"]
    lambda_repository, bucket = props["LambdaRepositoryName"], props["ArtifactsBucket"]
    if event["RequestType"] == "Delete":
        # the repositories' EmptyOnDelete removes the images with the stack
        return _answer(event, "SUCCESS", physical_id=event.get("PhysicalResourceId", repository))
    body, tag = context_zip(context_root)
    physical = f"{repository}:{tag[:16]}"
    data = _built(clients["ecr"], repository, lambda_repository, tag)
    if data is not None:
        return _answer(
            event,
            "SUCCESS",
            physical_id=physical,
            reason="images of these sources exist",
            data={**data, "Built": "false"},
        )
    key = f"{SOURCES_PREFIX}{tag}.zip"
    clients["s3"].put_object(Bucket=bucket, Key=key, Body=body)
    pending = {
        "RESPONSE_URL": event["ResponseURL"],
        "STACK_ID": event["StackId"],
        "REQUEST_ID": event["RequestId"],
        "LOGICAL_ID": event["LogicalResourceId"],
        "PHYSICAL_ID": physical,
        "REPOSITORY": repository,
        "LAMBDA_REPOSITORY": lambda_repository,
    }
    clients["codebuild"].start_build(
        projectName=project,
        sourceTypeOverride="S3",
        sourceLocationOverride=f"{bucket}/{key}",
        environmentVariablesOverride=[
            {"name": "IMAGE_TAG", "value": tag, "type": "PLAINTEXT"},
            *(
                {"name": BUILD_ENV_PREFIX + k, "value": v, "type": "PLAINTEXT"}
                for k, v in pending.items()
            ),
        ],
    )
    return None  # answered by on_build_event when the build ends


def on_custom_resource(
    event: Mapping,
    clients: Mapping[str, Any],
    *,
    context_root: Path,
    send: Sender = send_response,
) -> dict | None:
    """Handle one CloudFormation request; the answer sent, or None while a build runs."""
    kind = (event.get("ResourceProperties") or {}).get("Kind")
    physical = event.get("PhysicalResourceId") or event.get("LogicalResourceId", "DeploySupport")
    try:
        if kind == "ServiceLinkedRole":
            answer: dict | None = _service_linked_role(event, clients["iam"])
        elif kind == "Image":
            answer = _image(event, clients, context_root)
        else:
            answer = _answer(event, "FAILED", physical_id=physical, reason=f"unknown Kind {kind!r}")
    except Exception as exc:  # every failure must reach CloudFormation, or it waits an hour
        log.exception("DeploySupport %s failed", kind)
        answer = _answer(
            event, "FAILED", physical_id=physical, reason=f"{type(exc).__name__}: {exc}"
        )
    if answer is not None:
        send(event["ResponseURL"], answer)
    return answer


def on_build_event(event: Mapping, clients: Mapping[str, Any], *, send: Sender = send_response):
    """CodeBuild's 'Build State Change' (SUCCEEDED, FAILED, STOPPED): answer the request
    the build carries. Builds started by hand (no CFN_ variables) are ignored."""
    detail = event.get("detail") or {}
    status = detail.get("build-status")
    info = detail.get("additional-information") or {}
    env = {
        v.get("name"): v.get("value")
        for v in (info.get("environment") or {}).get("environment-variables") or []
    }
    pending = {
        k[len(BUILD_ENV_PREFIX) :]: v for k, v in env.items() if k.startswith(BUILD_ENV_PREFIX)
    }
    if not pending.get("RESPONSE_URL") or status not in ("SUCCEEDED", "FAILED", "STOPPED"):
        return None
    request = {
        "StackId": pending["STACK_ID"],
        "RequestId": pending["REQUEST_ID"],
        "LogicalResourceId": pending["LOGICAL_ID"],
    }
    physical = pending["PHYSICAL_ID"]
    logs = (info.get("logs") or {}).get("deep-link", "")
    if status == "SUCCEEDED":
        tag = env.get("IMAGE_TAG", "")
        data = _built(clients["ecr"], pending["REPOSITORY"], pending["LAMBDA_REPOSITORY"], tag)
        if data is None:
            answer = _answer(
                request,
                "FAILED",
                physical_id=physical,
                reason=f"the build succeeded but did not push both images tagged {tag}",
            )
        else:
            answer = _answer(
                request, "SUCCESS", physical_id=physical, data={**data, "Built": "true"}
            )
    else:
        answer = _answer(
            request, "FAILED", physical_id=physical, reason=f"image build {status}: {logs}"
        )
    send(pending["RESPONSE_URL"], answer)
    return answer


def handle(
    event: Mapping,
    clients: Mapping[str, Any] | None = None,
    *,
    context_root: Path | None = None,
    send: Sender = send_response,
):
    """The Lambda's one entry: a CloudFormation request or a CodeBuild event."""
    if clients is None:
        import boto3

        clients = {n: boto3.client(n) for n in ("iam", "ecr", "s3", "codebuild")}
    if event.get("source") == "aws.codebuild":
        return on_build_event(event, clients, send=send)
    root = context_root or Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / "context"
    return on_custom_resource(event, clients, context_root=root, send=send)
