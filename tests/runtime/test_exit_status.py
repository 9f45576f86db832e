"""Exit status tells the truth (issue 14.6): upload, run and retry exit 1, with the count,
when a job they ran failed or an event was set aside; --expect-rejections lets rejected
uploads through (the demo uploads a truncated file on purpose)."""

from __future__ import annotations

import json

import pytest

from cloudphot.cli import main
from cloudphot.commands.pipeline import REJECTION_ERRORS


@pytest.fixture
def files(tmp_path):
    from cloudphot.simulate.exposure import synthetic_exposure

    src = tmp_path / "in"
    src.mkdir()
    good = synthetic_exposure(src, rootname="jexit01q", shape=(32, 32), nstars=5)
    bad = src / "jexit02q_flc.fits"
    bad.write_bytes(good.read_bytes()[:5000])
    return good, bad


def _cli(capsys, home, *argv) -> tuple[int, str]:
    code = main(["--workdir", str(home), *argv])
    return code, " ".join(capsys.readouterr().out.split())


def test_upload_exits_1_when_a_file_is_rejected_unless_that_is_expected(tmp_path, files, capsys):
    good, bad = files
    home = tmp_path / "ws"
    assert _cli(capsys, home, "init")[0] == 0
    code, out = _cli(capsys, home, "upload", str(good))
    assert code == 0, out
    code, out = _cli(capsys, home, "upload", str(bad))
    assert code == 1 and "1 job(s) failed, 1 of them rejected upload(s)" in out
    assert "--expect-rejections" in out
    # the same rejection, rerun, with the flag: exit 0
    (event,) = [
        e["event_id"]
        for e in _events(home)
        if e["type"] == "object.created" and e["subject"] == bad.name
    ]
    code, out = _cli(capsys, home, "retry", event, "--expect-rejections")
    assert code == 0, out
    code, out = _cli(capsys, home, "retry", event)
    assert code == 1 and "1 job(s) failed" in out


def test_run_exits_1_when_an_event_is_set_aside(tmp_path, files, capsys):
    home = tmp_path / "ws"
    _cli(capsys, home, "init")
    tables = _platform(home).tables
    tables.put(
        "events",
        {
            "event_id": "obj-poison",
            "type": "object.created",
            "subject": "?",
            "payload": json.dumps({"bucket": "raw", "bucket_role": "raw"}),
            "created_at": "2026-01-01T00:00:00.000Z",
        },
    )
    code, out = _cli(capsys, home, "run")
    assert code == 1 and "1 event(s) set aside as dead letters" in out
    code, out = _cli(capsys, home, "run")  # nothing new happened
    assert code == 0, out
    code, out = _cli(capsys, home, "retry", "obj-poison")  # set aside again
    assert code == 1 and "set aside again" in out


def _platform(home):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    return LocalPlatform(Settings.from_env(home=home, backend="local", env={}))


def _events(home):
    return list(_platform(home).tables.scan("events"))


def test_rejection_errors_are_what_the_ingest_state_machine_rejects(project_root):
    machine = json.loads((project_root / "statemachines/ingest_exposure.asl.json").read_text())
    states = machine["States"]
    caught = {
        name
        for c in states["ReadExposure"]["Catch"]
        if c["Next"] == "RecordRejection"
        for name in c["ErrorEquals"]
    }
    caught.add(states["ClaimedMeanwhile"]["Parameters"]["Error"])
    assert caught == REJECTION_ERRORS


def test_an_upload_whose_event_cannot_be_recorded_names_the_cause(
    tmp_path, files, capsys, monkeypatch
):
    """A read-only tables file (the issue's attack): the upload used to end in a
    traceback of LambdaError; now it exits 2 naming the object, the table and the way
    back, and once the tables are writable, reconcile records the missing event."""
    import sqlite3

    from cloudphot.runtime.sqlite_tables import SQLiteTables

    good, _bad = files
    home = tmp_path / "ws"
    assert _cli(capsys, home, "init")[0] == 0
    real = SQLiteTables._write

    def read_only(self, conn, table, item, *, replace):
        if table == "events":
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(self, conn, table, item, replace=replace)

    monkeypatch.setattr(SQLiteTables, "_write", read_only)
    code = main(["--workdir", str(home), "upload", str(good)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert f"s3://raw/{good.name} is stored, but OnObjectFunction could not record its event" in err
    assert "StorageError: cannot put into table 'events'" in err and "readonly database" in err
    assert "'cloudphot reconcile'" in err and "Traceback" not in err
    monkeypatch.undo()
    assert _cli(capsys, home, "reconcile")[0] == 0
    assert _cli(capsys, home, "run")[0] == 0
    assert [r["exposure_id"] for r in _platform(home).tables.scan("exposures")] == ["jexit01q"]
