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


#: set (to anything but 0) to run the slow end-to-end tests too; .ci/run sets it
ALL_TESTS_ENV = "CLOUDPHOT_ALL_TESTS"


def _run_everything(config) -> bool:
    return bool(config.getoption("markexpr")) or os.environ.get(ALL_TESTS_ENV, "0") not in (
        "",
        "0",
    )


def pytest_collection_modifyitems(config, items):
    """The default run leaves out the tests marked ``slow`` (end-to-end runs of the
    pipeline, real SAM builds, fuzzing): the README's ``python -m pytest`` stays a few
    minutes on two cores. CI (``.ci/run``) sets CLOUDPHOT_ALL_TESTS=1 and runs them all;
    so does any ``-m`` expression (``-m slow``: only them)."""
    if _run_everything(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        keep = set(map(id, slow))
        items[:] = [item for item in items if id(item) not in keep]
        config._cloudphot_slow_left_out = len(slow)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = getattr(config, "_cloudphot_slow_left_out", 0)
    if n:
        terminalreporter.write_line(
            f"{n} slow end-to-end test(s) left out of this default run; "
            f"{ALL_TESTS_ENV}=1 runs everything (as .ci/run does), -m slow only them"
        )
