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

