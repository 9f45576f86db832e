"""The photometry container's entry point and job, end to end on the local backend.

DOLPHOT is replaced by the fake programs of dolphot_fakes.py (real DOLPHOT cannot be
installed here); everything else is real: the worker protocol in a subprocess,
the local object store, the parsing, and the Parquet/FITS products.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from cloudphot.dolphot.job import parse_request, photometry_job
from cloudphot.errors import DataError
from cloudphot.products import MEASUREMENT_COLUMNS, field_catalog_columns, keys
from cloudphot.runtime.local_objects import LocalObjectStore

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "ecs_tasks" / "photometry" / "entrypoint.py"


@pytest.fixture
def field(local_settings, hst_image):
    """Two ACS exposures uploaded to the local raw bucket."""
    store = LocalObjectStore(local_settings.buckets_dir)
    exposures = []
    for root in ("jaaa01aaq", "jaaa01abq"):
        path = hst_image(f"{root}_flc.fits", "ACS", "WFC")
        key = f"uploads/{path.name}"
        store.put_file("raw", key, path)
        exposures.append({"bucket": "raw", "key": key})
    return {
        "field_id": "m31-b01-f01",
        "exposures": exposures,
        "options": {"engine": "dolphot", "dolphot": {"SecondPass": 1}},
    }


def _env(settings, fake_dolphot, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDPHOT_", "FAKE_"))}
    env.update(settings.as_env())
    env["PYTHONPATH"] = str(ROOT / "src")
    env["DOLPHOT_BIN"] = str(fake_dolphot.bin_dir)
    env.update(extra)
    return env


def test_entrypoint_runs_dolphot_and_uploads_products(local_settings, fake_dolphot, field):
    env = _env(
        local_settings, fake_dolphot, CLOUDPHOT_REQUEST=json.dumps(field), CLOUDPHOT_JOB_ID="job-1"
    )
    proc = subprocess.run(
        [sys.executable, str(ENTRYPOINT)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last.removeprefix("CLOUDPHOT_RESULT "))
    assert result["engine"] == "dolphot" and result["field_id"] == "m31-b01-f01"
    assert result["n_stars"] == 2
    # 4 chips; each star lies on chip 1 of both exposures only (the WCSs place chip 2 elsewhere)
    assert result["n_measurements"] == 4
    assert result["products"]["measurements"] == {
        "bucket": "products",
        "key": keys.field_measurements("m31-b01-f01"),
    }

    store = LocalObjectStore(local_settings.buckets_dir)
    with store.local_path("products", keys.field_measurements("m31-b01-f01")) as p:
        meas = Table.read(p, format="parquet")
    assert meas.colnames == list(MEASUREMENT_COLUMNS)
    assert sorted(set(meas["exposure_id"])) == ["jaaa01aaq", "jaaa01abq"]
    assert set(meas["chip"]) == {1} and set(meas["filter"]) == {"F814W"}
    np.testing.assert_allclose(meas["rate"], 50.0)  # 5000 counts / 100 s
    np.testing.assert_allclose(meas["mjd"], 56000.001)
    with store.local_path("products", keys.field_product("m31-b01-f01", "catalog.fits")) as p:
        cat = Table.read(p)
    assert cat.colnames == field_catalog_columns(["F814W"])
    np.testing.assert_allclose(cat["f814w_vega"], 20.75, rtol=1e-6)  # DOLPHOT's combined block
    assert list(cat["f814w_nmeas"]) == [2, 2] and list(cat["star_id"]) == [1, 2]
    assert np.all(np.isfinite(cat["ra"]))
    calls = fake_dolphot.calls()
    assert calls[0] == "acsmask jaaa01aaq_flc.fits" and calls[-1].startswith("dolphot ")


def test_sigterm_during_dolphot_stops_with_143(local_settings, fake_dolphot, field, tmp_path):
    pidfile = tmp_path / "dolphot.pid"
    env = _env(
        local_settings,
        fake_dolphot,
        CLOUDPHOT_REQUEST=json.dumps(field),
        FAKE_DOLPHOT_SLEEP="60",
        FAKE_DOLPHOT_PIDFILE=str(pidfile),
    )
    proc = subprocess.Popen(
        [sys.executable, str(ENTRYPOINT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    line = err.strip().splitlines()[-1]
    assert json.loads(line.removeprefix("CLOUDPHOT_ERROR "))["error"] == "SpotInterrupted"
    with pytest.raises(ProcessLookupError):  # DOLPHOT's process group went down with it
        os.kill(int(pidfile.read_text()), 0)
    store = LocalObjectStore(local_settings.buckets_dir)
    assert not store.exists("products", keys.field_measurements("m31-b01-f01"))


def test_job_in_process_with_explicit_store(local_settings, fake_dolphot, field, monkeypatch):
    monkeypatch.setenv("DOLPHOT_BIN", str(fake_dolphot.bin_dir))
    events: list[dict] = []
    store = LocalObjectStore(local_settings.buckets_dir, on_created=events.append)
    result = photometry_job(
        {**field, "products_bucket": "science", "options": {}}, settings=local_settings, store=store
    )
    assert result["engine"] == "dolphot"  # "auto" picks DOLPHOT when its programs exist
    written = [
        e["detail"]["object"]["key"] for e in events if e["detail"]["bucket"]["name"] == "science"
    ]
    # the catalog is the last table written; result.json (the completion marker) comes after it
    assert written[-2:] == [
        keys.field_catalog("m31-b01-f01"),
        keys.field_product("m31-b01-f01", "result.json"),
    ]
    products = [k for k in written if not k.startswith(keys.CHECKPOINTS)]
    assert len(products) == 5
    # before them, the stage checkpoints a retried task would resume from
    stages = [k.rsplit("/", 1)[1] for k in written if k.startswith(keys.CHECKPOINTS)]
    assert stages == ["prep-jaaa01aaq_flc.tar", "prep-jaaa01abq_flc.tar", "dolphot.tar"]
    assert result["checkpoints"] == {"resumed": [], "saved": 3}
    # keyed by the request's fingerprint (not an object's repr), so a retried task in
    # another process finds them
    for k in written:
        if k.startswith(keys.CHECKPOINTS):
            assert f"/m31-b01-f01/{result['fingerprint']}-" in k, k


def test_rerun_with_the_same_inputs_reuses_the_products(
    local_settings, fake_dolphot, field, monkeypatch
):
    monkeypatch.setenv("DOLPHOT_BIN", str(fake_dolphot.bin_dir))
    events: list[dict] = []
    store = LocalObjectStore(local_settings.buckets_dir, on_created=events.append)
    request = {**field, "products_bucket": "science", "options": {}}
    first = photometry_job(request, settings=local_settings, store=store)
    n_writes = len(events)
    again = photometry_job(request, settings=local_settings, store=store)
    assert again["reused"] and again["fingerprint"] == first["fingerprint"]
    assert len(events) == n_writes  # nothing photometered or written again
    changed = photometry_job(
        {**request, "options": {"dolphot": {"SecondPass": 3}}}, settings=local_settings, store=store
    )
    assert "reused" not in changed and changed["fingerprint"] != first["fingerprint"]


def test_entrypoint_reports_a_bad_request(local_settings, fake_dolphot):
    env = _env(local_settings, fake_dolphot, CLOUDPHOT_REQUEST=json.dumps({"field_id": "x"}))
    proc = subprocess.run(
        [sys.executable, str(ENTRYPOINT)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    err = json.loads(proc.stderr.strip().splitlines()[-1].removeprefix("CLOUDPHOT_ERROR "))
    assert err["error"] == "DataError" and "request.exposures" in err["cause"]


@pytest.mark.parametrize(
    "request_, message",
    [
        (
            {"field_id": "../etc", "exposures": [{"bucket": "raw", "key": "a.fits"}]},
            "request.field_id",
        ),
        ({"field_id": "f", "exposures": []}, "request.exposures: a non-empty list"),
        ({"field_id": "f", "exposures": [{"bucket": "raw"}]}, r"request.exposures\[0\]"),
        ({"field_id": "f", "exposures": [{"bucket": "raw", "key": "a.txt"}]}, "not a .fits file"),
        (
            {
                "field_id": "f",
                "exposures": [
                    {"bucket": "r", "key": "a/x.fits"},
                    {"bucket": "r", "key": "b/x.fits"},
                ],
            },
            "two exposures are named",
        ),
        (
            {
                "field_id": "f",
                "exposures": [{"bucket": "r", "key": "x.fits"}],
                "options": {"engine": "iraf"},
            },
            "options.engine",
        ),
    ],
)
def test_parse_request_refuses(request_, message):
    with pytest.raises(DataError, match=message):
        parse_request(request_)


def test_images_meta_from_real_headers(shared_data):
    from cloudphot.dolphot.job import images_meta_from_fits

    folder = shared_data / "hst_images" / "drizzlepac"
    acs = images_meta_from_fits(folder / "sample_flc_header.fits", "sample_flc_header.chip2")
    assert (acs["exposure_id"], acs["filter"], acs["chip"], acs["exptime"]) == (
        "jbt122x8q",
        "F814W",
        2,
        450.0,
    )  # FILTER2 read, FILTER1=CLEAR1L skipped
    assert acs["detector"] == "ACS/WFC" and 56112 < acs["mjd"] < 56113
    ir = images_meta_from_fits(folder / "sample_ipppssoot_flt.fits", "sample_ipppssoot_flt.chip1")
    assert (ir["filter"], ir["detector"], ir["shape"]) == ("F110W", "WFC3/IR", (10, 10))
    assert ir["wcs"].wcs.ctype[0] == "RA---TAN-SIP"
    with pytest.raises(DataError, match="no SCI extension 2"):
        images_meta_from_fits(folder / "sample_ipppssoot_flt.fits", "sample_ipppssoot_flt.chip2")


def test_builtin_engine_when_dolphot_is_absent(local_settings, field, monkeypatch, tmp_path):
    """Without DOLPHOT the job hands the downloaded files to cloudphot.photometry.reduce_field."""
    from cloudphot import photometry
    from cloudphot.photometry import PhotometryOptions

    monkeypatch.setenv("DOLPHOT_BIN", str(tmp_path / "no-dolphot-here"))
    seen = {}

    class Reduction:
        measurements = Table(
            {name: np.zeros(3, dtype=dtype) for name, (dtype, _, _) in MEASUREMENT_COLUMNS.items()}
        )
        catalog = Table({name: np.zeros(2) for name in field_catalog_columns(["F814W"])})

    def reduce_field(exposures, *, workdir, options, field_id, preprocessed, checkpoint):
        seen.update(
            names=sorted(Path(p).name for p in exposures),
            options=options,
            field_id=field_id,
            all_exist=all(Path(p).is_file() for p in exposures),
            preprocessed=preprocessed,
            checkpoint=checkpoint,
        )
        return Reduction()

    monkeypatch.setattr(photometry, "reduce_field", reduce_field)
    store = LocalObjectStore(local_settings.buckets_dir)
    request = {**field, "options": {"photometry": {"snr_min": 5.0}}}
    result = photometry_job(request, settings=local_settings, store=store)
    assert result["engine"] == "builtin" and result["n_measurements"] == 3
    assert seen["names"] == ["jaaa01aaq_flc.fits", "jaaa01abq_flc.fits"] and seen["all_exist"]
    assert seen["options"] == PhotometryOptions(snr_min=5.0) and seen["field_id"] == "m31-b01-f01"
    assert seen["preprocessed"] == {} and seen["checkpoint"].bucket == "products"
    assert store.exists("products", keys.field_product("m31-b01-f01", "measurements.fits"))
    with pytest.raises(DataError, match="request.options.photometry"):
        photometry_job(
            {**field, "options": {"engine": "builtin", "photometry": {"nope": 1}}},
            settings=local_settings,
            store=store,
        )


def test_measurements_carry_their_provenance(local_settings, fake_dolphot, field, monkeypatch):
    """The catalog copies this into every phot_meas row (job, version, options)."""
    import pyarrow.parquet as pq

    from cloudphot import __version__

    monkeypatch.setenv("DOLPHOT_BIN", str(fake_dolphot.bin_dir))
    store = LocalObjectStore(local_settings.buckets_dir)
    options = {"dolphot": {"SecondPass": 3}}
    photometry_job(
        {**field, "job_id": "reduce_field-0123456789abcdef", "options": options},
        settings=local_settings,
        store=store,
    )
    path = (
        local_settings.buckets_dir
        / local_settings.bucket("products")
        / keys.field_measurements("m31-b01-f01")
    )
    prov = json.loads(pq.read_schema(path).metadata[b"cloudphot.provenance"])
    assert prov["job_id"] == "reduce_field-0123456789abcdef"
    assert prov["pipeline_version"] == __version__
    assert json.loads(prov["task_options"]) == options
