"""DOLPHOT resumes from checkpoints: prepared images and a finished run are not redone."""

from __future__ import annotations

import pytest

from cloudphot.checkpoints import Checkpoints
from cloudphot.dolphot.runner import DolphotError, run_dolphot
from cloudphot.runtime.platform import LocalPlatform


def test_a_failed_run_resumes_after_the_prepared_images(
    tmp_path, fake_dolphot, hst_image, local_settings, monkeypatch
):
    images = [hst_image("jaaa01aaq_flc.fits"), hst_image("jaaa01abq_flc.fits")]
    store = LocalPlatform(local_settings).objects
    ck = lambda: Checkpoints(store, "products", lambda s: f"checkpoints/f/dolphot/{s}")

    monkeypatch.setenv("FAKE_DOLPHOT_FAIL", "killed")  # the photometry step fails
    first = ck()
    with pytest.raises(DolphotError):
        run_dolphot(images, tmp_path / "w1", dolphot_bin_dir=fake_dolphot.bin_dir, checkpoint=first)
    assert first.saved == ["prep-jaaa01aaq_flc.tar", "prep-jaaa01abq_flc.tar"]
    before = len(fake_dolphot.calls())

    monkeypatch.delenv("FAKE_DOLPHOT_FAIL")
    second = ck()  # a new task, on a new disk
    out = run_dolphot(
        images, tmp_path / "w2", dolphot_bin_dir=fake_dolphot.bin_dir, checkpoint=second
    )
    assert fake_dolphot.calls()[before:] == ["dolphot field.phot -pdolphot.param"]
    assert second.resumed == ["prep-jaaa01aaq_flc.tar", "prep-jaaa01abq_flc.tar"]
    assert (tmp_path / "w2" / "jaaa01aaq_flc.chip2.fits").is_file()
    assert second.saved == ["dolphot.tar"]

    third = ck()  # finished: only the output comes back, nothing runs
    before = len(fake_dolphot.calls())
    again = run_dolphot(
        images, tmp_path / "w3", dolphot_bin_dir=fake_dolphot.bin_dir, checkpoint=third
    )
    assert fake_dolphot.calls()[before:] == []
    assert third.resumed == ["dolphot.tar"]
    assert again.read_bytes() == out.read_bytes()
    assert (tmp_path / "w3" / "field.phot.columns").read_bytes() == (
        tmp_path / "w2" / "field.phot.columns"
    ).read_bytes()
