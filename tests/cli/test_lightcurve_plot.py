"""Issue 18 item 9: the folded light curve's second cycle is drawn in its filter's colour
(the legend's), and the title says where the object is and in which filters."""

from __future__ import annotations

import numpy as np
from astropy.table import Table


def test_both_cycles_share_the_legend_colour(monkeypatch, tmp_path):
    from cloudphot.catalog import lightcurve

    figures = []
    monkeypatch.setattr(lightcurve, "save_figure", lambda fig, path: figures.append(fig) or path)
    rng = np.random.default_rng(1)
    n = 24
    lc = Table(
        {
            "mjd": np.sort(rng.uniform(56000, 56100, n)),
            "filter": np.array(["F475W", "F814W"] * (n // 2)),
            "vega": rng.normal(22, 0.1, n),
            "err": np.full(n, 0.02),
            "snr": np.full(n, 50.0),
            "flag": np.zeros(n, int),
        }
    )
    lightcurve.plot_folded(lc, 3.3, tmp_path / "lc.png", title="t")
    (ax,) = figures[0].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["F475W", "F814W"]
    drawn = [c.lines[0].get_color() for c in ax.containers]  # per filter: cycle 1, cycle 2
    assert len(drawn) == 4 and drawn[0] == drawn[1] and drawn[2] == drawn[3] != drawn[0]
