"""Fixtures for the offline template contract tests.

These tests hold ``template.yaml`` to the code that runs against it (table
schemas, settings, handlers, state machine files), without an AWS account.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudphot.template import find_project_root, load_template


@pytest.fixture(scope="session")
def project_root() -> Path:
    return find_project_root()


@pytest.fixture(scope="session")
def template(project_root) -> dict:
    return load_template(project_root / "template.yaml")


@pytest.fixture(scope="session")
def resources(template) -> dict[str, dict]:
    return template["Resources"]


@pytest.fixture(scope="session")
def sam_translated(template) -> dict:
    """The CloudFormation SAM deploys (its transform run offline), for checks of what it
    generates: roles, API definitions. Code locations become what ``sam package`` puts
    there; managed-policy lookups, which need AWS, are answered empty."""
    import copy

    from samtranslator.translator.transform import transform

    class _NoManagedPolicyLookups:
        def load(self):
            return {}

    local = copy.deepcopy(template)
    for res in local["Resources"].values():
        for uri in ("CodeUri", "DefinitionUri", "ContentUri"):
            if uri in res.get("Properties", {}):
                res["Properties"][uri] = "s3://bucket/key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(local, {}, _NoManagedPolicyLookups())
