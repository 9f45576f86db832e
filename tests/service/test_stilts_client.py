"""TOPCAT's TAP client, headless: ``stilts tapquery`` (the uk.ac.starlink.vo classes TOPCAT's
TAP window runs on) queries the service sync and async, with an upload, and gets the rows
the catalog holds. The TOPCAT GUI itself needs a display and is not run here."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from astropy.table import Table

from .conftest import PAPER_DEC, PAPER_RA

pytestmark = pytest.mark.slow


def _stilts() -> str:
    stilts = shutil.which("stilts")
    if stilts is None:
        pytest.skip("stilts is not installed (Debian package stilts; .ci/run installs it)")
    return stilts


def _tapquery(tap_url: str, out, *args: str) -> Table:
    proc = subprocess.run(
        [_stilts(), "tapquery", f"tapurl={tap_url}", "ofmt=votable", f"out={out}", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return Table.read(out, format="votable")


@pytest.mark.parametrize("sync", ["true", "false"])
def test_tapquery_returns_the_rows_of_a_cone(tap_url, demo_catalog, tmp_path, sync):
    _, cat, _ = demo_catalog
    adql = (
        "SELECT objid, ra, dec FROM phat_v2.phot_mod WHERE 1 = CONTAINS("
        f"POINT('ICRS', ra, dec), CIRCLE('ICRS', {PAPER_RA}, {PAPER_DEC}, 30/3600.)) "
        "ORDER BY objid"
    )
    polling = ["poll=200"] if sync == "false" else []
    got = _tapquery(tap_url, tmp_path / "cone.vot", f"adql={adql}", f"sync={sync}", *polling)
    want = cat.cone(PAPER_RA, PAPER_DEC, 30)
    assert len(got) == len(want) > 0
    assert np.array_equal(np.asarray(got["objid"]), np.sort(np.asarray(want["objid"])))


def test_tapquery_joins_an_uploaded_table(tap_url, demo_catalog, tmp_path):
    _, cat, _ = demo_catalog
    wanted = cat.query("SELECT objid FROM phat_v2.phot_mod ORDER BY objid LIMIT 7")
    upload = tmp_path / "ids.vot"
    Table({"objid": np.asarray(wanted["objid"])}).write(upload, format="votable")
    got = _tapquery(
        tap_url,
        tmp_path / "joined.vot",
        "adql=SELECT m.objid, m.ra FROM phat_v2.phot_mod AS m "
        "JOIN TAP_UPLOAD.ids AS u ON m.objid = u.objid ORDER BY m.objid",
        "nupload=1",
        f"upload1={upload}",
        "ufmt1=votable",
        "upname1=ids",
        "sync=true",
    )
    assert np.array_equal(np.asarray(got["objid"]), np.asarray(wanted["objid"]))


def test_tapquery_reports_a_refusal_with_its_reason(tap_url, tmp_path):
    proc = subprocess.run(
        [
            _stilts(),
            "tapquery",
            f"tapurl={tap_url}",
            "adql=DROP TABLE phat_v2.phot_mod",
            "sync=true",
            f"out={tmp_path / 'x.vot'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "read-only" in (proc.stdout + proc.stderr)
