"""Lambda entry point of the DeploySupport custom resource (cloudphot.aws.deploy_support):
ECS's service-linked role, and the stack's image built by CodeBuild."""

import logging

from cloudphot.aws.deploy_support import handle

logging.getLogger().setLevel(logging.INFO)


def handler(event, context):
    return handle(event)
