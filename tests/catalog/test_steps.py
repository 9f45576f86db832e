"""The build_catalog state machine definition, its Fargate task and its lock."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from cloudphot.catalog.steps import handle
from cloudphot.errors import InvalidEvent

from .conftest import make_workspace

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "build_catalog.asl.json"


def test_every_task_has_retry_and_catch():
    sm = json.loads(ASL.read_text())
    tasks = {n: s for n, s in sm["States"].items() if s["Type"] == "Task"}
    assert len(tasks) >= 3
    for name, s in tasks.items():
        assert s.get("Retry") and s.get("Catch"), name
        for c in s["Catch"]:
            assert c["Next"] in sm["States"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert placeholders == {
        "CatalogLockFunctionArn",
        "PhotometryClusterArn",
        "CatalogTaskDefinitionArn",
        "WorkerSubnetA",
        "WorkerSubnetB",
        "WorkerSecurityGroup",
        "ProductsBucketName",
        "EventsTableName",
    }
    # every path to the end releases the lock it took
    assert sm["States"]["BuildCatalog"]["Catch"][0]["Next"] == "ReleaseAfterFailure"
    assert sm["States"]["ReadResult"]["Next"] == "ReleaseLock"


def test_concurrent_builds_take_turns_through_the_lock(tmp_path):
    """Two field.reduced events at once, through the local runtime: the build task runs as
    an ECS task (a subprocess of ecs_tasks/catalog/entrypoint.py), the second build waits
    in AcquireLock's Retry, and the survey gets versions 1 and 2 (without the lock both
    would read version 0 and write version 1)."""
    import time

    from cloudphot.catalog.build import latest_version
    from cloudphot.catalog.steps import result_key
    from cloudphot.events import Event, JobState
    from cloudphot.runtime.local import LocalRuntime

    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.02, epochs_per_filter=2
    )
    rt = LocalRuntime(settings, max_workers=2, sleep=lambda s: time.sleep(min(s, 0.5)))
    try:
        rt.register()
        for f in survey.fields[:2]:
            rt.store.record(
                Event(
                    event_id=f"reduce.{f.field_id}.field.reduced",
                    type="field.reduced",
                    subject=f.field_id,
                    payload={"field_id": f.field_id},
                    source="test",
                )
            )
        summary = rt.run()
        builds = [j for j in rt.store.jobs() if j.task == "build_catalog"]
        assert [j.state for j in builds] == [JobState.SUCCEEDED] * 2, summary.failed
        assert rt.ecs.stats["started"] == 2  # the builds ran as tasks, not Lambdas
        assert latest_version(cat.store, cat.bucket, settings.survey) == 2
        published = sorted(e.subject for e in rt.store.events() if e.type == "catalog.published")
        assert published == [f"{settings.survey}/v1", f"{settings.survey}/v2"]
        for job in builds:
            result = json.loads(cat.store.get_bytes(cat.bucket, result_key(job.job_id)))
            assert result["changed"] and result["fits"], result
        assert rt.tables.get("locks", f"build_catalog/{settings.survey}")["holder"] == ""
    finally:
        rt.close()


def test_catalog_task_refuses_a_job_id_that_is_no_key(tmp_path):
    from cloudphot.catalog.steps import catalog_task

    settings, cat, _ = make_workspace(tmp_path, n_fields_ra=1, density_per_arcsec2=0.01)
    svc = SimpleNamespace(settings=settings, objects=cat.store)
    for bad in ("../../catalogs/x", "", "a/b"):
        with pytest.raises(InvalidEvent, match="job_id"):
            catalog_task({"job_id": bad, "payload": {}}, svc)


def test_step_builds_from_a_field_reduced_event(tmp_path):
    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.02, epochs_per_filter=3
    )
    svc = SimpleNamespace(settings=settings, objects=cat.store)
    first = survey.fields[0].field_id
    out = handle(
        {"job_id": "j1", "event": {"type": "field.reduced", "payload": {"field_id": first}}}, svc
    )
    assert out["changed"] and out["version"] == 1 and out["fields_added"] == [first]
    json.dumps(out)  # a Lambda result must serialise
    again = handle({"job_id": "j2", "event": {"payload": {"field_id": first}}}, svc)
    assert not again["changed"] and again["version"] == 1
    out = handle({"action": "build"}, svc)  # all fields
    assert out["version"] == 2 and out["fields_added"] == [survey.fields[1].field_id]
    keys = handle({"action": "export_fits", "version": 2}, svc)["keys"]
    assert all(cat.store.exists(cat.bucket, k) for k in keys)
    for bad in (
        {"event": {"payload": {"field_id": "../x/y"}}},
        {"action": "drop"},
        {"field_ids": "b15_f01"},
    ):
        with pytest.raises(InvalidEvent):
            handle(bad, svc)


def test_step_partitions_at_the_deployed_order(tmp_path):
    """The Lambda's CLOUDPHOT_CATALOG_PARTITION_ORDER (template: CatalogPartitionOrder, the
    order Athena projects) decides a new survey's partitioning; later builds keep it."""
    import dataclasses

    from cloudphot.catalog.build import read_manifest
    from cloudphot.errors import ConfigError
    from cloudphot.settings import Settings

    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.02, epochs_per_filter=2
    )
    assert (
        Settings.from_env(env={"CLOUDPHOT_CATALOG_PARTITION_ORDER": "11"}).catalog_partition_order
        == 11
    )
    for bad in ("eight", "-1", "30"):
        with pytest.raises(ConfigError, match="CLOUDPHOT_CATALOG_PARTITION_ORDER"):
            Settings.from_env(env={"CLOUDPHOT_CATALOG_PARTITION_ORDER": bad})
    svc = SimpleNamespace(
        settings=dataclasses.replace(settings, catalog_partition_order=11), objects=cat.store
    )
    handle({"event": {"payload": {"field_id": survey.fields[0].field_id}}}, svc)
    assert read_manifest(cat.store, cat.bucket, "phat_v2")["partition_order"] == 11
    svc.settings = dataclasses.replace(settings, catalog_partition_order=9)
    handle({"action": "build"}, svc)
    m = read_manifest(cat.store, cat.bucket, "phat_v2")
    assert m["version"] == 2 and m["partition_order"] == 11
    assert all("Norder=11/" in e["key"] for e in m["tables"]["phot_mod"]["partitions"].values())
