"""DOLPHOT parameter files: the real ones parse, ours round-trip, bad ones are refused."""

from __future__ import annotations

import pytest

from cloudphot.dolphot.params import (
    DETECTOR_IMAGE_DEFAULTS,
    GLOBAL_DEFAULTS,
    ImageParams,
    read_params,
    write_params,
)
from cloudphot.errors import DataError


def test_real_phat_param_file(real_dolphot_dir):
    p = read_params(real_dolphot_dir / "params" / "12076_M31-B22-F06-IR_ibfe06dqq.param")
    assert p["Nimg"] == 1
    assert p["images"][1] == {
        "file": "ibfe06dqq_F160W_flt",
        "shift": [0, 0],
        "apsky": [15, 25],
        "xform": [1, 0, 0],
    }
    assert p["FitSky"] == 3 and p["SecondPass"] == 25 and p["UseWFC3"] == 1
    assert p["RCombine"] == 1.415 and p["xytfile"] == ""
    assert "FakeStars" not in p  # commented out in that file


def test_our_defaults_are_the_phat_run_choices(real_dolphot_dir):
    """Every global keyword the PHAT file sets and we default must have PHAT's value."""
    phat = read_params(real_dolphot_dir / "params" / "12076_M31-B22-F06-IR_ibfe06dqq.param")
    ours = {k.lower(): v for k, v in GLOBAL_DEFAULTS.items()}
    shared = [k for k in phat if k.lower() in ours]
    assert len(shared) >= 20
    for key in shared:
        assert ours[key.lower()] == phat[key], key
    ir = DETECTOR_IMAGE_DEFAULTS["WFC3/IR"]
    assert ir["RAper"] == phat["RAper"] and ir["RChi"] == phat["Rchi"]
    assert list(ir["RSky"]) == [phat["RSky0"], phat["Rsky1"]] and ir["RPSF"] == phat["RPSF"]
    assert list(ir["apsky"]) == phat["images"][1]["apsky"]


def test_real_default_template_and_student_run(real_dolphot_dir):
    d = read_params(real_dolphot_dir / "params" / "dolphot2.0_default_dolphot.param")
    assert d["images"][1] == {"file": ""}
    assert d["all_images"]["RSky"] == [4, 10] and d["all_images"]["PSFa"] == [3, 0, 0, 0, 0, 0]
    assert d["FPSF"] == "G+L" and d["Zero"] == 25.0 and d["EPSF"] == 1
    j = read_params(real_dolphot_dir / "params" / "j9ec41agq_flc_run_dolphot.param")
    assert j["images"][1]["file"] == "j9ec41agq_flc" and j["photsec"] == "group"
    acs = DETECTOR_IMAGE_DEFAULTS["ACS/WFC"]
    assert acs["RAper"] == j["all_images"]["RAper"] and list(acs["RSky"]) == j["all_images"]["RSky"]


def test_write_then_read_round_trip(tmp_path):
    images = [
        ImageParams("jaaa01aaq_flc.chip1", "ACS/WFC"),
        ImageParams(
            "ibbb02bbq_flt.chip1", "WFC3/IR", shift=(1.5, -2.0), keys={"RAper": 2, "RPSF": None}
        ),
    ]
    path = write_params(
        tmp_path / "d.param",
        images,
        "ref_drc.chip1",
        {"secondpass": 3, "InterpPSFlib": None, "PSFPhot": 2},
    )
    p = read_params(path)
    assert p["Nimg"] == 2
    assert p["images"][0]["file"] == "ref_drc.chip1"
    assert p["images"][1]["file"] == "jaaa01aaq_flc.chip1"
    assert p["images"][1]["RSky"] == [15, 35] and p["images"][1]["RChi"] == 2.0
    assert p["images"][2]["shift"] == [1.5, -2.0] and p["images"][2]["RAper"] == 2
    assert "RPSF" not in p["images"][2] and p["images"][2]["RSky"] == [8, 20]
    assert p["SecondPass"] == 3 and "secondpass" not in p  # DOLPHOT's spelling is kept
    assert "InterpPSFlib" not in p and p["ACSuseCTE"] == 0 and p["PSFPhot"] == 2
    for key, value in GLOBAL_DEFAULTS.items():
        if key not in ("SecondPass", "InterpPSFlib", "PSFPhot"):
            assert p[key] == value, key


def test_no_reference_means_no_img0(tmp_path):
    p = read_params(write_params(tmp_path / "d.param", [ImageParams("a.chip1")], None))
    assert 0 not in p["images"] and p["images"][1]["file"] == "a.chip1"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"Fit Sky": 1}, "is not a keyword"),
        ({"img1_RAper": 3}, "per-image keys"),
        ({"xytfile": "a#b"}, "contains a newline"),
        ({"xytfile": "a\nNimg = 9"}, "contains a newline"),
        ({"FitSky": {"a": 1}}, "unsupported value"),
    ],
)
def test_bad_options_are_refused(tmp_path, options, message):
    with pytest.raises(DataError, match=message):
        write_params(tmp_path / "d.param", [ImageParams("a.chip1")], None, options)


def test_bad_images(tmp_path):
    with pytest.raises(DataError, match="at least one image"):
        write_params(tmp_path / "d.param", [], None)
    with pytest.raises(DataError, match="unknown detector 'NICMOS/NIC2'"):
        write_params(tmp_path / "d.param", [ImageParams("a", "NICMOS/NIC2")], None)


@pytest.mark.parametrize(
    "text, message",
    [
        ("Nimg = 1\nFitSky 3\n", r"d\.param:2: expected 'key = value'"),
        (
            "Nimg = 1\n# c\nFitSky = 1\nfitsky = 2\n",
            r"d\.param:4: fitsky is set again \(first set on line 3\)",
        ),
        ("Nimg = 1\n2x = 3\n", r"d\.param:2: '2x' is not a parameter name"),
    ],
)
def test_bad_param_files(tmp_path, text, message):
    (tmp_path / "d.param").write_text(text)
    with pytest.raises(DataError, match=message):
        read_params(tmp_path / "d.param")


def test_reference_takes_its_own_detector_defaults(tmp_path):
    images = [ImageParams("a_flc.chip1", "ACS/WFC")]
    p = read_params(
        write_params(tmp_path / "d.param", images, ImageParams("ref_drz.chip1", "WFC3/IR"))
    )
    assert p["images"][0] == {
        "file": "ref_drz.chip1",
        "RAper": 5,
        "RChi": 1.5,
        "RSky": [8, 20],
        "RPSF": 10,
        "aprad": 20,
        "apsky": [15, 25],
    }
