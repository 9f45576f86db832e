"""What a field's artificial star tests need from its reduction, saved as one product.

The photometry worker writes ``fields/<id>/model.npz`` next to the catalog: each
chip's alignment (the offsets the engine applied to its header WCS), each chip's PSF
solution (:func:`cloudphot.photometry.psfsolve.psfs_to_arrays`), the detection
reference image with its WCS, and each chip's footprint on the reference grid. With
the exposures, their preprocessed products and the catalog, an AST worker rebuilds the
engine's state without reducing the field again (:mod:`cloudphot.asts.engine`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from numpy.typing import NDArray

from ..errors import DataError

__all__ = ["FieldModel", "model_arrays", "read_model", "write_model"]

#: the model's format (readers refuse others)
MODEL_VERSION = 1


@dataclass
class FieldModel:
    """The saved state of one field's reduction (see module docstring)."""

    field_id: str
    filters: list[str]  # catalog order: the deepest (detection) filter first
    chip: list[str]  # "<rootname>[<extver>]", the engine's chip order
    chip_filter: list[str]
    dx: NDArray
    dy: NDArray
    rot_deg: NDArray
    psf: dict[str, NDArray] | None  # psfs_to_arrays, or None (library PSFs)
    ref_image: NDArray
    ref_nexp: NDArray
    ref_wcs: WCS
    corners: NDArray  # (nchip, 4, 2) reference-grid x, y of each chip's inset corners
    fit_radius: int

    def covered(self, x: NDArray, y: NDArray) -> NDArray:
        """Whether reference-grid positions lie on at least one chip of every filter,
        at least a fitting radius inside its edge (shape of ``x``)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.ones(x.shape, bool)
        for f in self.filters:
            on = np.zeros(x.shape, bool)
            for n in np.flatnonzero(np.asarray(self.chip_filter) == f):
                on |= _in_quad(self.corners[n], x, y)
            ok &= on
        return ok


def _in_quad(q: NDArray, x: NDArray, y: NDArray) -> NDArray:
    """Inside the convex quadrilateral ``q`` (4 corners in order, either orientation)."""
    signs = []
    for i in range(4):
        (x0, y0), (x1, y1) = q[i], q[(i + 1) % 4]
        signs.append((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0))
    s = np.stack(signs)
    return np.all(s >= 0, axis=0) | np.all(s <= 0, axis=0)


def model_arrays(reduction, exposures: Sequence, fit_radius: int) -> dict[str, NDArray]:
    """The arrays of ``model.npz`` from a :class:`~cloudphot.photometry.field.FieldReduction`
    and its loaded :class:`~cloudphot.photometry.exposure.Exposure` objects (input order)."""
    from ..photometry.align import apply_offset
    from ..photometry.psfsolve import psfs_to_arrays

    al = reduction.alignment
    by_root = {e.rootname: e for e in exposures}
    ref_wcs = reduction.reference.wcs
    corners, chip_filter = [], []
    m = float(fit_radius + 1)
    for root, ext, dx, dy, rot in zip(
        al["exposure_id"], al["chip"], al["dx"], al["dy"], al["rot_deg"]
    ):
        e = by_root[str(root)]
        c = next(c for c in e.chips if c.extver == int(ext))
        ny, nx = c.shape
        w = apply_offset(c.wcs, np.array([dx, dy]), np.radians(rot), ((nx - 1) / 2, (ny - 1) / 2))
        px = np.array([-0.5 + m, nx - 0.5 - m, nx - 0.5 - m, -0.5 + m])
        py = np.array([-0.5 + m, -0.5 + m, ny - 0.5 - m, ny - 0.5 - m])
        ra, dec = w.all_pix2world(px, py, 0)
        u, v = ref_wcs.world_to_pixel_values(ra, dec)
        corners.append(np.c_[u, v])
        chip_filter.append(e.filter)
    out: dict[str, NDArray] = {
        "version": np.array(MODEL_VERSION),
        "field_id": np.array(reduction.field_id),
        "filters": np.array(reduction.filters),
        "chip": np.array([f"{r}[{int(x)}]" for r, x in zip(al["exposure_id"], al["chip"])]),
        "chip_filter": np.array(chip_filter),
        "dx": np.asarray(al["dx"], float),
        "dy": np.asarray(al["dy"], float),
        "rot_deg": np.asarray(al["rot_deg"], float),
        "ref_image": np.asarray(reduction.reference.image, np.float32),
        "ref_nexp": np.asarray(reduction.reference.nexp, np.int16),
        "ref_wcs": np.array(ref_wcs.to_header_string()),
        "corners": np.asarray(corners, float).reshape(-1, 4, 2),
        "fit_radius": np.array(int(fit_radius)),
    }
    psfs = list(reduction.psfs or [])
    if psfs and all(p is not None for p in psfs):
        out.update({f"psf_{k}": v for k, v in psfs_to_arrays(psfs).items()})
    return out


def write_model(arrays: dict[str, NDArray], path: str | Path) -> Path:
    path = Path(path)
    np.savez_compressed(path, allow_pickle=False, **arrays)
    return path


def read_model(data: bytes | str | Path, where: str = "model.npz") -> FieldModel:
    """A saved model; DataError naming ``where`` if it is not one."""
    try:
        src = io.BytesIO(data) if isinstance(data, bytes) else data
        with np.load(src, allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{where}: not a field model ({exc})") from None
    need = ("version", "field_id", "filters", "chip", "chip_filter", "dx", "dy", "rot_deg",
            "ref_image", "ref_nexp", "ref_wcs", "corners", "fit_radius")  # fmt: skip
    missing = [k for k in need if k not in a]
    if missing:
        raise DataError(f"{where}: not a field model (no {', '.join(missing)})")
    if int(a["version"]) != MODEL_VERSION:
        raise DataError(f"{where}: model version {int(a['version'])}, expected {MODEL_VERSION}")
    n = len(a["chip"])
    if not (len(a["dx"]) == len(a["dy"]) == len(a["chip_filter"]) == a["corners"].shape[0] == n):
        raise DataError(f"{where}: per-chip arrays of different lengths")
    psf = {k[4:]: v for k, v in a.items() if k.startswith("psf_")} or None
    return FieldModel(
        field_id=str(a["field_id"]),
        filters=[str(f) for f in a["filters"]],
        chip=[str(c) for c in a["chip"]],
        chip_filter=[str(f) for f in a["chip_filter"]],
        dx=a["dx"],
        dy=a["dy"],
        rot_deg=a["rot_deg"],
        psf=psf,
        ref_image=a["ref_image"],
        ref_nexp=a["ref_nexp"],
        ref_wcs=WCS(fits.Header.fromstring(str(a["ref_wcs"]))),
        corners=a["corners"],
        fit_radius=int(a["fit_radius"]),
    )
