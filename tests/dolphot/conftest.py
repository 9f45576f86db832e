"""Fixtures of the DOLPHOT tests; the fakes themselves are in dolphot_fakes.py."""

from __future__ import annotations

import pytest
from dolphot_fakes import make_fake_dolphot, write_fake_phot, write_hst_image


@pytest.fixture
def fake_phot(tmp_path):
    def make(images, nstar=5, name="field.phot", seed=1):
        return write_fake_phot(tmp_path / name, images, nstar, seed)

    return make


@pytest.fixture
def fake_dolphot(tmp_path, monkeypatch):
    for var in (
        "FAKE_DOLPHOT_SLEEP",
        "FAKE_DOLPHOT_FAIL",
        "FAKE_DOLPHOT_PIDFILE",
        "FAKE_DOLPHOT_OOM",
        "DOLPHOT_BIN",
    ):
        monkeypatch.delenv(var, raising=False)
    return make_fake_dolphot(tmp_path)


@pytest.fixture
def hst_image(tmp_path):
    def make(name, instrument="ACS", detector="WFC", **kw):
        folder = tmp_path / "originals"
        folder.mkdir(exist_ok=True)
        return write_hst_image(folder / name, instrument, detector, **kw)

    return make


@pytest.fixture
def real_dolphot_dir(shared_data):
    d = shared_data / "dolphot"
    if not d.is_dir():
        pytest.skip(f"no DOLPHOT data in {d}")
    return d
