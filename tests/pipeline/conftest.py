"""Local services (SQLite tables, folder buckets) for the pipeline steps."""

from __future__ import annotations

import pytest

from cloudphot.pipeline.services import Services
from cloudphot.runtime.platform import LocalPlatform
from cloudphot.settings import Settings


@pytest.fixture
def svc(tmp_path) -> Services:
    settings = Settings(home=tmp_path / "ws")
    settings.home.mkdir()
    return LocalPlatform(settings).services
