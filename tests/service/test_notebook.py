"""docs/notebooks/phat_tour.ipynb runs against the service and draws its figures."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def test_the_tour_notebook_runs_and_finds_the_cepheids_period(
    project_root, tap_url, demo_catalog, monkeypatch, tmp_path
):
    _, _, survey = demo_catalog
    nb = nbformat.read(project_root / "docs" / "notebooks" / "phat_tour.ipynb", as_version=4)
    monkeypatch.setenv("CLOUDPHOT_TAP_URL", tap_url)
    # the kernel draws inline (the suite runs with Agg, which would show nothing)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    nbformat.write(nb, tmp_path / "executed.ipynb")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3  # maps, cone, light curve
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    found = re.search(r"period ([0-9.]+) d of objid \d+ at ([0-9.]+) ([0-9.-]+)", text)
    period, ra, dec = (float(x) for x in found.groups())
    # the most variable object is an injected Cepheid, and its period comes back
    near = min(survey.variables, key=lambda v: (v.ra_deg - ra) ** 2 + (v.dec_deg - dec) ** 2)
    assert abs(near.ra_deg - ra) < 1e-4 and abs(near.dec_deg - dec) < 1e-4
    assert abs(period - near.period_d) / near.period_d < 0.01
