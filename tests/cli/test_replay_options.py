"""Issue 18 item 4: ``replay --set`` is checked against the options' schema before anything
is stored; the message names the option and lists the valid ones."""

from __future__ import annotations

import pytest

from .conftest import no_traceback

READY = "field.ready-cli-field-0123456789abcdef"


@pytest.fixture
def ready_event(cli, ws):
    """A workspace holding one dispatched field.ready (what replay branches from)."""
    from cloudphot.events import Event
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.settings import Settings

    assert cli("init").rc == 0
    rt = LocalRuntime(Settings.from_env(home=ws, backend="local", env={}))
    rt.register()
    event = Event(
        event_id=READY,
        type="field.ready",
        subject="cli-field",
        source="test",
        payload={"field_id": "cli-field", "n_exposures": 0, "options": {}},
    )
    assert rt.store.record(event)
    rt.store.mark_dispatched(READY)
    yield rt
    rt.close()


def _no_jobs(rt) -> None:
    assert rt.store.jobs() == []


BAD = [
    ("photometry.detect_threshold_sigmaa=5", "unknown option(s) detect_threshold_sigmaa"),
    ("photometry.detect_threshold_sigma=abc", "detect_threshold_sigma: 'abc' is not a number"),
    ("photometry.recenter_iterations=1.5", "recenter_iterations: 1.5 is not an integer"),
    ("photometry.align_mode=affine", "align_mode must be 'shift' or 'shift+rotation'"),
    ("engine=magic", "engine: 'magic' is not one of auto, dolphot, builtin"),
    ("photometri.snr_min=3", "unknown option 'photometri'; reduce_field's options are"),
]


def test_a_bad_option_is_refused_before_anything_is_stored(cli, ready_event):
    for setting, message in BAD:  # one workspace for all: each refusal leaves it as it was
        ran = cli("replay", READY, "--set", setting, "--no-run")
        assert ran.rc == 2, ran
        assert "nothing replayed" in ran.err and message in ran.err, ran
        if "unknown option(s)" in message:
            # the valid names are listed
            assert all(n in ran.err for n in ("detect_threshold_sigma", "detect_residual_pass"))
        no_traceback(ran)
        _no_jobs(ready_event)


def test_a_good_option_makes_a_branch(cli, ready_event):
    ran = cli("replay", READY, "--set", "photometry.detect_threshold_sigma=6", "--no-run")
    assert ran.rc == 0, ran
    assert "branch b-" in ran.out
    (job,) = ready_event.store.jobs()
    assert job.input["options"]["photometry"] == {"detect_threshold_sigma": 6}


def test_replaying_an_upload_names_the_event_below_it_that_can_be_replayed(cli, ready_event):
    """The user replays what 'tree' shows first, the manifest's upload; only reduce_field
    (on the field.ready it led to) makes a branch: the message gives that command."""
    from cloudphot.events import Event, Job

    rt = ready_event
    upload = Event(
        event_id="obj-0123456789abcdef0123",
        type="object.created",
        subject="manifests/cli-field.json",
        source="s3",
        payload={
            "bucket": "raw",
            "bucket_role": "raw",
            "key": "manifests/cli-field.json",
            "etag": "0" * 32,
            "size": 60,
        },
    )
    assert rt.store.record(upload)
    rt.store.mark_dispatched(upload.event_id)
    job = Job(
        job_id="check_field_manifest-0123456789abcdef",
        event_id=upload.event_id,
        task="check_field_manifest",
        executor={},
        input={},
    )
    assert rt.store.create_job(job)
    ready = rt.store.event(READY)
    ready.source = job.job_id
    rt.store.tables.put("events", ready.to_item())
    ran = cli("replay", upload.event_id, "--set", "photometry.snr_min=3", "--no-run")
    assert ran.rc == 2, ran
    assert "cannot replay check_field_manifest as a branch" in ran.err
    assert f"replay the event below it that starts one: cloudphot replay {READY}" in ran.err, ran
