"""The IVOA validator: ``stilts taplint`` against the running service reports zero errors."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

#: stages not applicable here: ObsCore / ObsLocTAP data models, examples document
SKIP_STAGES = ["OBS", "LOC", "EXA"]


def test_taplint_reports_no_errors(tap_url, capsys):
    stilts = shutil.which("stilts")
    if stilts is None:
        pytest.skip("stilts is not installed (Debian package stilts; .ci/run installs it)")
    proc = subprocess.run(
        [
            stilts,
            "taplint",
            f"tapurl={tap_url}",
            "report=EWF",
            "maxrepeat=5",
            "stages=" + " ".join(f"-{s}" for s in SKIP_STAGES),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    totals = re.search(r"Totals: Errors: (\d+); Warnings: (\d+)", out)
    assert totals, out[-3000:]
    errors = [line for line in out.splitlines() if re.match(r"^[EF]-", line)]
    warnings = [line for line in out.splitlines() if line.startswith("W-")]
    with capsys.disabled():
        print(f"\ntaplint: {totals.group(0)}")
        for line in warnings:
            print("  " + line)
    assert int(totals.group(1)) == 0 and not errors, "\n".join(errors)
