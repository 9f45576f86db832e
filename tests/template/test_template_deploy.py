"""`sam deploy` as far as it goes without an account: the repo's samconfig.toml, against
moto's server, up to a created change set (``--no-execute-changeset``).

This is issue 17's first-deploy rehearsal. It fails on each blocker of a first deploy:
sam refusing the command line (image functions without an image-repository option:
exit 2), an image that the stack does not build (a ``:latest`` tag in a repository the
stack creates empty), reserved concurrency (fails in accounts with a low quota), and
a cluster created before ECS's service-linked role.

What moto cannot do, and is therefore not checked here: run the SAM transform, execute
the change set (CloudFormation's resource handlers), CodeBuild's docker build, IAM
policy evaluation. moto's CloudFormation also has no AWS::S3::BucketPolicy, so SAM's
managed artifacts stack is created by the test (same name, tag and output) instead of
by `sam deploy` itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pytest

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(shutil.which("sam") is None, reason="needs the sam CLI"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # "localhost": moto reads a TemplateURL's bucket from the path only for that host
    yield f"http://localhost:{port}"
    server.stop()


@pytest.fixture(scope="module")
def deployed(project_root, moto_endpoint, tmp_path_factory):
    import boto3

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("PYTHONPATH", None)
    cfn = boto3.client(
        "cloudformation",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    managed = {
        "Resources": {"SamCliSourceBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"SourceBucket": {"Value": {"Ref": "SamCliSourceBucket"}}},
    }
    cfn.create_stack(
        StackName="aws-sam-cli-managed-default",
        TemplateBody=json.dumps(managed),
        Tags=[{"Key": "ManagedStackSource", "Value": "AwsSamCli"}],
    )
    done = subprocess.run(
        [
            "sam",
            "deploy",
            "--no-execute-changeset",
            "--no-confirm-changeset",
            "--config-file",
            str(project_root / "samconfig.toml"),
            "--template-file",
            str(project_root / "template.yaml"),
        ],
        cwd=project_root,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done, cfn


def test_sam_deploy_with_the_repos_samconfig_creates_a_change_set(deployed):
    done, cfn = deployed
    out = done.stdout + done.stderr
    assert "Missing option" not in out, out[-3000:]  # blocker 1: sam's own refusal
    assert done.returncode == 0, out[-5000:]
    assert "Changeset created successfully" in out
    (summary,) = cfn.list_change_sets(StackName="cloudphot")["Summaries"]
    assert summary["Status"] == "CREATE_COMPLETE"
    # resolve_image_repos: sam's companion stack holds a repository per image function
    companions = [
        s for s in cfn.list_stacks()["StackSummaries"] if "CompanionStack" in s["StackName"]
    ]
    assert companions, "no companion stack: sam did not resolve image repositories"


def test_the_change_set_builds_its_images_and_needs_no_quota(deployed, moto_endpoint):
    import boto3
    import yaml

    from cloudphot.template import _CfnLoader

    _, cfn = deployed
    # the template sam package uploaded for the change set (moto's GetTemplate ignores
    # ChangeSetName), from SAM's artifacts bucket
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    outputs = cfn.describe_stacks(StackName="aws-sam-cli-managed-default")["Stacks"][0]["Outputs"]
    bucket = outputs[0]["OutputValue"]
    bodies = [
        s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
        if o["Key"].endswith(".template")
    ]
    # the application's, not the companion stack's
    (body,) = [b for b in bodies if b"PhotometryCluster" in b]
    template = yaml.load(body, Loader=_CfnLoader)
    resources = template["Resources"]
    text = json.dumps(template)
    # blocker 2: every image is the one the stack builds, by digest (no :latest)
    assert ":latest" not in text
    images = []
    for lid, res in resources.items():
        props = res.get("Properties", {})
        if "ImageUri" in props:
            images.append((lid, props["ImageUri"]))
        for c in props.get("ContainerDefinitions", []):
            images.append((lid, c["Image"]))
    task_definitions = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert len(images) >= len(task_definitions) + 2, images  # + the 2 TAP functions
    for lid, image in images:
        assert image.get("Fn::GetAtt", [None])[0] == "StackImage", (lid, image)
    # blocker 3: no reserved concurrency anywhere
    assert "ReservedConcurrentExecutions" not in text
    # blocker 4: the cluster waits for ECS's service-linked role
    assert resources["PhotometryCluster"]["DependsOn"] == "EcsServiceLinkedRole"
    assert resources["EcsServiceLinkedRole"]["Properties"]["Kind"] == "ServiceLinkedRole"
    # the image is rebuilt when the packaged sources change
    assert resources["StackImage"]["Properties"]["SourceVersion"] == {
        "Ref": "DeploySupportFunction.Version"
    }
