"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# In-process Lambda handlers (local runtime) use Powertools: no X-Ray daemon and no
# metrics sink here. Set for the whole session, not per test: session-scoped
# fixtures run pipelines outside any test's monkeypatch.
for _var, _value in {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "cloudphot",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(_var, _value)
SHARED_DATA = Path(os.environ.get("CLOUDPHOT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public files in ../shared/data; tests that need them skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def local_settings(tmp_path):
    from cloudphot.settings import Settings

    return Settings.from_env(home=tmp_path / "ws", backend="local", env={})


@pytest.fixture(autouse=True)
def _isolated_workspace_env(monkeypatch):
    monkeypatch.delenv("CLOUDPHOT_HOME", raising=False)
    monkeypatch.delenv("CLOUDPHOT_BACKEND", raising=False)
