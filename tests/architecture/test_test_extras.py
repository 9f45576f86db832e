"""Issue 18 item 8: installing the test extras must not downgrade boto3. The SAM CLI
pins boto3 to one release (``boto3[crt]==1.43.108``); it is installed on its own
(.ci/run: a venv, only ``sam`` on PATH), not as a test extra."""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIN = re.compile(r"^(boto3|botocore|s3transfer)(\[[^\]]*\])?\s*===?\s*[\d.]+", re.I)


def _test_extras() -> list[str]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return doc["project"]["optional-dependencies"]["test"]


def test_no_test_extra_pins_boto3_to_one_release():
    pinned = []
    for req in _test_extras():
        name = _NAME.match(req).group(1)  # type: ignore[union-attr]
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue  # not installed here: nothing to inspect
        pinned += [
            f"{name} requires {r}"
            for r in requires
            if _PIN.match(r.split(";")[0]) and "extra ==" not in r  # not an unasked-for extra
        ]
    assert not pinned, pinned
    assert not any(_NAME.match(r).group(1).lower() == "aws-sam-cli" for r in _test_extras())  # type: ignore[union-attr]


def test_ci_installs_the_sam_cli_on_its_own():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m venv /tmp/ci-sam" in ci and 'export PATH="/tmp/ci-bin:$PATH"' in ci
