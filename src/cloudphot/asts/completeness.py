"""Completeness and bias from a field's artificial star tests.

Per filter and input-magnitude bin (and per local-density tercile of the field), the
fraction of fakes recovered with a magnitude in that filter, the fraction also in
the filter's ``gst`` set, and the photometric bias (median output - input) and
scatter (1.4826 MAD) of the recovered ones: the table stored next to the catalog as
``completeness.parquet`` and loaded into the database as ``ast_completeness``.
"""

from __future__ import annotations

import itertools

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

__all__ = ["COMPLETENESS_COLUMNS", "completeness_table", "mag_at"]

COMPLETENESS_COLUMNS = (
    "field_id",
    "filter",
    "density",
    "mag_lo",
    "mag_hi",
    "n_fakes",
    "n_recovered",
    "completeness",
    "completeness_gst",
    "bias",
    "scatter",
)

#: density classes: every fake, then the field's thirds by local density
DENSITIES = ("all", "low", "mid", "high")


def _recovered_in(ast: Table, p: str) -> NDArray:
    out = np.asarray(ast[f"{p}_out"], float)
    return np.asarray(ast["recovered"], bool) & np.isfinite(out)


def completeness_table(
    ast: Table, filters: list[str], field_id: str, bin_mag: float = 0.5
) -> Table:
    """The completeness rows of ``ast`` (the output of :func:`.engine.run_fakes`)."""
    rows: list[tuple] = []
    dens = np.asarray(ast["density"], float) if "density" in ast.colnames else np.zeros(len(ast))
    cuts = np.quantile(dens, [1 / 3, 2 / 3]) if len(dens) else np.zeros(2)
    klass = {
        "all": np.ones(len(ast), bool),
        "low": dens <= cuts[0],
        "mid": (dens > cuts[0]) & (dens <= cuts[1]),
        "high": dens > cuts[1],
    }
    for f in filters:
        p = f.lower()
        m_in = np.asarray(ast[f"{p}_in"], float)
        rec = _recovered_in(ast, p)
        gst = rec & np.asarray(ast[f"{p}_gst"], bool)
        dm = np.asarray(ast[f"{p}_out"], float) - m_in
        if not len(m_in):
            continue
        lo = np.floor(np.nanmin(m_in) / bin_mag) * bin_mag
        edges = np.arange(lo, np.nanmax(m_in) + bin_mag, bin_mag)
        for d in DENSITIES:
            for a, b in itertools.pairwise(edges):
                s = klass[d] & (m_in >= a) & (m_in < b)
                n = int(s.sum())
                if n == 0:
                    continue
                r = dm[s & rec]
                med = float(np.median(r)) if r.size else float("nan")
                mad = float(np.median(np.abs(r - med))) * 1.4826 if r.size else float("nan")
                rows.append(
                    (
                        field_id, f, d, float(a), float(b), n, int(rec[s].sum()),
                        float(rec[s].mean()), float(gst[s].mean()), med, mad,
                    )
                )  # fmt: skip
    t = Table(rows=rows, names=COMPLETENESS_COLUMNS) if rows else Table(names=COMPLETENESS_COLUMNS)
    return t


def mag_at(
    table: Table, filt: str, level: float = 0.5, density: str = "all", min_fakes: int = 5
) -> float:
    """The magnitude where ``filt``'s completeness first falls through ``level`` going
    faint (linear between bin centres; bins of fewer than ``min_fakes`` fakes left out, so
    one lucky fake at the faint end is no crossing); NaN if it never does."""
    mag, comp = _curve(table, filt, density, "completeness")
    if len(mag):
        s = (np.asarray(table["filter"]).astype(str) == filt) & (
            np.asarray(table["density"]).astype(str) == density
        )
        mid = 0.5 * (np.asarray(table["mag_lo"], float) + np.asarray(table["mag_hi"], float))[s]
        n = np.asarray(table["n_fakes"], int)[s][np.argsort(mid)]
        mag, comp = mag[n >= min_fakes], comp[n >= min_fakes]
    return crossing_magnitude(mag, comp, level=level)


def _curve(table: Table, filt: str, density: str, column: str) -> tuple[NDArray, NDArray]:
    if not len(table):
        return np.empty(0), np.empty(0)
    s = (np.asarray(table["filter"]).astype(str) == filt) & (
        np.asarray(table["density"]).astype(str) == density
    )
    mid = 0.5 * (np.asarray(table["mag_lo"], float) + np.asarray(table["mag_hi"], float))[s]
    c = np.asarray(table[column], float)[s]
    o = np.argsort(mid)
    return mid[o], c[o]


def crossing_magnitude(mag: NDArray, comp: NDArray, level: float = 0.5) -> float:
    """Where a completeness curve (magnitudes ascending) first falls through ``level``
    after having reached it."""
    mag, comp = np.asarray(mag, float), np.asarray(comp, float)
    ok = np.isfinite(comp)
    mag, comp = mag[ok], comp[ok]
    for i in range(1, len(mag)):
        if comp[i - 1] >= level > comp[i]:
            t = (comp[i - 1] - level) / (comp[i - 1] - comp[i])
            return float(mag[i - 1] + t * (mag[i] - mag[i - 1]))
    return float("nan")


def truth_completeness_50(
    catalog: Table, truth: Table, exposures_truth: Table, filters: list[str], bin_mag: float = 0.5
) -> dict[str, float]:
    """Per filter, the magnitude where the catalog's completeness against the simulator's
    truth falls through 50 % (every star with a magnitude, matched within 1 pixel; the
    scorer of :func:`cloudphot.verify.score_catalog`)."""
    from ..verify import score_catalog

    bins = tuple(float(b) for b in np.arange(14.0, 31.0 + 1e-9, bin_mag))
    out = {}
    for f in filters:
        rows = score_catalog(catalog, truth, exposures_truth, [f], quality="all", bins=bins)
        rows = [r for r in rows if r["n_true"] >= 5]
        mid = np.array([(r["lo"] + r["hi"]) / 2 for r in rows])
        out[f] = crossing_magnitude(mid, np.array([r["completeness"] for r in rows]))
    return out
