"""One bad event never blocks the local dispatcher (issue 14.4).

The issue's case: a stored ``object.created`` without ``payload.key`` made every later
``upload`` and ``run`` fail with StatesError, leaving good work pending. Now it is set
aside in the dead-letter table, shown by ``status`` and the monitor, and ``cloudphot
retry`` takes it back.
"""

from __future__ import annotations

import json

import pytest

from cloudphot.cli import main
from cloudphot.events import JobState


@pytest.fixture
def good(tmp_path):
    from cloudphot.simulate.exposure import synthetic_exposure

    (tmp_path / "in").mkdir()
    return synthetic_exposure(tmp_path / "in", rootname="jgood01q", shape=(32, 32), nstars=5)


def _poison(runtime, event_id="obj-poison", **payload):
    """An object.created as it could reach the events table: no key in its payload."""
    payload = {"bucket": runtime.settings.bucket("raw"), "bucket_role": "raw", **payload}
    runtime.tables.put(
        "events",
        {
            "event_id": event_id,
            "type": "object.created",
            "subject": "?",
            "payload": json.dumps(payload),
            "source": "s3",
            "created_at": "2026-01-01T00:00:00.000Z",
        },
    )
    return event_id


def test_a_poison_event_is_set_aside_and_good_work_proceeds(runtime, good, tmp_path):
    from cloudphot.simulate.exposure import synthetic_exposure

    poison = _poison(runtime)
    runtime.upload([good])
    summary = runtime.run()
    assert summary.jobs == {"SUCCEEDED": 2}  # the good upload was ingested (+ check_field)
    (letter,) = runtime.store.dead_letters()
    assert letter["event_id"] == poison and letter["attempts"] == 1
    assert letter["error"].startswith("States.") and "$.payload.key" in letter["cause"]
    assert not runtime.store.undispatched()  # nothing left waiting behind it
    # later runs are not blocked either, and the poison is not retried by itself
    (tmp_path / "more").mkdir()
    runtime.upload([synthetic_exposure(tmp_path / "more", rootname="jgood02q", shape=(32, 32))])
    assert runtime.run().jobs == {"SUCCEEDED": 2}
    assert runtime.store.dead_letters()[0]["attempts"] == 1


def test_an_event_item_that_does_not_parse_is_set_aside(runtime, good):
    runtime.tables.put(
        "events",
        {
            "event_id": "obj-garbled",
            "type": "object.created",
            "payload": "{not json",
            "created_at": "2026-01-01T00:00:00.000Z",
        },
    )
    runtime.upload([good])
    assert runtime.run().jobs == {"SUCCEEDED": 2}
    (letter,) = runtime.store.dead_letters()
    assert letter["error"] == "InvalidEvent" and "payload is not JSON" in letter["cause"]
    # views skip it instead of failing on it
    assert all(e.event_id != "obj-garbled" for e in runtime.store.events())


def test_status_and_the_monitor_show_dead_letters_and_retry_takes_one_back(runtime, good, capsys):
    from cloudphot.commands.pipeline import status_report
    from cloudphot.monitor.web import MonitorApp
    from cloudphot.runtime.platform import LocalPlatform

    poison = _poison(runtime)
    runtime.run()
    home = ["--workdir", str(runtime.settings.home)]
    assert main([*home, "status"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "DEAD LETTER" in out and poison in out and f"retry {poison}" in out
    platform = LocalPlatform(runtime.settings)
    assert [d["event_id"] for d in status_report(platform)["dead_letters"]] == [poison]
    app = MonitorApp(platform)
    for route in ("/api/status", "/api/tree"):
        status, _, body = app.handle("GET", route)
        assert status == 200 and json.loads(body)["dead_letters"][0]["event_id"] == poison

    # taken back unchanged, it is set aside again (attempt 2) ...
    main([*home, "retry", poison])
    assert "set aside again" in " ".join(capsys.readouterr().out.split())
    assert runtime.store.dead_letters()[0]["attempts"] == 2
    # ... and once its cause is fixed (here: the payload mended), it runs
    item = runtime.tables.get("events", poison)
    payload = json.loads(item["payload"])
    runtime.objects.put_file(payload["bucket"], good.name, good)  # its object, now there
    runtime.tables.update(
        "events", poison, {"payload": json.dumps({**payload, "key": good.name, "etag": ""})}
    )
    main([*home, "retry", "--dead-letters"])
    assert not runtime.store.dead_letters()
    jobs = runtime.store.jobs_for_event(poison)
    assert [j.task for j in jobs] == ["ingest_exposure"] and jobs[0].state is JobState.SUCCEEDED
