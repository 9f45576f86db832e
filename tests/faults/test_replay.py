"""Replay as a branch: changed options, new jobs, own products; the original is untouched."""

import pytest

from cloudphot.errors import ConfigError
from cloudphot.events import JobState
from cloudphot.events.replay import parse_settings, replay
from cloudphot.products import keys

from .conftest import make_runtime, upload_field

pytestmark = pytest.mark.slow


def test_replay_reduces_the_field_again_as_a_branch_without_touching_the_original(
    tiny_field, tmp_path
):
    rt = make_runtime(tmp_path)
    upload_field(rt, tiny_field)
    rt.run()
    products = rt.settings.buckets_dir / rt.settings.bucket("products")
    original = (products / keys.field_catalog(tiny_field.field_id)).read_bytes()
    events_before = {e.event_id for e in rt.store.events()}
    (ready,) = [e for e in rt.store.events() if e.type == "field.ready"]
    (orig_job,) = [j for j in rt.store.jobs() if j.task == "reduce_field"]

    settings = parse_settings(["photometry.detect_threshold_sigma=6"])
    (job,) = replay(rt.store, rt.ensure_registry(), ready.event_id, settings, branch="strict")
    assert job.branch == "strict" and job.input["replay_of"] == orig_job.job_id
    assert job.input["options"]["photometry"]["detect_threshold_sigma"] == 6
    rt.run()
    assert rt.store.job(job.job_id).state is JobState.SUCCEEDED
    branch_catalog = products / keys.field_catalog(tiny_field.field_id, "strict")
    assert branch_catalog.exists() and branch_catalog.read_bytes() != original
    assert (products / keys.field_catalog(tiny_field.field_id)).read_bytes() == original
    # the branch's field.reduced is recorded but publishes no catalog version
    new = [e for e in rt.store.events() if e.event_id not in events_before]
    assert [e.type for e in new] == ["field.reduced"] and new[0].payload["branch"] == "strict"
    assert not [j for j in rt.store.jobs_for_event(new[0].event_id)]
    # replaying the same branch again is a no-op
    again = replay(rt.store, rt.ensure_registry(), ready.event_id, settings, branch="strict")
    assert [j.job_id for j in again] == [job.job_id] and rt.run().jobs == {}
    rt.close()


def test_only_branchable_tasks_can_be_replayed(tiny_field, tmp_path):
    rt = make_runtime(tmp_path)
    upload_field(rt, tiny_field)
    rt.run()
    upload = next(
        e for e in rt.store.events() if e.type == "object.created" and e.subject.endswith(".fits")
    )
    with pytest.raises(ConfigError, match="replayable tasks: reduce_field"):
        replay(rt.store, rt.ensure_registry(), upload.event_id, {})
    with pytest.raises(ConfigError, match="option=value"):
        parse_settings(["no-equals-sign"])
    rt.close()
