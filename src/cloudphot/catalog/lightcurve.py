"""Period search (astropy Lomb-Scargle) and folded light-curve plots.

Multi-filter light curves are combined by subtracting each filter's
inverse-variance-weighted mean magnitude, then searched with a two-term
Lomb-Scargle model (Cepheid curves are saw-tooth-shaped: the second harmonic
keeps the fundamental period on top). The best peak of a coarse grid is refined
on a fine grid around it, so the period is limited by the baseline, not the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.timeseries import LombScargle

from ..errors import DataError
from ._plots import save_figure

__all__ = ["PeriodResult", "find_period", "plot_folded", "usable"]


@dataclass(frozen=True)
class PeriodResult:
    period_d: float
    power: float
    n_points: int
    filters: tuple[str, ...]
    false_alarm_probability: float


def usable(lc: Table) -> np.ndarray:
    """Measurements fit for a period search: detected, finite, unflagged beyond bit 1."""
    vega = np.asarray(lc["vega"], float)
    err = np.asarray(lc["err"], float)
    return np.isfinite(vega) & (vega < 90) & np.isfinite(err) & (err > 0) & (err < 1)


def find_period(
    lc: Table, *, min_period_d: float = 1.0, max_period_d: float = 100.0, nterms: int = 2
) -> PeriodResult:
    """Best period (days) of a light curve with columns mjd, filter, vega, err."""
    if not (0 < min_period_d < float("inf") and 0 < max_period_d < float("inf")):
        raise DataError(
            f"periods must be positive and finite (--min-period {min_period_d} "
            f"--max-period {max_period_d} given)"
        )
    if min_period_d >= max_period_d:
        raise DataError(
            f"--min-period {min_period_d} d is not below --max-period {max_period_d} d: "
            "give the shorter period first, e.g. --min-period 2 --max-period 40"
        )
    ok = usable(lc)
    if ok.sum() < 10:
        raise DataError(f"only {int(ok.sum())} usable measurements; a period search needs 10+")
    t = np.asarray(lc["mjd"], float)[ok]
    y = np.asarray(lc["vega"], float)[ok].copy()
    dy = np.asarray(lc["err"], float)[ok]
    filt = np.asarray(lc["filter"]).astype(str)[ok]
    filters = tuple(sorted(set(filt)))
    for f in filters:
        m = filt == f
        w = 1 / dy[m] ** 2
        y[m] -= np.sum(w * y[m]) / np.sum(w)
    baseline = t.max() - t.min()
    max_period_d = min(max_period_d, baseline)
    if max_period_d <= min_period_d:
        raise DataError(
            f"the measurements span {baseline:.1f} d, too short for periods >= {min_period_d} d: "
            f"give --min-period below {baseline:.1f}"
        )
    ls = LombScargle(t, y, dy, nterms=nterms)
    fmin, fmax = 1 / max_period_d, 1 / min_period_d
    df = 1 / baseline / 20
    freq = np.arange(fmin, fmax, df)
    power = ls.power(freq)
    best = freq[np.argmax(power)]
    fine = np.linspace(max(best - 2 * df, fmin), best + 2 * df, 401)
    fpow = ls.power(fine)
    k = int(np.argmax(fpow))
    fap = float("nan")
    if nterms == 1:
        fap = float(
            ls.false_alarm_probability(fpow[k], minimum_frequency=fmin, maximum_frequency=fmax)
        )
    return PeriodResult(
        period_d=float(1 / fine[k]),
        power=float(fpow[k]),
        n_points=int(ok.sum()),
        filters=filters,
        false_alarm_probability=fap,
    )


def plot_folded(lc: Table, period_d: float, path: str | Path, *, title: str = "") -> Path:
    """PNG of magnitude against phase (two cycles), one colour per filter, bright up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = usable(lc)
    t = np.asarray(lc["mjd"], float)[ok]
    y = np.asarray(lc["vega"], float)[ok]
    dy = np.asarray(lc["err"], float)[ok]
    filt = np.asarray(lc["filter"]).astype(str)[ok]
    phase = ((t - t.min()) / period_d) % 1.0
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, f in enumerate(sorted(set(filt))):
        m = filt == f
        for shift in (0, 1):  # the second cycle in the filter's colour, as the legend says
            ax.errorbar(
                phase[m] + shift,
                y[m],
                dy[m],
                fmt="o",
                ms=3,
                lw=0.5,
                color=f"C{i}",
                label=f if shift == 0 else None,
            )
    ax.invert_yaxis()
    ax.set_xlabel(f"phase (P = {period_d:.4f} d)")
    ax.set_ylabel("Vega magnitude")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
