"""The worker protocol, exercised on real subprocesses (as the local ECS runner starts them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudphot.errors import DataError, InvalidExposure, SpotInterrupted, Throttled
from cloudphot.worker import (
    ERROR_PREFIX,
    RESULT_PREFIX,
    error_name_for,
    exit_code_for,
    read_request,
)

SRC = Path(__file__).resolve().parents[2] / "src"

WORKER = textwrap.dedent("""
    import os, sys, time
    from cloudphot.errors import DataError, SpotInterrupted, Throttled
    from cloudphot.worker import check_stop, run_worker, stop_requested

    def ready():
        print("READY", flush=True)

    def main(req):
        mode = req["mode"]
        if mode == "ok":
            print("some chatter on stdout", flush=True)
            return {"echo": req, "n": 3}
        if mode == "data":
            raise DataError("j9ec41aiq_flc.fits: DQ extension missing")
        if mode == "transient":
            raise Throttled("SlowDown from S3")
        if mode == "memory":
            raise MemoryError()
        if mode == "other":
            raise ValueError("boom")
        if mode == "not-a-dict":
            return [1, 2]
        if mode == "sleep":          # blocked: the SIGTERM handler interrupts it
            ready(); time.sleep(60); return {"late": True}
        if mode == "poll":           # a loop polling the stop flag
            ready()
            for _ in range(6000):
                check_stop("the poll loop"); time.sleep(0.01)
            return {"late": True}
        if mode == "convert":        # the job turns the interrupt into another error
            try:
                ready()  # inside the try: SIGTERM may arrive as soon as READY is out
                time.sleep(60)
            except SpotInterrupted:
                raise DataError("half-written output")
        if mode == "swallow":        # the job ignores the interrupt: the watchdog ends it
            said = False
            while True:
                try:
                    if not said:
                        said = True
                        ready()
                    time.sleep(60)
                except BaseException:
                    pass
        raise AssertionError(mode)

    sys.exit(run_worker(main, argv=sys.argv[1:], stop_grace_s=float(os.environ.get("GRACE", "10"))))
""")


@pytest.fixture
def worker_script(tmp_path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDPHOT_")}
    env["PYTHONPATH"] = str(SRC)
    env.update(extra)
    return env


def _run(script: Path, request: dict | None = None, args=(), **env) -> subprocess.CompletedProcess:
    if request is not None:
        env["CLOUDPHOT_REQUEST"] = json.dumps(request)
    return subprocess.run(
        [sys.executable, str(script), *args],
        check=False,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _error(stderr: str) -> dict:
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(ERROR_PREFIX + " "), stderr
    return json.loads(last[len(ERROR_PREFIX) + 1 :])


def test_success_prints_the_result_line_last(worker_script):
    proc = _run(worker_script, {"mode": "ok", "field_id": "f1"}, CLOUDPHOT_JOB_ID="job-42")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(RESULT_PREFIX + " ")
    result = json.loads(last[len(RESULT_PREFIX) + 1 :])
    assert result == {"echo": {"mode": "ok", "field_id": "f1", "job_id": "job-42"}, "n": 3}
    assert ERROR_PREFIX not in proc.stderr


@pytest.mark.parametrize(
    "mode, code, name, cause",
    [
        ("data", 3, "DataError", "j9ec41aiq_flc.fits: DQ extension missing"),
        ("transient", 75, "Throttled", "SlowDown from S3"),
        ("memory", 137, "OutOfMemory", "MemoryError()"),
        ("other", 1, "ValueError", "boom"),
        ("not-a-dict", 1, "TypeError", "the job returned list, not a dict"),
    ],
)
def test_failures_exit_by_class(worker_script, mode, code, name, cause):
    proc = _run(worker_script, {"mode": mode})
    assert proc.returncode == code, proc.stderr
    assert _error(proc.stderr) == {"error": name, "cause": cause}
    assert RESULT_PREFIX not in proc.stdout
    assert "Traceback" in proc.stderr  # the traceback precedes the error line, for the logs


def test_request_from_file_and_from_argv(worker_script, tmp_path):
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"mode": "ok"}))
    proc = _run(worker_script, CLOUDPHOT_REQUEST_FILE=str(req))
    assert proc.returncode == 0, proc.stderr
    proc = _run(
        worker_script,
        {"mode": "data"},
        args=["--request", json.dumps({"mode": "ok"}), "--job-id", "j7"],
    )
    assert proc.returncode == 0, proc.stderr  # the command line wins over the environment
    assert '"job_id": "j7"' in proc.stdout


@pytest.mark.parametrize(
    "env, args, cause",
    [
        ({}, (), "no job request"),
        ({"CLOUDPHOT_REQUEST": "{bad"}, (), "CLOUDPHOT_REQUEST: not JSON"),
        ({"CLOUDPHOT_REQUEST": "[1]"}, (), "must be a JSON object, got list"),
        ({"CLOUDPHOT_REQUEST_FILE": "/nonexistent/req.json"}, (), "cannot read the job request"),
        ({}, ("--frobnicate",), "unexpected arguments"),
    ],
)
def test_bad_requests_are_data_errors(worker_script, env, args, cause):
    proc = _run(worker_script, args=args, **env)
    assert proc.returncode == 3
    err = _error(proc.stderr)
    assert err["error"] == "DataError" and cause in err["cause"]


def _start(script: Path, mode: str, **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=_env(CLOUDPHOT_REQUEST=json.dumps({"mode": mode}), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "READY"
    return proc


@pytest.mark.parametrize("mode", ["sleep", "poll", "convert"])
def test_sigterm_stops_the_worker_with_spot_interrupted(worker_script, mode):
    proc = _start(worker_script, mode)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)  # the job would otherwise run 60 s
    assert proc.returncode == 143, err
    error = _error(err)
    assert error["error"] == "SpotInterrupted"
    if mode == "convert":
        assert "then failed with DataError: half-written output" in error["cause"]
    assert RESULT_PREFIX not in out


def test_watchdog_ends_a_job_that_ignores_sigterm(worker_script):
    proc = _start(worker_script, "swallow", GRACE="1")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 143
    error = _error(err)
    assert error["error"] == "SpotInterrupted" and "did not stop within 1 s" in error["cause"]


# ------------------------------------------------------------------ in-process pieces


def test_exit_codes_and_names_by_class():
    assert exit_code_for(InvalidExposure("x.fits", "no SCI")) == 3
    assert exit_code_for(Throttled("slow")) == 75
    assert exit_code_for(SpotInterrupted("term")) == 143
    assert exit_code_for(MemoryError()) == 137
    assert exit_code_for(KeyError("k")) == 1
    assert error_name_for(InvalidExposure("x.fits", "no SCI")) == "InvalidExposure"
    assert error_name_for(MemoryError()) == "OutOfMemory"


def test_read_request_precedence():
    env = {"CLOUDPHOT_REQUEST": '{"a": 1}', "CLOUDPHOT_JOB_ID": "j1"}
    assert read_request([], env) == {"a": 1, "job_id": "j1"}
    assert read_request(["--request", '{"a": 2, "job_id": "mine"}'], env) == {
        "a": 2,
        "job_id": "mine",
    }
    with pytest.raises(DataError, match="no job request"):
        read_request([], {})
