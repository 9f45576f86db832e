"""The DOLPHOT runner against fake programs that record their argv."""

from __future__ import annotations

import os
import threading
import time

import pytest
from dolphot_fakes import make_fake_dolphot

from cloudphot.dolphot.params import read_params
from cloudphot.dolphot.parse import read_phot
from cloudphot.dolphot.runner import DolphotError, dolphot_available, run_dolphot
from cloudphot.errors import ConfigError, InvalidExposure, SpotInterrupted


def test_available_only_with_every_program(tmp_path, fake_dolphot, monkeypatch):
    assert dolphot_available(fake_dolphot.bin_dir)
    partial = make_fake_dolphot(tmp_path / "partial", omit=("wfc3mask",))
    assert not dolphot_available(partial.bin_dir)
    monkeypatch.setenv("DOLPHOT_BIN", str(fake_dolphot.bin_dir))
    assert dolphot_available()
    monkeypatch.setenv("DOLPHOT_BIN", str(partial.bin_dir))
    assert not dolphot_available()
    monkeypatch.delenv("DOLPHOT_BIN")
    monkeypatch.setenv("PATH", str(fake_dolphot.bin_dir))
    assert dolphot_available()


def test_recipe_order_arguments_and_params(tmp_path, fake_dolphot, hst_image):
    acs = hst_image("jaaa01aaq_flc.fits", "ACS", "WFC")
    ir = hst_image("ibbb02bbq_flt.fits", "WFC3", "IR", filt="F160W")
    original = acs.read_bytes()
    work = tmp_path / "work"
    out = run_dolphot(
        [acs, ir],
        work,
        reference=None,
        options={"SecondPass": 2},
        dolphot_bin_dir=fake_dolphot.bin_dir,
    )

    assert fake_dolphot.calls() == [
        "acsmask jaaa01aaq_flc.fits",
        "splitgroups jaaa01aaq_flc.fits",
        "calcsky jaaa01aaq_flc.chip1 15 35 4 2.25 2.00",
        "calcsky jaaa01aaq_flc.chip2 15 35 4 2.25 2.00",
        "wfc3mask ibbb02bbq_flt.fits",
        "splitgroups ibbb02bbq_flt.fits",
        "calcsky ibbb02bbq_flt.chip1 10 25 2 2.25 2.00",
        "dolphot field.phot -pdolphot.param",
    ]
    assert out == work / "field.phot"
    assert acs.read_bytes() == original  # inputs are staged, never modified in place
    params = read_params(work / "dolphot.param")
    assert params["Nimg"] == 3 and params["SecondPass"] == 2
    assert [params["images"][n]["file"] for n in (1, 2, 3)] == [
        "jaaa01aaq_flc.chip1",
        "jaaa01aaq_flc.chip2",
        "ibbb02bbq_flt.chip1",
    ]
    assert params["images"][1]["RAper"] == 3 and params["images"][3]["RAper"] == 5
    # every step logged, with its command line first
    logs = sorted((work / "logs").iterdir())
    assert len(logs) == 8
    assert logs[-1].read_text().splitlines()[0].endswith("dolphot field.phot -pdolphot.param")
    table = read_phot(out)
    assert len(table) == 2 and [im["name"] for im in table.meta["images"]] == [
        "jaaa01aaq_flc.chip1",
        "jaaa01aaq_flc.chip2",
        "ibbb02bbq_flt.chip1",
    ]


def test_reference_image_is_prepared_first_and_named_img0(tmp_path, fake_dolphot, hst_image):
    ref = hst_image("jaaa01010_drc.fits", "ACS", "WFC", nchips=1)
    img = hst_image("jaaa01aaq_flc.fits", "ACS", "WFC")
    run_dolphot([img], tmp_path / "w", reference=ref, dolphot_bin_dir=fake_dolphot.bin_dir)
    calls = fake_dolphot.calls()
    assert calls[:3] == [
        "acsmask jaaa01010_drc.fits",
        "splitgroups jaaa01010_drc.fits",
        "calcsky jaaa01010_drc.chip1 15 35 4 2.25 2.00",
    ]
    assert (
        read_params(tmp_path / "w" / "dolphot.param")["images"][0]["file"] == "jaaa01010_drc.chip1"
    )


def test_failing_step_names_step_and_quotes_its_log(tmp_path, fake_dolphot, hst_image, monkeypatch):
    monkeypatch.setenv("FAKE_DOLPHOT_FAIL", "no stars found for alignment")
    img = hst_image("jaaa01aaq_flc.fits")
    with pytest.raises(DolphotError) as info:
        run_dolphot([img], tmp_path / "w", dolphot_bin_dir=fake_dolphot.bin_dir)
    err = info.value
    assert err.step == "dolphot field.phot"
    assert "exited with status 2" in str(err)
    assert "ERROR: no stars found for alignment" in str(err) and "Aligning images" in err.tail


def test_stop_event_kills_the_running_step(tmp_path, fake_dolphot, hst_image, monkeypatch):
    pidfile = tmp_path / "dolphot.pid"
    monkeypatch.setenv("FAKE_DOLPHOT_SLEEP", "60")
    monkeypatch.setenv("FAKE_DOLPHOT_PIDFILE", str(pidfile))
    img = hst_image("jaaa01aaq_flc.fits")
    stop = threading.Event()

    def stop_when_dolphot_runs():
        while not pidfile.exists():
            time.sleep(0.02)
        stop.set()

    threading.Thread(target=stop_when_dolphot_runs, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(SpotInterrupted, match="during DOLPHOT step 'dolphot field.phot'"):
        run_dolphot([img], tmp_path / "w", dolphot_bin_dir=fake_dolphot.bin_dir, stop_event=stop)
    assert time.monotonic() - start < 30  # not the 60 s the step would have taken
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_stop_already_requested_runs_nothing(tmp_path, fake_dolphot, hst_image):
    stop = threading.Event()
    stop.set()
    with pytest.raises(SpotInterrupted):
        run_dolphot(
            [hst_image("jaaa01aaq_flc.fits")],
            tmp_path / "w",
            dolphot_bin_dir=fake_dolphot.bin_dir,
            stop_event=stop,
        )
    assert fake_dolphot.calls() == []


def test_timeout_kills_and_raises(tmp_path, fake_dolphot, hst_image, monkeypatch):
    monkeypatch.setenv("FAKE_DOLPHOT_SLEEP", "60")
    with pytest.raises(DolphotError, match="'dolphot field.phot' timed out and was killed"):
        run_dolphot(
            [hst_image("jaaa01aaq_flc.fits")],
            tmp_path / "w",
            dolphot_bin_dir=fake_dolphot.bin_dir,
            timeout=1.0,
        )


def test_missing_programs_is_a_config_error(tmp_path, hst_image):
    partial = make_fake_dolphot(tmp_path / "p", omit=("calcsky", "dolphot"))
    with pytest.raises(ConfigError, match="not found in .*: calcsky, dolphot"):
        run_dolphot(
            [hst_image("jaaa01aaq_flc.fits")], tmp_path / "w", dolphot_bin_dir=partial.bin_dir
        )


def test_unsupported_instrument_and_bad_inputs(tmp_path, fake_dolphot, hst_image):
    wfpc2 = hst_image("u2eq0201t_c0m.fits", "WFPC2", "1")
    with pytest.raises(InvalidExposure, match="'WFPC2/1' is not one DOLPHOT"):
        run_dolphot([wfpc2], tmp_path / "w", dolphot_bin_dir=fake_dolphot.bin_dir)
    img = hst_image("jaaa01aaq_flc.fits")
    with pytest.raises(Exception, match="two inputs are named jaaa01aaq_flc.fits"):
        run_dolphot([img, img], tmp_path / "w2", dolphot_bin_dir=fake_dolphot.bin_dir)
    with pytest.raises(Exception, match="input image not found"):
        run_dolphot([tmp_path / "nope.fits"], tmp_path / "w3", dolphot_bin_dir=fake_dolphot.bin_dir)


def test_step_killed_by_sigkill_is_out_of_memory(tmp_path, fake_dolphot, hst_image, monkeypatch):
    from cloudphot.errors import OutOfMemory
    from cloudphot.worker import exit_code_for

    monkeypatch.setenv("FAKE_DOLPHOT_OOM", "1")
    with pytest.raises(OutOfMemory, match="'dolphot field.phot' was killed by SIGKILL") as info:
        run_dolphot(
            [hst_image("jaaa01aaq_flc.fits")], tmp_path / "w", dolphot_bin_dir=fake_dolphot.bin_dir
        )
    assert exit_code_for(info.value) == 137
