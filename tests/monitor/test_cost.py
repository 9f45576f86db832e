"""The cost ledger: prices, usage from execution histories, sums, estimates, budget."""

from __future__ import annotations

import argparse
import json

import pytest

from cloudphot.errors import ConfigError
from cloudphot.events import Event, Job, JobState
from cloudphot.monitor.cost import (
    DEFAULT_PRICES,
    BudgetExceeded,
    check_budget,
    estimate_run,
    execution_usage,
    job_cost,
    load_prices,
    workspace_ledger,
)

TEMPLATE = {
    "Globals": {"Function": {"MemorySize": 256, "Architectures": ["x86_64"]}},
    "Resources": {
        "ReadFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"MemorySize": 2048, "EphemeralStorage": {"Size": 1536}},
        },
        "SmallFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "PhotTask": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {"Cpu": "4096", "Memory": "16384", "EphemeralStorage": {"SizeInGiB": 50}},
        },
    },
}


def _ev(i, prev, typ, t, **details):
    ev = {
        "id": i,
        "previousEventId": prev,
        "type": typ,
        "timestamp": f"2026-01-01 00:{t // 60:02d}:{t % 60:02d}.000000+00:00",
    }
    ev.update(details)
    return ev


def _task(i, prev, t0, t1, rtype, params, ok=True, name="S"):
    """StateEntered, TaskScheduled, TaskStarted, TaskSucceeded/Failed, StateExited."""
    end = "TaskSucceeded" if ok else "TaskFailed"
    return [
        _ev(i, prev, "TaskStateEntered", t0, stateEnteredEventDetails={"name": name}),
        _ev(
            i + 1,
            i,
            "TaskScheduled",
            t0,
            taskScheduledEventDetails={
                "resourceType": rtype,
                "resource": "invoke" if rtype == "lambda" else "runTask.sync",
                "parameters": json.dumps(params),
            },
        ),
        _ev(i + 2, i + 1, "TaskStarted", t0),
        _ev(i + 3, i + 2, end, t1),
        _ev(i + 4, i + 3, "TaskStateExited", t1, stateExitedEventDetails={"name": name}),
    ]


def test_lambda_and_fargate_usage_from_a_history():
    h = [_ev(1, 0, "ExecutionStarted", 0)]
    h += _task(
        2, 1, 0, 3, "lambda", {"FunctionName": "arn:aws:lambda:local:0:function:ReadFunction"}
    )
    h += _task(
        7,
        6,
        3,
        123,
        "ecs",
        {
            "TaskDefinition": "arn:aws:ecs:local:0:task-definition/PhotTask:1",
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT"}],
        },
        name="Phot",
    )
    h += _task(
        12,
        11,
        123,
        133,
        "ecs",
        {"TaskDefinition": "PhotTask", "LaunchType": "FARGATE"},
        name="Again",
    )
    u = execution_usage(h, TEMPLATE)
    assert u.lambda_requests == 1
    assert u.lambda_gb_seconds == pytest.approx(3.0 * 2.0)  # 3 s at 2048 MB
    assert u.lambda_storage_gb_seconds == pytest.approx(3.0 * 1.0)  # 1.5 GB - 0.5 free
    assert u.fargate_spot_vcpu_hours == pytest.approx(4 * 120 / 3600)
    assert u.fargate_spot_gb_hours == pytest.approx(16 * 120 / 3600)
    # a 10 s on-demand task is billed the 1-minute minimum
    assert u.fargate_vcpu_hours == pytest.approx(4 * 60 / 3600)
    assert u.fargate_spot_storage_gb_hours == pytest.approx(30 * 120 / 3600)
    assert u.fargate_storage_gb_hours == pytest.approx(30 * 60 / 3600)
    assert u.transitions == 3 and u.fargate_tasks == 2
    usd = u.usd(DEFAULT_PRICES)
    assert usd["fargate_spot"] == pytest.approx(
        (4 * 0.01268028 + 16 * 0.00139225 + 30 * 0.000111) * 120 / 3600
    )
    assert usd["stepfunctions"] == pytest.approx(3 * 0.000025)


def test_retries_are_transitions_and_failed_attempts_are_billed():
    h = [_ev(1, 0, "ExecutionStarted", 0)]
    fn = {"FunctionName": "SmallFunction"}
    h += _task(2, 1, 0, 1, "lambda", fn, ok=False)[:4]  # entered, attempt 1 fails
    h += [
        _ev(
            6,
            5,
            "TaskScheduled",
            2,
            taskScheduledEventDetails={
                "resourceType": "lambda",
                "resource": "invoke",
                "parameters": json.dumps(fn),
            },
        ),
        _ev(7, 6, "TaskStarted", 2),
        _ev(8, 7, "TaskSucceeded", 4),
    ]
    u = execution_usage(h, TEMPLATE)
    assert u.transitions == 2  # one state entered + one retry
    assert u.lambda_requests == 2
    assert u.lambda_gb_seconds == pytest.approx((1 + 2) * 0.25)  # Globals MemorySize 256


def test_job_cost_adds_attempts_workers_cpu_and_storage_requests():
    event = Event(
        "e1",
        "field.ready",
        "m31-f01",
        {"field_id": "m31-f01", "bucket": "raw", "key": "m31-f01/manifest.json"},
    )
    job = Job(
        "reduce_field-1",
        "e1",
        "reduce_field",
        {},
        {},
        state=JobState.SUCCEEDED,
        attempts=2,
        output={"bucket": "products", "catalog_key": "m31-f01/phot.parquet"},
        transitions=[
            {"state": s} for s in ("RUNNING", "FAILED", "PENDING", "RUNNING", "SUCCEEDED")
        ],
        ran_on={
            "cpu_seconds": 1.5,
            "workers": [
                {"capacity_provider": "FARGATE_SPOT", "cpu_seconds": 100.0},
                {"capacity_provider": "FARGATE_SPOT"},
            ],
        },
    )
    h = [_ev(1, 0, "ExecutionStarted", 0)] + _task(
        2, 1, 0, 1, "lambda", {"FunctionName": "SmallFunction"}
    )
    c = job_cost(job, event, [h, h], TEMPLATE, DEFAULT_PRICES)
    assert c.field == "m31-f01" and c.usage.lambda_requests == 2
    assert c.usage.cpu_seconds == 1.5 and c.usage.worker_cpu_seconds == 100.0
    assert c.usage.s3_get == 2 and c.usage.s3_put == 1  # the manifest read twice, catalog written
    assert c.usage.dynamodb_writes == 6
    assert c.total == pytest.approx(sum(c.usd.values())) and c.total > 0


def test_prices_from_files_and_environment(tmp_path):
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"fargate_spot_vcpu_hour": 0.02}))
    t = tmp_path / "p.toml"
    t.write_text("[prices]\nlambda_request = 0.0000004\n")
    assert load_prices(j, env={})["fargate_spot_vcpu_hour"] == 0.02
    prices = load_prices(
        env={"CLOUDPHOT_PRICES": str(t), "CLOUDPHOT_PRICE_SFN_TRANSITION": "0.001"}
    )
    assert prices["lambda_request"] == 0.0000004 and prices["sfn_transition"] == 0.001
    assert load_prices(env={})["lambda_gb_second"] == DEFAULT_PRICES["lambda_gb_second"]
    for bad, match in (
        ({"nope": 1}, "unknown price"),
        ({"s3_get_request": -1}, ">= 0"),
        ({"s3_get_request": "cheap"}, "not a number"),
    ):
        j.write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=match):
            load_prices(j, env={})
    j.write_text("{not json")
    with pytest.raises(ConfigError, match="p.json"):
        load_prices(j, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_prices(tmp_path / "missing.toml", env={})


def test_budget():
    check_budget(1.0, None)
    check_budget(1.0, 1.0)
    with pytest.raises(BudgetExceeded, match="over the budget"):
        check_budget(1.01, 1.0)


# ---------------------------------------------------------------- on a real workspace
@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.settings import Settings
    from cloudphot.simulate.exposure import synthetic_exposure

    mp = pytest.MonkeyPatch()  # module scope runs outside tests/conftest.py's env fixture
    for k in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED"):
        mp.setenv(k, "true")
    mp.setenv("POWERTOOLS_METRICS_NAMESPACE", "cloudphot")
    base = tmp_path_factory.mktemp("cost")
    rt = LocalRuntime(
        Settings.from_env(home=base / "ws", backend="local", env={}), sleep=lambda s: None
    )
    src = base / "in"
    src.mkdir()
    good = [
        synthetic_exposure(
            src / f"jcst0{i}q_flc.fits", rootname=f"jcst0{i}q", shape=(64, 64), nstars=8, seed=i
        )
        for i in range(2)
    ]
    bad = src / "jcstbadq_flc.fits"
    bad.write_bytes(good[0].read_bytes()[:20000])
    rt.upload([*good, bad])
    rt.run()
    yield rt, src
    rt.close()
    mp.undo()


def test_workspace_ledger_sums_by_task_field_and_service(ws):
    rt, src = ws
    ledger = workspace_ledger(rt, DEFAULT_PRICES)
    assert len(ledger.jobs) == 5 and ledger.exposures == 3
    assert ledger.input_bytes == sum(p.stat().st_size for p in src.iterdir())
    by_task = ledger.by("task")
    assert set(by_task) == {"ingest_exposure", "check_field"}
    assert by_task["ingest_exposure"]["jobs"] == 3
    jobs_usd = sum(j.total for j in ledger.jobs)
    assert sum(g["usd"] for g in by_task.values()) == pytest.approx(jobs_usd)
    assert sum(g["usd"] for g in ledger.by("field").values()) == pytest.approx(jobs_usd)
    fields = ledger.by("field")
    field_id = rt.store.jobs(JobState.SUCCEEDED)[0].output["field_id"]
    assert fields[field_id]["jobs"] == 4 and fields["-"]["jobs"] == 1  # the rejected file
    assert ledger.total == pytest.approx(
        jobs_usd + sum(ledger.platform.usd(DEFAULT_PRICES).values())
    )
    for j in ledger.jobs:  # every job ran through Step Functions and at least one Lambda
        assert j.usage.transitions >= 1 and j.usage.lambda_requests >= 1
    doc = ledger.to_dict()
    assert doc["total_usd"] == pytest.approx(ledger.total, abs=1e-9)
    json.dumps(doc)


def test_estimate_from_past_runs_and_a_priori(ws, tmp_path):
    rt, _src = ws
    ledger = workspace_ledger(rt, DEFAULT_PRICES)
    new = tmp_path / "new"
    (new / "sub").mkdir(parents=True)
    for i in range(6):
        (new / "sub" / f"x{i}_flc.fits").write_bytes(b"\0" * 2880 * 10)
    (new / "notes.txt").write_text("not an exposure")
    (new / "truth.fits").write_bytes(b"\0" * 2880)  # a simulator's truth: upload skips it
    est = estimate_run(new, ledger, DEFAULT_PRICES)
    assert est.files == 6 and est.bytes == 6 * 28800
    assert est.per_exposure_usd == pytest.approx(ledger.total / ledger.exposures)
    assert est.usd == pytest.approx(6 * ledger.total / ledger.exposures)
    assert est.by_size_usd == pytest.approx(ledger.total / ledger.input_bytes * est.bytes)
    assert "past runs" in est.basis
    prior = estimate_run(new, None, DEFAULT_PRICES)
    assert "a priori" in prior.basis and prior.usd > 0 and set(prior.by_task) >= {"reduce_field"}
    with pytest.raises(ConfigError, match="not a directory"):
        estimate_run(tmp_path / "missing", ledger, DEFAULT_PRICES)


def _cli(argv):
    from cloudphot.cli import build_parser
    from cloudphot.commands import cost as cost_cmd

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "cost" not in sub.choices:
        cost_cmd.add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cost_command_json_and_budget_exit_status(ws, capsys):
    rt, src = ws
    home = str(rt.settings.home)
    assert _cli(["-w", home, "cost", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["over_budget"] is None and set(doc["by_task"]) == {"ingest_exposure", "check_field"}
    assert _cli(["-w", home, "cost", "--estimate", str(src), "--budget", "0", "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"] == 3 and "over the budget" in doc["over_budget"]
    assert _cli(["-w", home, "cost", "--jobs"]) == 0
    out = capsys.readouterr().out
    assert "workspace total" in out and "ingest_exposure" in out
    # an estimate needs no workspace (and does not create one)
    nowhere = rt.settings.home.parent / "no-workspace"
    assert _cli(["-w", str(nowhere), "cost", "--estimate", str(src), "--json"]) == 0
    assert "a priori" in json.loads(capsys.readouterr().out)["basis"] and not nowhere.exists()


def test_objects_touched_products_are_written_even_when_read_again():
    from cloudphot.monitor.cost import objects_touched

    event = Event("e1", "object.created", "a_flc.fits", {"bucket": "raw", "key": "a_flc.fits"})
    job = Job(
        "j", "e1", "reduce", {}, {}, output={"bucket": "products", "catalog_key": "f/cat.fits"}
    )
    prep = {"bucket": "products", "key": "exposures/a/prep.fits"}
    h = [
        {
            "id": 1,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {
                "parameters": json.dumps({"bucket": "raw", "key": "a_flc.fits"})
            },
        },
        {
            "id": 2,
            "type": "TaskSucceeded",
            "taskSucceededEventDetails": {
                "output": json.dumps(
                    {"Payload": {**prep, "source": "s3://raw/a_flc.fits", "note": "s3://not a key"}}
                )
            },
        },
        {
            "id": 3,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {
                "parameters": json.dumps(
                    {"inputs": [prep], "bucket": "raw", "manifest_key": "m.json"}
                )
            },
        },
    ]
    got = {o["uri"]: o["access"] for o in objects_touched(event, job, h)}
    assert got == {
        "s3://raw/a_flc.fits": "read",
        "s3://raw/m.json": "read",
        "s3://products/exposures/a/prep.fits": "written",
        "s3://products/f/cat.fits": "written",
    }


def test_each_task_pays_its_public_ipv4_image_pull_and_logs(tmp_path):
    """Issue 17 item 13: what the ledger left out. A 2 h Spot task sized by the plan's
    overrides (2 vCPU / 14 GiB, not the task definition's 4 / 16), a catalog task whose
    size is a template parameter (a !Ref: the ledger raised TypeError on it)."""
    template = {
        **TEMPLATE,
        "Parameters": {
            "CatalogTaskCpu": {"Default": "2048"},
            "CatalogTaskMemory": {"Default": "16384"},
        },
        "Resources": {
            **TEMPLATE["Resources"],
            "CatalogTask": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Cpu": {"Ref": "CatalogTaskCpu"},
                    "Memory": {"Ref": "CatalogTaskMemory"},
                },
            },
        },
    }
    log = tmp_path / "task.log"
    log.write_bytes(b"x" * 2_000_000)
    h = [_ev(1, 0, "ExecutionStarted", 0)]
    h += _task(
        2,
        1,
        0,
        7200 % 3600,
        "ecs",
        {
            "TaskDefinition": "PhotTask",
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT"}],
            "Overrides": {"Cpu": "2048", "Memory": "14336"},
        },
    )
    h[-2]["timestamp"] = "2026-01-01 02:00:00.000000+00:00"  # two hours after scheduling
    h[-2]["taskSucceededEventDetails"] = {"output": json.dumps({"LogFile": str(log)})}
    h += _task(7, 6, 0, 0, "ecs", {"TaskDefinition": "CatalogTask"}, name="Build")
    u = execution_usage(h, template, image_pull_seconds=90)
    assert u.fargate_spot_vcpu_hours == pytest.approx(2 * 2)
    assert u.fargate_spot_gb_hours == pytest.approx(14 * 2)
    assert u.fargate_vcpu_hours == pytest.approx(2 * 60 / 3600)  # the catalog task's minimum
    assert u.public_ipv4_hours == pytest.approx(2 + 2 * 90 / 3600)
    assert u.image_pull_spot_vcpu_hours == pytest.approx(2 * 90 / 3600)
    assert u.image_pull_vcpu_hours == pytest.approx(2 * 90 / 3600)
    history_bytes = sum(len(json.dumps(e, default=str)) for e in h)
    assert u.log_gb == pytest.approx((2_000_000 + history_bytes) / 1e9)
    usd = u.usd(DEFAULT_PRICES)
    assert usd["public_ipv4"] == pytest.approx(u.public_ipv4_hours * 0.005)
    assert usd["logs"] == pytest.approx(u.log_gb * 0.50)
    assert usd["image_pull"] > 0


def test_a_phat_survey_with_every_item_and_versions_shared_or_copied():
    from cloudphot.monitor.budget import SURVEYS, survey_budget
    from cloudphot.monitor.cost import survey_cost

    budget = survey_budget(SURVEYS["phat"], DEFAULT_PRICES)
    shared = survey_cost(budget, DEFAULT_PRICES)
    copies = survey_cost(budget, DEFAULT_PRICES, shared_versions=False, keep_versions=None)
    for item in (
        "step_functions",
        "lambda",
        "fargate_spot (photometry)",
        "fargate (catalog builds)",
        "public_ipv4",
        "image_pull",
        "logs",
    ):
        assert shared.once[item] > 0, item
    assert set(shared.monthly) == {
        "s3 storage (raw)",
        "s3 storage (products)",
        "s3 storage (catalogs)",
        "athena scans",
    }
    # the figure: one full copy per field's version of a 0.3 TB catalog is
    # 60-70 TB (~$1,400/month); shared partitions, 10 kept: under a terabyte
    assert 55 < copies.stored_tb["catalogs"] < 70
    assert copies.monthly["s3 storage (catalogs)"] > 1_000
    assert shared.stored_tb["catalogs"] < 1.0
    assert shared.monthly_total < copies.monthly_total / 10
    # Athena: 10,000 queries of 0.2 GB = 2 TB scanned = $10
    assert shared.monthly["athena scans"] == pytest.approx(10.0)


def test_cost_survey_command(capsys):
    from cloudphot.cli import main

    assert main(["cost", "--survey", "brick", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["once_usd"]["public_ipv4"] > 0 and doc["monthly_usd"]["athena scans"] > 0
    assert main(["cost", "--survey", "brick", "--budget", "0.01"]) == 3
    assert main(["cost", "--survey", "brick", "--keep", "-1"]) == 2
    assert "--keep" in capsys.readouterr().err
