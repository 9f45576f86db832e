"""Issue 18 item 3: Ctrl-C says at once what it stops, stops the workers (the SIGTERM a
Spot reclaim sends) instead of waiting for them, and the next run resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import cli_env

pytestmark = pytest.mark.slow


def _processes_of(ws: Path) -> list[int]:
    """Pids whose environment names this workspace (the CLI and its ECS workers)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"CLOUDPHOT_HOME={ws}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def test_ctrl_c_stops_the_workers_and_the_next_run_resumes(cli, ws, tiny_sim, tmp_path):
    sim, _ = tiny_sim
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudphot", "--workdir", str(ws), "upload", str(sim)],
        cwd=tmp_path,
        env=cli_env(CLOUDPHOT_HOME=str(ws)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not list((ws / "logs" / "ecs").glob("*.log")):  # the photometry worker started
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "stopping 1 running job(s) (reduce_field reduce_field-" in err, err
    assert "and their workers" in err and "interrupted; rerun the same command" in err
    assert "Traceback" not in err
    assert _processes_of(ws) == []  # no worker left running on its own

    status = json.loads(cli("status", "--json").out)
    (field,) = status["fields"]
    assert field["stage"] == "reducing" and "run" in field["next"]

    ran = cli("run")
    assert ran.rc == 0, ran
    assert "field sim-tiny-s0: in the catalog" in ran.out, ran
