"""A field's diagnostic plots, written as PNG products (``fields/<field>/plots/``).

``cmd.png``          colour-magnitude diagram of the st and gst sets (a Hess diagram,
                     log counts per bin, when the field is crowded)
``errors.png``       photometric error against magnitude, per filter
``completeness.png`` AST completeness (and gst completeness) against input magnitude,
                     per filter, with the 50 % magnitude marked
``density.png``      the field's stars per arcsec^2 on the reference grid
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

__all__ = ["field_plots"]

#: more stars than this in a CMD panel: a Hess diagram instead of points
HESS_ABOVE = 3000


def _mag(t: Table, f: str) -> np.ndarray:
    v = np.asarray(t[f"{f.lower()}_vega"], float)
    return np.where(np.isfinite(v) & (v < 90), v, np.nan)


def _save(fig, path: Path) -> Path:
    from ..catalog._plots import save_figure

    return save_figure(fig, path)


def field_plots(
    catalog: Table,
    filters: list[str],
    outdir: str | Path,
    *,
    field_id: str,
    completeness: Table | None = None,
    pixel_scale_arcsec: float = 0.05,
) -> dict[str, Path]:
    """Write the field's plots into ``outdir``; {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .completeness import mag_at

    outdir = Path(outdir)
    out: dict[str, Path] = {}
    blue, red = filters[0], filters[-1]
    if len(filters) > 1:
        # the bluer filter first in the colour: sort by pivot wavelength in the name
        blue, red = sorted(filters[:2], key=lambda f: int(re_digits(f) or 0))
    fig, axes = plt.subplots(1, 2, figsize=(9, 5), sharey=True)
    for ax, kind in zip(axes, ("st", "gst")):
        keep = np.ones(len(catalog), bool)
        for f in (blue, red):
            keep &= np.asarray(catalog[f"{f.lower()}_{kind}"], bool)
        col = (_mag(catalog, blue) - _mag(catalog, red))[keep]
        mag = _mag(catalog, red)[keep]
        ok = np.isfinite(col) & np.isfinite(mag)
        if ok.sum() > HESS_ABOVE:
            h = ax.hexbin(col[ok], mag[ok], gridsize=80, bins="log", mincnt=1, cmap="viridis")
            fig.colorbar(h, ax=ax, label="stars per bin (log)")
        else:
            ax.plot(col[ok], mag[ok], "k.", ms=2)
        ax.set_xlabel(f"{blue} - {red} (mag)")
        ax.set_title(f"{field_id}: {kind} ({int(ok.sum())} stars)")
    axes[0].set_ylabel(f"{red} (Vega mag)")
    axes[0].invert_yaxis()
    out["cmd"] = _save(fig, outdir / "cmd.png")

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for f in filters:
        m, e = _mag(catalog, f), np.asarray(catalog[f"{f.lower()}_err"], float)
        ok = np.isfinite(m) & np.isfinite(e) & (e < 1)
        ax.plot(m[ok], e[ok], ".", ms=2, label=f)
    ax.set_xlabel("magnitude (Vega)")
    ax.set_ylabel("error (mag)")
    ax.set_yscale("log")
    ax.set_title(f"{field_id}: photometric error")
    ax.legend(markerscale=5)
    out["errors"] = _save(fig, outdir / "errors.png")

    if completeness is not None and len(completeness):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        dens = np.asarray(completeness["density"]).astype(str)
        for f in filters:
            s = (np.asarray(completeness["filter"]).astype(str) == f) & (dens == "all")
            mid = (
                0.5
                * (
                    np.asarray(completeness["mag_lo"], float)
                    + np.asarray(completeness["mag_hi"], float)
                )[s]
            )
            o = np.argsort(mid)
            (line,) = ax.plot(mid[o], np.asarray(completeness["completeness"])[s][o], "-o",
                              ms=3, label=f"{f}")  # fmt: skip
            ax.plot(mid[o], np.asarray(completeness["completeness_gst"])[s][o], "--",
                    color=line.get_color(), label=f"{f} gst")  # fmt: skip
            m50 = mag_at(completeness, f)
            if np.isfinite(m50):
                ax.axvline(m50, color=line.get_color(), lw=0.8, ls=":")
                ax.annotate(f"50%: {m50:.2f}", (m50, 0.52), color=line.get_color(), fontsize=8)
        ax.axhline(0.5, color="0.6", lw=0.8)
        ax.set_xlabel("input magnitude (Vega)")
        ax.set_ylabel("fraction recovered")
        ax.set_ylim(-0.02, 1.05)
        ax.set_title(f"{field_id}: completeness from artificial stars")
        ax.legend(fontsize=8)
        out["completeness"] = _save(fig, outdir / "completeness.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    x, y = np.asarray(catalog["x"], float), np.asarray(catalog["y"], float)
    if len(x):
        bin_pix = max(8.0, (np.ptp(x) + np.ptp(y)) / 2 / 40)
        nx = max(1, int(np.ceil(np.ptp(x) / bin_pix)))
        ny = max(1, int(np.ceil(np.ptp(y) / bin_pix)))
        h, xe, ye = np.histogram2d(x, y, bins=(nx, ny))
        area = (bin_pix * pixel_scale_arcsec) ** 2
        im = ax.imshow(h.T / area, origin="lower", extent=(xe[0], xe[-1], ye[0], ye[-1]),
                       cmap="magma")  # fmt: skip
        fig.colorbar(im, ax=ax, label="stars / arcsec²")
    ax.set_xlabel("x (reference pixels)")
    ax.set_ylabel("y (reference pixels)")
    ax.set_title(f"{field_id}: stellar density")
    out["density"] = _save(fig, outdir / "density.png")
    return out


def re_digits(f: str) -> str:
    import re

    m = re.search(r"(\d+)", f)
    return m.group(1) if m else ""
