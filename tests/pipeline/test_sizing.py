"""Fargate sizes checked before submitting; the plan sizes and times a field from its pixels."""

from __future__ import annotations

import json

import pytest

from cloudphot.errors import ConfigError
from cloudphot.pipeline import sizing
from cloudphot.pipeline.reduce import _prep_targets, plan_photometry
from cloudphot.pipeline.sizing import FARGATE_SIZES, TaskSize, fit_size, validate_size


def test_the_table_is_fargates():
    assert sorted(FARGATE_SIZES) == [256, 512, 1024, 2048, 4096, 8192, 16384]
    assert FARGATE_SIZES[4096][-1] == 30720 and FARGATE_SIZES[16384][-1] == 122880
    assert FARGATE_SIZES[8192][1] - FARGATE_SIZES[8192][0] == 4096
    assert FARGATE_SIZES[16384][1] - FARGATE_SIZES[16384][0] == 8192


@pytest.mark.parametrize(
    ("cpu", "memory", "size"),
    [
        (4096, 16384, TaskSize(4096, 16384)),
        (None, 16384, TaskSize(2048, 16384)),  # the fewest vCPUs that allow it
        (None, 512, TaskSize(256, 512)),
        (1024, None, TaskSize(1024, 2048)),
        (16384, 122880, TaskSize(16384, 122880)),
    ],
)
def test_valid_user_sizes(cpu, memory, size):
    assert validate_size(cpu, memory) == size


@pytest.mark.parametrize(
    ("cpu", "memory", "says"),
    [
        (None, 1000, "memory_mib=1000"),  # the size the old doubling produced from 1000 MiB
        (4096, 1000, "cpu 4096: memory 8192-30720 MiB in steps of 1024"),
        (4096, 32768, "with cpu 4096"),
        (3000, 8192, "Fargate offers cpu 256, 512"),
        (None, 200000, "is not a Fargate task size"),
        (None, None, "give cpu, memory_mib or both"),
        ("4096", 8192, "not a whole number"),
        (4096, 8192.5, "not a whole number"),
        (True, 8192, "not a whole number"),
    ],
)
def test_invalid_user_sizes_are_configuration_errors(cpu, memory, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        validate_size(cpu, memory)


def test_fit_size_is_the_smallest_that_holds_the_memory():
    assert fit_size(3000) == TaskSize(1024, 3072)
    assert fit_size(8193) == TaskSize(2048, 9216)
    assert fit_size(40000) == TaskSize(8192, 40960)
    assert fit_size(10**6) == sizing.MAX_SIZE


def _register(svc, field_id, exposure_id, chips):
    record = {"exposure_id": exposure_id, "field_id": field_id, "chips": chips, "mjd_mid": 1.0}
    svc.tables.put(
        "exposures",
        {
            "exposure_id": exposure_id,
            "field_id": field_id,
            "mjd": 1.0,
            "record": json.dumps(record),
        },
    )


def _request(svc, n, field="m31-b01-f01", **options):
    """A plan request whose exposures' preprocessed products exist (as the Map leaves them)."""
    exposures = [
        {"exposure_id": f"e{i}", "bucket": "raw", "key": f"e{i}_flc.fits"} for i in range(n)
    ]
    for e in exposures:
        prep, _ = _prep_targets(svc, e, options)
        prep.write_bytes(b"prep")
    return {"job_id": "job-1", "field_id": field, "exposures": exposures, "options": options}


def test_plan_sizes_a_field_by_its_pixels(svc):
    wfc = [{"extver": 1, "shape": [2048, 4096]}, {"extver": 2, "shape": [2048, 4096]}]
    for i in range(30):
        _register(svc, "m31-b01-f01", f"e{i}", wfc)
    plan = plan_photometry(_request(svc, 30), svc)
    est = sizing.estimate_field(30 * 2 * 2048 * 4096)
    assert plan["estimate"] == est.as_dict()
    assert (plan["cpu"], plan["memory_mib"]) == (2048, 13312)  # two vCPUs: 13 GiB needs them
    assert plan["timeout_seconds"] == sizing.attempt_timeout_s(est) > 12 * 3600 > 3600
    assert plan["attempts"] == dict.fromkeys(
        ["spot", "capacity", "quota", "transient", "memory"], 0
    )
    stored = json.loads(svc.objects.get_bytes("products", plan["request"]["key"]))
    assert len(stored["exposures"]) == 30

    small = [{"extver": 1, "shape": [512, 512]}]
    for i in range(4):
        _register(svc, "tiny", f"e{i}", small)
    plan = plan_photometry(_request(svc, 4, field="tiny"), svc)
    assert (plan["cpu"], plan["memory_mib"]) == (1024, 2048)
    assert plan["timeout_seconds"] == sizing.TIMEOUT_MIN_S


def test_unregistered_exposures_count_as_acs_wfc(svc):
    plan = plan_photometry(_request(svc, 2, field="unknown"), svc)
    assert plan["estimate"]["megapixels"] == pytest.approx(2 * 2 * 4096 * 2048 / 1e6, rel=1e-3)


def test_plan_refuses_a_size_fargate_does_not_offer_before_submitting(svc):
    with pytest.raises(ConfigError, match="memory_mib=1000"):
        plan_photometry(_request(svc, 2, memory_mib=1000), svc)
    assert not svc.objects.exists("products", "fields/m31-b01-f01/request.json")
    plan = plan_photometry(_request(svc, 2, cpu=8192, memory_mib=61440), svc)
    assert (plan["cpu"], plan["memory_mib"]) == (8192, 61440)
