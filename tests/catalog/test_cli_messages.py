"""Issue 18 item 8, the catalog side of a first session: the ``cloudphot`` entry point on a
real catalog workspace; each case asserts what the user reads and the
exit status (positions in sexagesimal, a negative Dec, a short cone table with its row
count, SQL errors in words, a reversed period range, the files export-fits wrote)."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.coordinates import Angle

from cloudphot.catalog.synthetic import FieldSpec

from .conftest import make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog-cli")
    _s, cat, survey = make_workspace(
        path,
        n_fields_ra=0,
        extra_fields=(FieldSpec("b21_f02", 11.0123, 41.2345, 60.0),),
        density_per_arcsec2=0.05,
        epochs_per_filter=12,
        cepheid_fraction=0.05,
    )
    cat.build()
    cat.close()
    return path, survey


@pytest.fixture
def cloudphot(capsys, monkeypatch):
    """``cloudphot --workdir WS ARGS`` through the CLI's own entry point, in this process
    (a subprocess per call cost ~2 s of interpreter start-up under load; the parser,
    the commands and the error handling are the same): (exit status, stdout, stderr)."""
    from cloudphot.cli import main

    def run(ws, *args: str) -> tuple[int, str, str]:
        monkeypatch.chdir(ws[0])
        capsys.readouterr()
        try:
            rc = main(["--workdir", str(ws[0]), *args])
        except SystemExit as exc:  # argparse's usage errors
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def _sexagesimal(ra: float, dec: float) -> tuple[str, str]:
    return (
        Angle(ra, "deg").to_string(unit="hourangle", sep=":", precision=3),
        Angle(dec, "deg").to_string(sep=":", precision=2, alwayssign=True),
    )


def test_a_cone_in_sexagesimal_finds_the_star_a_cone_in_degrees_finds(cloudphot, ws):
    star = ws[1].variables[0]
    rc, deg_out, err = cloudphot(ws, "cone", str(star.ra_deg), str(star.dec_deg), "0.3arcsec")
    assert rc == 0, err
    ra, dec = _sexagesimal(star.ra_deg, star.dec_deg)
    rc, sex_out, err = cloudphot(ws, "cone", ra, dec, "0.3arcsec")
    assert rc == 0, err
    assert sex_out.splitlines()[2].split()[0] == deg_out.splitlines()[2].split()[0]
    # the terminal table is short: objid, position, the two optical magnitudes
    header = sex_out.splitlines()[0].split()
    assert header == [
        "objid",
        "ra",
        "dec",
        "f475w_vega",
        "f475w_err",
        "f814w_vega",
        "f814w_err",
        "nmeas",
        "dist_arcsec",
    ]
    assert err.strip() == "(1 row)", err
    rc, csv, _ = cloudphot(ws, "cone", ra, dec, "0.3arcsec", "--format", "csv")
    assert rc == 0 and len(csv.splitlines()[0].split(",")) > 90  # files get every column


def test_negative_declinations_and_radii_reach_the_command(cloudphot, ws):
    rc, out, err = cloudphot(ws, "cone", "11.0123", "-41:14:04.2", "2arcsec")
    assert rc == 0 and err.strip() == "(0 rows)", (out, err)
    rc, _, err = cloudphot(ws, "cone", "11.0123", "41.2345", "-2arcsec")
    assert rc == 2 and "radius '-2arcsec' must be a positive" in err, err
    rc, _, err = cloudphot(ws, "cone", "25:00:00", "41", "1arcsec")
    assert rc == 2 and "RA '25:00:00' is not an angle: give degrees or sexagesimal" in err


def test_sql_errors_are_said_in_words(cloudphot, ws):
    rc, _, err = cloudphot(ws, "query", "SELECT objid FROM phat_v2.phot_mod WHERE ra >> AND")
    assert rc == 2, err
    assert (
        "could not parse it as a SELECT query: an expression is missing (line 1, column 50, at 'AND')"
        in err
    )
    assert "sqlglot" not in err and "<class" not in err


def test_a_reversed_period_range_is_named(cloudphot, ws):
    star = ws[1].variables[0]
    base = ["lightcurve", "--ra", str(star.ra_deg), "--dec", str(star.dec_deg), "-o", "lc.png"]
    rc, _, err = cloudphot(ws, *base, "--min-period", "30", "--max-period", "2")
    assert rc == 2 and "--min-period 30.0 d is not below --max-period 2.0 d" in err, err
    rc, _, err = cloudphot(ws, *base, "--min-period", "0")
    assert rc == 2 and "periods must be positive and finite" in err, err


def test_export_fits_prints_the_files_it_wrote(cloudphot, ws, tmp_path):
    rc, out, err = cloudphot(ws, "catalog", "export-fits")
    assert rc == 0, err
    files = [Path(line) for line in out.splitlines()]
    assert len(files) == 2 and all(f.is_file() and f.suffix == ".fits" for f in files), out
    rc, out, err = cloudphot(ws, "catalog", "export-fits", "--out-dir", str(tmp_path / "hlsp"))
    assert rc == 0 and all(Path(line).parent == tmp_path / "hlsp" for line in out.splitlines())
    assert all(Path(line).is_file() for line in out.splitlines()), out


def test_output_paths_that_cannot_be_written_are_named(cloudphot, ws, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    rc, _, err = cloudphot(ws, "query", "SELECT 1", "-o", str(tmp_path / "no" / "such" / "x.csv"))
    assert rc == 2 and f"the folder {tmp_path / 'no' / 'such'} does not exist" in err, err
    rc, _, err = cloudphot(ws, "query", "SELECT 1", "-o", str(tmp_path))
    assert rc == 2 and "is a folder; give a file name" in err, err
    rc, _, err = cloudphot(ws, "catalog", "export-fits", "--out-dir", str(afile))
    assert rc == 2 and f"{afile}: exists and is a file, not a folder" in err, err
    for bad in (["--max-rows", "0"], ["--timeout", "-1"]):
        rc, _, err = cloudphot(ws, "query", "SELECT 1", *bad)
        assert rc == 2 and f"argument {bad[0]}:" in err, err
    rc, _, err = cloudphot(ws, "lightcurve", "12345")
    assert rc == 2 and "no object 12345 in the catalog" in err, err
