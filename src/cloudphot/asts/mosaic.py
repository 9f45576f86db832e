"""Per-filter mosaics of a field's aligned exposures, and a colour image.

Each exposure chip (sky subtracted, in e-/s) is resampled onto the field's reference
grid through its *aligned* WCS (the offsets the photometry applied, from ``model.npz``)
with ``reproject``'s flux-conserving ``reproject_exact``; bad pixels and cosmic rays
(the preprocessing masks) get no weight. The mosaic is the exposure-time-weighted mean,
written as FITS with its weight map (``WHT``: seconds of exposure per pixel) and the
reference grid's WCS, so a star's pixel in the mosaic is where the catalog puts it.
The colour image maps the reddest filter to red, the bluest to blue and their mean to
green with astropy's Lupton asinh stretch.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from ..errors import DataError
from .model import FieldModel

__all__ = ["build_mosaics", "colour_image"]


def build_mosaics(
    exposures: Sequence[str | Path],
    prepared: Mapping[str, str | Path],
    model: FieldModel,
    outdir: str | Path,
) -> dict[str, Path]:
    """``mosaic_<filter>.fits`` per filter in ``outdir``; {filter: path}."""
    from reproject import reproject_exact

    from ..photometry.align import apply_offset
    from ..photometry.exposure import load_exposure
    from ..photometry.preprocess import read_preprocess

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    shape = model.ref_image.shape
    sums: dict[str, NDArray] = {}
    weights: dict[str, NDArray] = {}
    index = {name: n for n, name in enumerate(model.chip)}
    for path in exposures:
        e = load_exposure(path)
        prep_path = prepared.get(e.path.name)
        if prep_path is None:
            raise DataError(f"field {model.field_id}: no preprocessed product for {e.path.name}")
        preps = {pc.extver: pc for pc in read_preprocess(prep_path).chips}
        for c in e.chips:
            n = index.get(f"{e.rootname}[{c.extver}]")
            pc = preps.get(c.extver)
            if n is None or pc is None:
                continue
            ny, nx = c.shape
            w = apply_offset(
                c.wcs,
                np.array([model.dx[n], model.dy[n]]),
                np.radians(model.rot_deg[n]),
                ((nx - 1) / 2, (ny - 1) / 2),
            )
            good = ~(pc.rejected | ~np.isfinite(c.sci))
            rate = np.where(good, (c.sci - pc.sky) / e.exptime, 0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # reproject's WCS/footprint notes
                img, foot = reproject_exact((rate, w), model.ref_wcs, shape_out=shape)
                cover, _ = reproject_exact((good.astype(float), w), model.ref_wcs, shape_out=shape)
            img, foot, cover = (np.nan_to_num(a) for a in (img, foot, cover))
            # pixels partly covered by bad pixels: the good part's mean rate
            wt = cover * foot * e.exptime
            val = np.where(cover > 1e-3, img / np.maximum(cover, 1e-3), 0.0)
            f = e.filter
            sums.setdefault(f, np.zeros(shape))
            weights.setdefault(f, np.zeros(shape))
            sums[f] += val * wt
            weights[f] += wt
    if not sums:
        raise DataError(f"field {model.field_id}: no exposure chip of the model to mosaic")
    out = {}
    for f in sorted(sums):
        wt = weights[f]
        sci = np.where(wt > 0, sums[f] / np.where(wt > 0, wt, 1.0), np.nan).astype(np.float32)
        hdr = model.ref_wcs.to_header()
        hdr["BUNIT"] = ("ELECTRONS/S", "sky-subtracted count rate")
        hdr["FILTER"] = f
        hdr["FIELD"] = model.field_id
        primary = fits.PrimaryHDU()
        primary.header["FILTER"] = f
        primary.header["FIELD"] = model.field_id
        primary.header["ORIGIN"] = "cloudphot"
        whdr = model.ref_wcs.to_header()
        whdr["BUNIT"] = ("s", "exposure time per pixel")
        path = outdir / f"mosaic_{f.lower()}.fits"
        fits.HDUList(
            [
                primary,
                fits.ImageHDU(sci, hdr, name="SCI"),
                fits.ImageHDU(wt.astype(np.float32), whdr, name="WHT"),
            ]
        ).writeto(path, overwrite=True)
        out[f] = path
    return out


def _wavelength(f: str) -> int:
    m = re.search(r"(\d+)", f)
    return int(m.group(1)) if m else 0


def colour_image(mosaics: Mapping[str, str | Path], path: str | Path) -> Path | None:
    """A PNG colour image (Lupton asinh) from two or more mosaics; None with one filter."""
    from astropy.visualization import make_lupton_rgb

    if len(mosaics) < 2:
        return None
    order = sorted(mosaics, key=_wavelength)
    blue, red = (np.nan_to_num(fits.getdata(mosaics[f], "SCI")) for f in (order[0], order[-1]))
    green = 0.5 * (blue + red)
    # scale: the 99.5th percentile of the red image maps near the top
    scale = float(np.percentile(red[red > 0], 99.5)) if (red > 0).any() else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 where every band is 0
        rgb = make_lupton_rgb(red / scale, green / scale, blue / scale, stretch=0.5, Q=8)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    plt.imsave(path, rgb[::-1], format="png")  # FITS row 0 is the bottom
    return path
