"""The CLI as a user meets it: ``python -m cloudphot ...`` in a subprocess, a real workspace.

Each test asserts what the user reads (stdout and stderr) and the exit status; no
test here imports the command functions. ``cli(...)`` runs one command with the
test's workspace (``--workdir``) and returns a :class:`Ran`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    args: list[str]
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:  # shown when an assertion fails
        return f"$ cloudphot {' '.join(self.args)}\nexit {self.rc}\n{self.out}{self.err}"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDPHOT_")}
    env.update(
        PYTHONPATH=str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
        MPLBACKEND="Agg",
        NO_COLOR="1",
        COLUMNS="200",
        TERM="dumb",
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], *, cwd: Path, workdir: Path | None, timeout: float = 600, **env: str
) -> Ran:
    argv = [sys.executable, "-m", "cloudphot"]
    if workdir is not None:
        argv += ["--workdir", str(workdir)]
    p = subprocess.run(
        argv + [str(a) for a in args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran([str(a) for a in args], p.returncode, p.stdout, p.stderr)


@pytest.fixture
def ws(tmp_path) -> Path:
    """The test's workspace folder (created by the first command that needs it)."""
    return tmp_path / "ws"


@pytest.fixture
def cli(tmp_path, ws):
    def run(*args, workdir: Path | bool | None = True, timeout: float = 600, **env) -> Ran:
        where = ws if workdir is True else (None if workdir is False else workdir)
        return run_cli(list(args), cwd=tmp_path, workdir=where, timeout=timeout, **env)

    return run


def no_traceback(ran: Ran) -> None:
    assert "Traceback" not in ran.text, str(ran)


def _small_field(folder: Path) -> Path:
    from cloudphot.simulate.exposure import synthetic_exposure

    folder.mkdir()
    for i, filt in enumerate(("F475W", "F814W", "F475W", "F814W")):
        synthetic_exposure(
            folder,
            filter=filt,
            rootname=f"jcli0{i}aaq",
            target="CLI-FIELD",
            shape=(64, 64),
            nstars=10,
            seed=i,
            expstart=56000.0 + i,
        )
    return folder


@pytest.fixture
def small_field(tmp_path) -> Path:
    """Four small valid exposures of one field (two filters), no manifest: seconds to ingest."""
    return _small_field(tmp_path / "field")


@pytest.fixture(scope="session")
def _uploaded_template(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("uploaded")
    ran = run_cli(["upload", _small_field(where / "field")], cwd=where, workdir=where / "ws")
    assert ran.rc == 0, ran
    return where / "ws"


@pytest.fixture
def uploaded(ws, _uploaded_template) -> Path:
    """The test's workspace after 'cloudphot upload' of the small field (four exposures of
    field cli-field registered, no manifest): one upload per session, copied per test."""
    import shutil

    shutil.copytree(_uploaded_template, ws)
    return ws


@pytest.fixture(scope="session")
def tiny_sim(tmp_path_factory) -> tuple[Path, Ran]:
    """``cloudphot simulate S --preset tiny`` once per session: (S, what it printed)."""
    where = tmp_path_factory.mktemp("tiny-sim")
    ran = run_cli(
        ["simulate", where / "S", "--preset", "tiny", "--no-progress"], cwd=where, workdir=None
    )
    assert ran.rc == 0, ran
    return where / "S", ran
