"""Structure of the photometry container's Dockerfile (no docker daemon here to build it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cloudphot.dolphot.runner import DOLPHOT_PROGRAMS

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "ecs_tasks" / "photometry"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (TASK / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    out = []
    for item in logical:
        word, _, rest = item.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def test_entrypoint_is_the_copied_entrypoint_py_in_exec_form():
    ins = _instructions()
    entry = [rest for word, rest in ins if word == "ENTRYPOINT"]
    assert len(entry) == 1
    argv = json.loads(entry[0])  # exec form: python is PID 1 and receives SIGTERM itself
    assert argv[0] == "python" and argv[1] == "/app/entrypoint.py"
    copies = [rest.split() for word, rest in ins if word == "COPY"]
    assert ["ecs_tasks/photometry/entrypoint.py", "/app/entrypoint.py"] in copies
    assert (TASK / "entrypoint.py").is_file()
    # the runtime stage is the last FROM and the entrypoint comes after it
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    assert [w for w, _ in ins].index("ENTRYPOINT") > last_from


def test_dolphot_sources_and_psfs_are_build_args():
    args = {
        rest.split("=", 1)[0]: rest.split("=", 1)[1] if "=" in rest else ""
        for word, rest in _instructions()
        if word == "ARG"
    }
    assert {
        "DOLPHOT_BASE_URL",
        "DOLPHOT_TARBALL",
        "DOLPHOT_ACS_TARBALL",
        "DOLPHOT_WFC3_TARBALL",
        "PSF_TARBALLS",
    } <= set(args)
    assert "ACS" in args["DOLPHOT_ACS_TARBALL"] and "WFC3" in args["DOLPHOT_WFC3_TARBALL"]
    for f in ("F475W", "F814W", "F275W", "F336W", "F110W", "F160W"):  # the PHAT filters
        assert f in args["PSF_TARBALLS"], f


def test_build_enables_modules_and_checks_every_program_the_runner_calls():
    runs = " ".join(rest for word, rest in _instructions() if word == "RUN")
    assert "USEACS=1" in runs and "USEWFC3=1" in runs and "make" in runs
    check = re.search(r"for p in ([\w ]+); do test -x", runs)
    assert check, "the build must check that the programs were built"
    assert set(check.group(1).split()) == set(DOLPHOT_PROGRAMS)
    for program in ("acsmask", "wfc3mask", "splitgroups", "calcsky", "dolphot"):
        assert program in runs


def test_installs_cloudphot_from_the_repository_root():
    ins = _instructions()
    copies = [rest.split() for word, rest in ins if word == "COPY"]
    assert any(c[0] == "src" for c in copies)
    assert any(c[0] == "pyproject.toml" for c in copies)
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "src" / "cloudphot").is_dir()
    runs = [rest for word, rest in ins if word == "RUN"]
    assert any(re.search(r"pip install [^&]*\"?\.(\[[\w,]+\])?\"?", r) for r in runs)
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "DOLPHOT_BIN=" in env


@pytest.mark.parametrize(
    "section", ["CLOUDPHOT_RESULT", "CLOUDPHOT_ERROR", "143", "137", "75", "cannot be built here"]
)
def test_readme_documents_the_protocol(section):
    assert section in (TASK / "README.md").read_text()
