"""Hostile exposures in a field: one unusable exposure is excluded with its reason,
the field is reduced without it, and nothing already stored is overwritten."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from astropy.io import fits

from cloudphot.events import JobState

from .conftest import field_catalog, make_runtime

pytestmark = pytest.mark.slow


def test_one_all_nan_exposure_is_excluded_and_the_field_reduced_without_it(tiny_field, tmp_path):
    bad = tiny_field.sim.exposures[1]
    nan_copy = tmp_path / "in" / bad.name
    nan_copy.parent.mkdir()
    shutil.copy(bad, nan_copy)
    with fits.open(nan_copy, mode="update") as h:
        h["SCI", 1].data = np.full_like(h["SCI", 1].data, np.nan)
    rt = make_runtime(tmp_path / "ws")
    raw = rt.settings.bucket("raw")
    for p in tiny_field.sim.exposures:
        rt.objects.put_file(raw, p.name, nan_copy if p == bad else p)
    rt.objects.put_file(raw, f"manifests/{tiny_field.manifest.name}", tiny_field.manifest)
    rt.run()

    (reduce_job,) = [j for j in rt.store.jobs() if j.task == "reduce_field"]
    assert reduce_job.state is JobState.SUCCEEDED, reduce_job.cause
    (reduced,) = [e for e in rt.store.events() if e.type == "field.reduced"]
    bad_id = bad.name.split("_")[0]
    (excluded,) = reduced.payload["excluded"]
    assert excluded["exposure_id"] == bad_id and excluded["error"] == "InvalidExposure"
    assert "SCI has no finite pixel" in excluded["reason"]
    assert reduced.payload["n_exposures"] == len(tiny_field.sim.exposures) - 1
    cat = field_catalog(rt, tiny_field.field_id)
    assert len(cat) > 0 and bad_id not in set(
        cat["exposure_id"] if "exposure_id" in cat.colnames else []
    )
    products = rt.settings.buckets_dir / rt.settings.bucket("products")
    request = json.loads(next(products.rglob("request.json")).read_text())
    assert [x["exposure_id"] for x in request["excluded"]] == [bad_id]
    assert all(bad.name not in e["key"] for e in request["exposures"])
    assert list(products.rglob(f"exposures/{bad_id}/excluded-*.json"))  # the reason, kept
    rt.close()
