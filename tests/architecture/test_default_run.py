"""Issue 18 item 10: the default ``python -m pytest`` leaves out the tests marked slow;
CI (``CLOUDPHOT_ALL_TESTS=1``, set by .ci/run) and any ``-m`` expression run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: a slow end-to-end test (the README quickstart) and a fast file beside it
FILES = ["tests/cli/test_quickstart.py", "tests/cli/test_help.py"]
SLOW = "tests/cli/test_quickstart.py::test_readme_quickstart_ends_in_a_catalog"


def _collect(*extra: str, **env: str) -> str:
    e = {k: v for k, v in os.environ.items() if k != "CLOUDPHOT_ALL_TESTS"}
    e.update(PYTHONPATH=str(ROOT / "src"), **env)
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *extra]
        + FILES,
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_the_default_run_leaves_out_slow_tests_and_ci_runs_them():
    default = _collect()
    assert SLOW not in default and "tests/cli/test_help.py::" in default
    assert "deselected" in default
    assert SLOW in _collect(CLOUDPHOT_ALL_TESTS="1")
    only = _collect("-m", "slow")
    assert SLOW in only and "tests/cli/test_help.py::" not in only


def test_ci_sets_the_variable_before_the_readme_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme_command = 'pip install -e ".[test]" && python -m pytest'
    assert readme_command in (ROOT / "README.md").read_text()
    assert ci.rstrip().endswith(readme_command)
    assert "export CLOUDPHOT_ALL_TESTS=1" in ci.split(readme_command)[0]
