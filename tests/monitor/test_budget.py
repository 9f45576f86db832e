"""cloudphot plan: the survey budget from dry runs of the project's own state machines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudphot.errors import ConfigError
from cloudphot.monitor.budget import SURVEYS, SurveyShape, measure_machine, survey_budget
from cloudphot.monitor.cost import DEFAULT_PRICES

ROOT = Path(__file__).resolve().parents[2]


def test_a_brick_stays_far_inside_every_quota_and_scales_with_its_fields():
    brick = survey_budget(SURVEYS["brick"], DEFAULT_PRICES)
    assert brick.problems() == []
    assert brick.max_events < 100 and brick.largest_payload < 4096
    phat = survey_budget(SURVEYS["phat"], DEFAULT_PRICES)
    assert phat.transitions == brick.transitions * 23
    assert phat.spot_vcpu_hours == pytest.approx(brick.spot_vcpu_hours * 23)
    # one execution per exposure for ingest, one child per exposure for preprocessing
    rows = {r.task: r for r in brick.rows}
    assert rows["ingest_exposure"].executions == SURVEYS["brick"].exposures
    assert rows["reduce_field"].children == SURVEYS["brick"].exposures
    # artificial stars: one Distributed Map child per chunk (300 fakes in chunks of 150)
    assert rows["run_asts"].executions == 18 and rows["run_asts"].children == 18 * 2


def test_history_and_state_do_not_grow_with_a_fields_exposures():
    small = measure_machine("ReduceFieldStateMachine", SurveyShape("s", 1, 10))
    big = measure_machine("ReduceFieldStateMachine", SurveyShape("b", 1, 3000))
    assert small.status == big.status == "SUCCEEDED"
    assert small.events == big.events and big.children == 3000
    assert abs(big.largest_payload - small.largest_payload) < 64


def _project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "cloudphot" / "pipeline").mkdir(parents=True)
    shutil.copy(ROOT / "template.yaml", root / "template.yaml")
    shutil.copytree(ROOT / "statemachines", root / "statemachines")
    shutil.copy(
        ROOT / "src" / "cloudphot" / "pipeline" / "tasks.toml",
        root / "src" / "cloudphot" / "pipeline" / "tasks.toml",
    )
    return root


def test_an_inline_map_fails_the_plan_with_the_payload_quota(tmp_path):
    """The budget is the interpreter's: a machine that would break a quota on AWS fails."""
    root = _project_copy(tmp_path)
    path = root / "statemachines" / "reduce_field.asl.json"
    doc = json.loads(path.read_text())
    m = doc["States"]["PreprocessExposures"]
    for k in ("ItemReader", "ResultWriter", "Label"):
        m.pop(k)
    m["ItemsPath"] = "$.event.payload.exposures"
    m["ItemProcessor"]["ProcessorConfig"] = {"Mode": "INLINE"}
    path.write_text(json.dumps(doc))

    import cloudphot.monitor.budget as budget

    # the exposure list inline in the input (just under StartExecution's 256 KiB), and
    # the Map's collected results in the state: over 256 KiB, as reduce_field was once
    shape = SurveyShape("big", 1, 1500)
    inputs = budget._inputs

    def with_inline_list(machine, shape, svc):
        doc = inputs(machine, shape, svc)
        listing = doc["event"]["payload"]["exposure_list"]
        doc["event"]["payload"]["exposures"] = json.loads(
            svc.objects[(listing["bucket"], listing["key"])]
        )
        return doc

    budget._inputs = with_inline_list
    try:
        with pytest.raises(
            ConfigError, match="fails for a field of 1500 exposures.*States.DataLimitExceeded"
        ):
            survey_budget(shape, DEFAULT_PRICES, root)
    finally:
        budget._inputs = inputs


def test_a_task_the_plan_does_not_know_stops_it(tmp_path):
    root = _project_copy(tmp_path)
    tasks = root / "src" / "cloudphot" / "pipeline" / "tasks.toml"
    tasks.write_text(
        tasks.read_text()
        + '\n[[task]]\nname = "mosaic"\ntrigger = "field.reduced"\n'
        + 'executor = { kind = "state_machine", name = "BuildCatalogStateMachine" }\n'
    )
    with pytest.raises(ConfigError, match="'mosaic'.*not in the budget"):
        survey_budget(SURVEYS["field"], DEFAULT_PRICES, root)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "cloudphot", "plan", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_prints_the_budget_and_flags_a_field_too_big_for_fargate():
    ok = _cli("brick", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["fields"] == 18 and doc["problems"] == [] and doc["usd"]["fargate_spot"] > 0
    big = _cli("field", "--exposures", "400")
    assert big.returncode == 1
    assert "more than Fargate's largest task" in big.stdout and "at most 316" in big.stdout
    bad = _cli("--fields", "0")
    assert bad.returncode == 2 and "fields must be a positive integer" in bad.stderr
