"""Issue 18 item 5: a workspace path that is not a folder, and a read-only workspace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import no_traceback


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_a_workdir_that_is_not_a_folder_is_named(cli, tmp_path, where):
    afile = tmp_path / "notes.txt"
    afile.write_text("not a workspace")
    workdir = afile if where == "file" else afile / "ws"
    for command in ("init", "status", "upload"):
        ran = cli(command, *([afile] if command == "upload" else []), workdir=workdir)
        assert ran.rc == 2, ran
        assert f"workspace {workdir}" in ran.err and "not a folder" in ran.err, ran
        if where == "under-file":
            assert f"lies under {afile}, which is a file" in ran.err
        no_traceback(ran)


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_catalog_commands_name_a_workdir_that_is_not_a_folder(cli, tmp_path, where):
    afile = tmp_path / "notes.txt"
    afile.write_text("not a workspace")
    workdir = afile if where == "file" else afile / "ws"
    for command in (("query", "SELECT 1"),):  # every catalog command opens it the same way
        ran = cli(*command, workdir=workdir)
        assert ran.rc == 2, ran
        assert f"workspace {workdir}" in ran.err and "not a folder" in ran.err, ran
        no_traceback(ran)


def test_reading_a_workspace_that_is_not_there_says_so_and_makes_none(cli, tmp_path):
    """A mistyped --workdir: 'status' made an empty workspace there and showed nothing,
    and the catalog commands said to run 'catalog build'."""
    workdir = tmp_path / "typo" / "ws"
    # one command per way of opening a workspace: the platform (status, tree, retry...),
    # the local runtime (executions, run...) and the catalog (query, cone, map...)
    for command in (
        ("status",),
        ("executions",),
        ("query", "SELECT count(*) FROM phat_v2.phot_mod"),
    ):
        ran = cli(*command, workdir=workdir)
        assert ran.rc == 2, ran
        assert f"no workspace at {workdir}" in ran.err, ran
        no_traceback(ran)
        if command == ("status",):
            assert "'cloudphot upload FILES' makes one" in ran.err, ran
    assert not (tmp_path / "typo").exists()


def test_a_workdir_with_missing_parents_is_created_by_init(cli, tmp_path):
    workdir = tmp_path / "a" / "b" / "ws"
    ran = cli("init", workdir=workdir)
    assert ran.rc == 0 and "ready" in ran.out, ran
    assert (workdir / "tables.sqlite").is_file()


def _freeze(paths: list[Path]) -> list[Path]:
    """Make ``paths`` unwritable even for root (chattr +i); chmod for everyone else."""
    if os.geteuid() != 0:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return []
    if not shutil.which("chattr"):
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    done = []
    for p in paths:
        if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
            _thaw(done)
            pytest.skip("this file system has no immutable flag (chattr +i)")
        done.append(p)
    return done


def _thaw(frozen: list[Path]) -> None:
    for p in frozen:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def test_a_read_only_workspace_can_be_looked_at(cli, ws, tmp_path):
    assert cli("init").rc == 0
    assert cli("status").rc == 0  # the tables exist, as after any session
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"field_id": "cli-field", "exposures": ["jcli00aaq"]}))
    frozen = _freeze([*ws.glob("*.sqlite*"), *(p for p in ws.rglob("*") if p.is_dir()), ws])
    try:
        for command in ("status", "tree", "executions", "cost"):
            ran = cli(command)
            assert ran.rc == 0, ran
            no_traceback(ran)
        for command in (("upload", manifest), ("run",)):
            ran = cli(*command)
            assert ran.rc == 2, ran
            assert f"the workspace {ws} is read-only for you" in ran.err, ran
            no_traceback(ran)
    finally:
        _thaw(frozen)
    assert not (ws / "buckets" / "raw" / "manifests").exists()  # nothing was put


def test_ordinary_mistakes_get_one_line_and_exit_2(cli, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    for args, message in (
        (("simulate", afile, "--preset", "tiny"), f"{afile}: exists and is a file, not a folder"),
        (("run", "--workers", "-2"), "argument --workers: -2 must be 1 or more"),
        (("executions", "--limit", "0"), "argument --limit: 0 must be 1 or more"),
    ):
        ran = cli(*args)
        assert ran.rc == 2 and message in ran.err, ran
        assert len(ran.err.strip().splitlines()[-1]) and "Traceback" not in ran.err, ran
