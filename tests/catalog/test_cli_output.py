"""``cloudphot query`` streams its rows and starts without astropy or pandas (issue 15.6).

A 100,000-row page took 297 s and 1.1 GB through an astropy Table's pprint; the
writers here format one Arrow batch at a time. Speed itself is measured in
benchmarks/catalog_bench.py, not asserted here.
"""

import io
import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from cloudphot.catalog.commands import main
from cloudphot.catalog.output import write_csv, write_text_table


def _batches(out: io.StringIO):
    """Three batches; each is asked for only after the previous one was written."""
    for i, width in enumerate((1, 3, 12)):
        before = len(out.getvalue())
        yield pa.record_batch(
            {
                "objid": pa.array([10**width + i, None], pa.int64()),
                "name": pa.array(["a,b", 'say "hi"'], pa.string()),
                "mag": pa.array([21.5, float("nan")], pa.float32()),
                "ok": pa.array([True, None]),
            }
        )
        # the writer asks for the next batch only after writing this one
        assert len(out.getvalue()) > before, "the writer held a batch back"


def test_text_table_writes_batch_by_batch():
    out = io.StringIO()
    schema = next(_batches(io.StringIO())).schema
    n = write_text_table(schema, _batches(out), out)
    lines = out.getvalue().splitlines()
    assert n == 6 and len(lines) == 8
    assert lines[0].split() == ["objid", "name", "mag", "ok"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split()[0] == "10" and lines[3].split()[0] == "--"  # NULL
    assert "nan" in lines[3] and lines[2].endswith("true")
    # columns are aligned within the header's and first batch's widths
    assert len({len(x) for x in lines[:4]}) == 1


def test_csv_quotes_only_what_needs_it():
    out = io.StringIO()
    schema = next(_batches(io.StringIO())).schema
    assert write_csv(schema, _batches(out), out) == 6
    lines = out.getvalue().splitlines()
    assert lines[0] == "objid,name,mag,ok"
    assert lines[1] == '10,"a,b",21.5,true'
    assert lines[2] == ',"say ""hi""",nan,'


def test_cli_streams_a_page_of_measurements(built, tmp_path, capsys):
    settings, _, _, result = built
    w = ["--workdir", str(settings.home)]
    sql = "SELECT * FROM phat_v2.phot_meas"
    assert main(w + ["query", sql, "--format", "csv", "--max-rows", "1000000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == result.n_measurements + 1
    assert main(w + ["query", sql, "-o", str(tmp_path / "m.txt"), "--max-rows", "5000"]) == 0
    err = capsys.readouterr().err
    assert "5000 rows ->" in err and "truncated at the row limit" in err
    assert len((tmp_path / "m.txt").read_text().splitlines()) == 5002
    # duplicate names in every format
    dup = "SELECT objid, objid FROM phat_v2.phot_mod LIMIT 3"
    assert main(w + ["query", dup, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "objid,objid_1"
    assert main(w + ["query", dup, "--format", "fits", "-o", str(tmp_path / "d.fits")]) == 0


@pytest.mark.parametrize(
    "args,why",
    [
        (["10.68", "41.27", "nan"], "finite angle"),
        (["10.68", "41.27", "inf"], "finite angle"),
        (["10.68", "41.27", "--", "-2arcsec"], "positive"),
        (["10.68", "41.27", "181deg"], "at most 180 degrees"),
        (["10.68", "95", "1arcsec"], "outside the sphere"),
        (["nan", "41.27", "1arcsec"], "not a finite angle"),
        (["10.68", "41d16m", "2parsec"], "not an angle"),
    ],
)
def test_cli_cone_refuses_invalid_cones(built, capsys, args, why):
    settings, _, _, _ = built
    if "--" in args:
        args = ["--", *[a for a in args if a != "--"]]
    assert main(["--workdir", str(settings.home), "cone", *args]) == 2
    assert why in capsys.readouterr().err


def test_one_shot_query_imports_neither_astropy_nor_pandas(built):
    settings, _, _, _ = built
    code = (
        "import sys, json; from cloudphot.cli import main; "
        f"rc = main(['--workdir', {str(settings.home)!r}, 'query', "
        "'SELECT objid, ra FROM phat_v2.phot_mod WHERE objid > 0 LIMIT 2']); "
        "print(json.dumps([rc, sorted(m for m in ('astropy', 'pandas', 'scipy', 'boto3') "
        "if m in sys.modules)]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    rc, heavy = json.loads(out.splitlines()[-1])
    assert rc == 0 and heavy == []
