"""A second object claiming an exposure id never overwrites its record (issue 14.2).

The case from the issue: a copy of a good exposure with ``CRVAL1 = NaN`` uploaded
under another key changed the stored ``pointing_ra`` from 11.04 to 360.0. Now a
second object is refused naming the first; the same object uploaded again with new
content is a new version, and the lineage lists both.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from cloudphot.events import JobState
from fits_cards import set_card


@pytest.fixture
def good(tmp_path) -> Path:
    from cloudphot.simulate.exposure import synthetic_exposure

    (tmp_path / "in").mkdir()
    return synthetic_exposure(
        tmp_path / "in", shape=(32, 32), nstars=5, ra=11.04, rootname="jgood01q", seed=1
    )


def _record(runtime, exposure_id: str) -> dict:
    item = runtime.tables.get("exposures", exposure_id)
    return json.loads(item["record"])


def _rejections(runtime) -> list[str]:
    return [
        e.payload["error"]["Cause"] for e in runtime.store.events() if e.type == "exposure.rejected"
    ]


def test_a_copy_under_another_key_is_refused_naming_the_first(runtime, good, tmp_path):
    runtime.upload([good], prefix="night1/")
    runtime.run()
    before = _record(runtime, "jgood01q")
    assert before["pointing_ra"] == pytest.approx(11.04, abs=0.01)

    copy = tmp_path / "copy" / good.name
    copy.parent.mkdir()
    shutil.copy(good, copy)
    set_card(copy, 1, "CRVAL1", "NaN")  # the hostile copy ...
    plain = tmp_path / "plain" / good.name
    plain.parent.mkdir()
    shutil.copy(good, plain)
    with fits.open(plain, mode="update") as h:  # ... and a valid one, shifted by 0.5 deg
        for ext in (1, 4):
            h[ext].header["CRVAL1"] += 0.5
    runtime.upload([copy], prefix="night2/")
    runtime.upload([plain], prefix="night3/")
    summary = runtime.run()
    assert summary.jobs == {"FAILED": 2}

    after = runtime.tables.get("exposures", "jgood01q")
    assert after["key"] == f"night1/{good.name}"
    assert _record(runtime, "jgood01q") == before  # not a byte of the record changed
    causes = _rejections(runtime)
    assert any("CRVAL1 in the SCI,1 cannot be parsed: 'NaN'" in c for c in causes)
    (dup,) = [c for c in causes if "already registered" in c]
    assert f"s3://raw/night3/{good.name}" in dup
    assert f"already registered from s3://raw/night1/{good.name}" in dup
    failed = {j.error for j in runtime.store.jobs(JobState.FAILED)}
    assert failed == {"InvalidExposure", "DuplicateExposure"}
    # the field still holds one exposure
    assert len(runtime.tables.query("exposures", "by_field", before["field_id"])) == 1


def test_a_new_version_of_the_same_object_keeps_both_in_its_lineage(runtime, good, tmp_path):
    runtime.upload([good])
    runtime.run()
    first = runtime.tables.get("exposures", "jgood01q")
    v2 = tmp_path / "v2" / good.name
    v2.parent.mkdir()
    shutil.copy(good, v2)
    with fits.open(v2, mode="update") as h:
        h[0].header["EXPTIME"] = 400.0  # recalibrated
    runtime.upload([v2])
    summary = runtime.run()
    assert summary.count("FAILED") == 0
    now = runtime.tables.get("exposures", "jgood01q")
    rec = json.loads(now["record"])
    assert rec["exptime"] == 400.0 and now["etag"] != first["etag"]
    assert [v["etag"] for v in rec["versions"]] == [first["etag"], now["etag"]]
    assert all(v["key"] == good.name and v["job_id"] for v in rec["versions"])


def test_rerunning_the_same_version_is_idempotent(runtime, good):
    from cloudphot.events.retry import reset_for_retry

    runtime.upload([good])
    runtime.run()
    (event,) = [e for e in runtime.store.events() if e.type == "object.created"]
    reset_for_retry(runtime.store, event_id=event.event_id, force=True)
    assert runtime.run().count("FAILED") == 0
    rec = _record(runtime, "jgood01q")
    assert len(rec["versions"]) == 1


def test_two_objects_racing_for_one_id_store_one_record(runtime, good, tmp_path):
    """Both are read before either is stored: the conditional put lets one through."""
    other = tmp_path / "other" / good.name
    other.parent.mkdir()
    shutil.copy(good, other)
    with fits.open(other, mode="update") as h:
        h[0].header["EXPTIME"] = 300.0
    runtime.upload([good], prefix="a/")
    runtime.upload([other], prefix="b/")
    runtime.max_workers = 2
    summary = runtime.run()
    assert summary.jobs.get("FAILED") == 1
    item = runtime.tables.get("exposures", "jgood01q")
    rec = json.loads(item["record"])
    assert item["key"] in (f"a/{good.name}", f"b/{good.name}") and len(rec["versions"]) == 1
    (failed,) = runtime.store.jobs(JobState.FAILED)
    assert failed.error == "DuplicateExposure"
    (cause,) = _rejections(runtime)
    assert "already registered" in cause or "nothing was overwritten" in cause
