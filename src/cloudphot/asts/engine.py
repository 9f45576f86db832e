"""Artificial star tests with the built-in engine, as DOLPHOT's fake-star mode runs them.

Fakes are drawn over the field's own colour-magnitude diagram (:func:`draw_fakes`:
uniform in the detection filter's magnitude from the catalog's bright end to beyond
its faint limit, colours from catalog stars of similar magnitude; half the positions
near catalog stars, so crowded regions get more, half uniform; never off the image).
Each fake is then injected alone (:func:`run_fakes`): into every exposure chip that
covers it, with that chip's own PSF solution (the one the field was measured with) and
aperture correction, its photon noise, and outer wings for bright fakes; the same
simultaneous fixed-position PSF fit as the field's final photometry is run on a window
around it, with the real stars whose stamps overlap it, on the chip the field's other
stars were subtracted from. One fake at a time never changes the crowding it measures.

Detection follows the engine's: the fake is looked for by the same star finder
(threshold, FWHM, separation, the residual pass's shape limits) on the reference image
with the catalog's stars subtracted and the fake added (photon noise of the stack); a
fake closer than 1 pixel to a catalog star merges with it, as in the residual pass, and
is not found. The per-filter output is the exposures' measurements combined and culled
as the catalog's (:func:`~cloudphot.photometry.combine.combine_filter`).
A fake is *recovered* when detected and its detection-filter magnitude is within
``dmag_max`` of its input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

if TYPE_CHECKING:  # scipy is not in the Lambda layers; the plan step does not need it
    from scipy.spatial import cKDTree

from ..errors import DataError
from .model import FieldModel

__all__ = [
    "AstOptions",
    "AstState",
    "draw_fakes",
    "prepare_state",
    "run_fakes",
]

#: fakes' wings are rendered out to this radius (pixels), as the engine's wing_image
WING_RADIUS = 25
#: local density of a fake: catalog stars within this radius (reference pixels)
DENSITY_RADIUS = 20.0


@dataclass(frozen=True)
class AstOptions:
    """Tunables of the artificial star tests (``options.asts`` of the run_asts task)."""

    enabled: bool = True
    n_fakes: int = 2000
    chunk_size: int = 250  # fakes per ECS task
    seed: int = 0
    mag_extend: float = 1.0  # fakes reach this far beyond the catalog's faintest star
    crowded_fraction: float = 0.5  # fakes placed near catalog stars
    dmag_max: float = 0.75  # recovered: detected and |out - in| below this (detection filter)
    match_pix: float = 1.0  # a detection this close to the fake is the fake
    merge_pix: float = 1.0  # a fake this close to a catalog star merges with it
    bin_mag: float = 0.5  # completeness bins

    def __post_init__(self) -> None:
        checks = {
            "n_fakes": 1 <= self.n_fakes <= 10_000_000,
            "chunk_size": 1 <= self.chunk_size <= 100_000,
            "mag_extend": 0 <= self.mag_extend <= 5,
            "crowded_fraction": 0 <= self.crowded_fraction <= 1,
            "dmag_max": 0 < self.dmag_max <= 5,
            "match_pix": 0 < self.match_pix <= 5,
            "merge_pix": 0 <= self.merge_pix <= 5,
            "bin_mag": 0.05 <= self.bin_mag <= 2,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"out of range: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    @property
    def n_chunks(self) -> int:
        return -(-self.n_fakes // self.chunk_size)


def _mags(catalog: Table, f: str) -> NDArray:
    v = np.asarray(catalog[f"{f.lower()}_vega"], float)
    return np.where(np.isfinite(v) & (v < 90), v, np.nan)


def draw_fakes(catalog: Table, model: FieldModel, options: AstOptions) -> Table:
    """The field's fakes (``fake_id``, ``x``, ``y`` on the reference grid, ``ra``,
    ``dec``, ``<filter>_in`` per filter), reproducible from ``options.seed``."""
    rng = np.random.default_rng([options.seed, 0xA57])
    filters, n = model.filters, options.n_fakes
    deep = filters[0]
    mags = np.c_[tuple(_mags(catalog, f) for f in filters)]
    full = np.all(np.isfinite(mags), axis=1)
    # the colours come from stars measured in every filter (S/N >= 3), not from
    # faint mis-measurements that would put fakes 5 mag off the CMD
    snr = [f"{f.lower()}_snr" for f in filters]
    if all(c in catalog.colnames for c in snr):
        measured = full & np.all([np.asarray(catalog[c], float) >= 3 for c in snr], axis=0)
        if measured.sum() >= 5:
            full = measured
    if full.sum() < 5:
        raise DataError(
            f"field {model.field_id}: only {int(full.sum())} catalog stars have magnitudes in "
            f"every filter ({', '.join(filters)}); too few to draw artificial stars from"
        )
    cmd = mags[full][np.argsort(mags[full][:, 0])]
    lo = float(np.percentile(cmd[:, 0], 1))
    # the faint end: the catalog's 99.5th percentile (not a stray faint outlier)
    # of the stars measured at S/N >= 3 (faint junk measurements reach 30+ mag)
    faint = _mags(catalog, deep)
    snr_col = f"{deep.lower()}_snr"
    if snr_col in catalog.colnames:
        faint = np.where(np.asarray(catalog[snr_col], float) >= 3, faint, np.nan)
    if not np.isfinite(faint).any():
        faint = cmd[:, 0]
    hi = float(np.nanpercentile(faint, 99.5)) + options.mag_extend
    m_deep = rng.uniform(lo, hi, n)
    # colours of the 25 catalog stars nearest in detection magnitude (the faintest 25
    # beyond the catalog's end), one at random, with a little jitter
    k = min(25, len(cmd))
    at = np.clip(np.searchsorted(cmd[:, 0], m_deep) - k // 2, 0, len(cmd) - k)
    pick = at + rng.integers(0, k, n)
    colours = cmd[pick] - cmd[pick, :1] + rng.normal(0, 0.03, (n, len(filters)))
    colours[:, 0] = 0.0
    out_mags = m_deep[:, None] + colours

    ny, nx = model.ref_image.shape
    cx, cy = np.asarray(catalog["x"], float), np.asarray(catalog["y"], float)
    xs, ys = np.empty(0), np.empty(0)
    for _attempt in range(200):
        need = n - len(xs)
        if need <= 0:
            break
        m = max(2 * need, 64)
        near = rng.random(m) < options.crowded_fraction
        x = rng.uniform(-0.5, nx - 0.5, m)
        y = rng.uniform(-0.5, ny - 0.5, m)
        if len(cx):
            j = rng.integers(0, len(cx), m)
            r, t = rng.uniform(2.0, 8.0, m), rng.uniform(0, 2 * np.pi, m)
            x = np.where(near, cx[j] + r * np.cos(t), x)
            y = np.where(near, cy[j] + r * np.sin(t), y)
        ok = model.covered(x, y)
        xs, ys = np.r_[xs, x[ok]][:n], np.r_[ys, y[ok]][:n]
    if len(xs) < n:
        raise DataError(f"field {model.field_id}: no room on the images for {n} fakes")
    ra, dec = model.ref_wcs.pixel_to_world_values(xs, ys)
    t = Table()
    t["fake_id"] = np.arange(1, n + 1, dtype=np.int64)
    t["x"], t["y"], t["ra"], t["dec"] = xs, ys, np.asarray(ra), np.asarray(dec)
    for i, f in enumerate(filters):
        t[f"{f.lower()}_in"] = out_mags[:, i].astype(np.float32)
    return t


# --------------------------------------------------------------------- the engine's state
@dataclass
class _Chip:
    name: str
    filter: str
    camera: str
    exptime: float
    zpt: float
    wcs: Any
    grid: Any  # PSFGrid (the chip's solution)
    lib: Any  # the library PSF model (wings)
    apcor: float
    resid: NDArray  # the chip with the field's stars (and their wings) subtracted, e-
    rms: NDArray
    bad: NDArray
    sat: NDArray
    x: NDArray  # the field's stars on this chip
    y: NDArray
    flux: NDArray
    tree: cKDTree | None


@dataclass
class AstState:
    """Everything :func:`run_fakes` needs, built once per chunk by :func:`prepare_state`."""

    model: FieldModel
    chips: list[_Chip]
    options: Any  # PhotometryOptions
    ref_resid: NDArray  # reference (e-/s) minus sky minus the catalog's stars
    ref_rms: NDArray
    ref_nodata: NDArray
    ref_lib: Any  # detection filter's library PSF
    ref_texp: float  # mean exposure time of the detection filter's chips
    cat_tree: cKDTree
    seconds: dict[str, float] = field(default_factory=dict)


def prepare_state(
    exposures: Sequence[str | Path],
    prepared: Mapping[str, str | Path],
    model: FieldModel,
    catalog: Table,
    options=None,
) -> AstState:
    """Rebuild the engine's state of the reduced field: chips in electrons minus sky,
    aligned WCS, PSF solutions, and the field's stars fitted and subtracted."""
    from scipy.spatial import cKDTree

    from ..photometry.align import apply_offset
    from ..photometry.exposure import load_exposure
    from ..photometry.field import psf_for_exposure
    from ..photometry.options import PhotometryOptions
    from ..photometry.preprocess import read_preprocess
    from ..photometry.psfgrid import PSFGrid
    from ..photometry.psfphot import fit_chip, wing_image
    from ..photometry.psfsolve import psfs_from_arrays
    from ..photometry.sky import estimate_sky

    t0 = time.perf_counter()
    opt = options or PhotometryOptions()
    exps = [load_exposure(p) for p in exposures]
    chips_by_name = {f"{e.rootname}[{c.extver}]": (e, c) for e in exps for c in e.chips}
    missing = [n for n in model.chip if n not in chips_by_name]
    if missing:
        raise DataError(
            f"field {model.field_id}: the model's chips {missing[:5]} are not in the exposures"
        )
    libs, bases = {}, {}
    for e, _c in chips_by_name.values():
        if e.filter not in libs:
            m = psf_for_exposure(e, opt.psf_source)
            libs[e.filter] = m
            r = opt.fit_radius_pix or max(3.0, 2.0 * float(m.fwhm_pix))
            bases[e.filter] = PSFGrid(m, int(np.ceil(r)))
    pairs = [chips_by_name[n] for n in model.chip]
    base = [bases[e.filter] for e, _c in pairs]
    shapes = [c.shape for _e, c in pairs]
    if model.psf is not None:
        solved = psfs_from_arrays(model.psf, base, shapes)
        grids, apcors = [p.grid for p in solved], [float(p.apcor_value) for p in solved]
    else:
        grids, apcors = base, [1.0] * len(base)
    preps = {}
    for e in exps:
        path = prepared.get(e.path.name)
        if path is None:
            raise DataError(f"field {model.field_id}: no preprocessed product for {e.path.name}")
        preps[e.path.name] = {pc.extver: pc for pc in read_preprocess(path).chips}
    ra, dec = np.asarray(catalog["ra"], float), np.asarray(catalog["dec"], float)
    chips = []
    for n, (e, c) in enumerate(pairs):
        pc = preps[e.path.name].get(c.extver)
        if pc is None or pc.mask.shape != c.shape:
            raise DataError(f"{e.path.name}: preprocessing product does not match chip {c.extver}")
        img = (c.sci - pc.sky).astype(np.float64)
        bad = pc.rejected | ~np.isfinite(img)
        sat = (pc.mask & 2) != 0
        ny, nx = c.shape
        w = apply_offset(
            c.wcs,
            np.array([model.dx[n], model.dy[n]]),
            np.radians(model.rot_deg[n]),
            ((nx - 1) / 2, (ny - 1) / 2),
        )
        g = grids[n]
        x, y = w.all_world2pix(ra, dec, 0)
        on = _on_chip(c.shape, x, y, g.radius)
        x, y = x[on], y[on]
        rms = np.asarray(pc.sky_rms, float)
        flux = np.zeros(len(x))
        if len(x):
            first = fit_chip(img, rms, bad, x, y, g)
            f0 = np.where(first.used, first.flux, 0.0)
            img = img - wing_image(
                c.shape, x, y, f0, libs[e.filter], g.radius, sky_rms=float(np.median(rms))
            )
            fit = fit_chip(
                img,
                rms,
                bad,
                x,
                y,
                g,
                saturated=sat,
                max_bad_fraction=opt.max_bad_fraction,
                return_model=True,
            )
            assert fit.model is not None
            img = img - fit.model
            flux = np.nan_to_num(np.where(fit.used, fit.flux, 0.0))
        chips.append(
            _Chip(
                name=model.chip[n],
                filter=e.filter,
                camera=e.camera,
                exptime=float(e.exptime),
                zpt=float(c.zpt_vega),
                wcs=w,
                grid=g,
                lib=libs[e.filter],
                apcor=apcors[n],
                resid=img,
                rms=rms,
                bad=bad,
                sat=sat,
                x=x,
                y=y,
                flux=flux,
                tree=cKDTree(np.c_[x, y]) if len(x) else None,
            )
        )
    # the detection image: the reference minus its sky minus the catalog's stars
    deep = model.filters[0]
    ref = np.asarray(model.ref_image, float)
    nodata = ~np.isfinite(ref)
    rsky, rrms = estimate_sky(ref, nodata, box_pix=opt.sky_box_pix, fwhm_pix=libs[deep].fwhm_pix)
    rate = np.nan_to_num(np.asarray(catalog[f"{deep.lower()}_rate"], float))
    cx, cy = np.asarray(catalog["x"], float), np.asarray(catalog["y"], float)
    known = _render(ref.shape, cx, cy, rate, bases[deep])
    resid_ref = np.where(nodata, 0.0, ref - rsky - known)
    texp = [ch.exptime for ch in chips if ch.filter == deep]
    return AstState(
        model=model,
        chips=chips,
        options=opt,
        ref_resid=resid_ref,
        ref_rms=np.broadcast_to(np.asarray(rrms, float), ref.shape),
        ref_nodata=nodata,
        ref_lib=libs[deep],
        ref_texp=float(np.mean(texp)) if texp else 1.0,
        cat_tree=cKDTree(np.c_[cx, cy]) if len(cx) else cKDTree(np.zeros((1, 2)) - 1e9),
        seconds={"prepare": time.perf_counter() - t0},
    )


def _on_chip(shape, x, y, margin):
    ny, nx = shape
    return (
        (x > -0.5 - margin)
        & (x < nx - 0.5 + margin)
        & (y > -0.5 - margin)
        & (y < ny - 0.5 + margin)
    )


def _render(shape, x, y, flux, grid) -> NDArray:
    """Stamps of ``flux`` at (x, y) on an image of ``shape`` (within the grid's radius)."""
    out = np.zeros(shape)
    if not len(x):
        return out
    ny, nx = shape
    r = grid.radius
    ix, iy, P = grid.stamps(x, y)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    X, Y = ix[:, None, None] + xx, iy[:, None, None] + yy
    inside = (X >= 0) & (X < nx) & (Y >= 0) & (Y < ny)
    np.add.at(out, (Y[inside], X[inside]), (flux[:, None, None] * P)[inside])
    return out


def _add_stamp(img: NDArray, st: NDArray, cx: int, cy: int) -> None:
    """Add a (2R+1)-square stamp centred on pixel (cx, cy) of ``img``, clipped to it."""
    R = st.shape[0] // 2
    ny, nx = img.shape
    ys0, ys1 = max(cy - R, 0), min(cy + R + 1, ny)
    xs0, xs1 = max(cx - R, 0), min(cx + R + 1, nx)
    if ys1 > ys0 and xs1 > xs0:
        img[ys0:ys1, xs0:xs1] += st[ys0 - cy + R : ys1 - cy + R, xs0 - cx + R : xs1 - cx + R]


# ------------------------------------------------------------------------ the tests
def _inject_one(ch: _Chip, fx: float, fy: float, flux: float, rng, opt):
    """Fit the fake at (fx, fy) on chip ``ch``: a window of the residual chip, the fake
    (with noise) and the field's stars whose stamps overlap the window added back."""
    from ..photometry.psfphot import fit_chip, own_wing, wing_fluxes

    g, r = ch.grid, ch.grid.radius
    ny, nx = ch.resid.shape
    half = 3 * r + 2
    ix, iy = int(np.floor(fx + 0.5)), int(np.floor(fy + 0.5))
    x0, x1 = max(ix - half, 0), min(ix + half + 1, nx)
    y0, y1 = max(iy - half, 0), min(iy + half + 1, ny)
    img = ch.resid[y0:y1, x0:x1].copy()
    rms = ch.rms[y0:y1, x0:x1] if ch.rms.ndim == 2 else ch.rms
    bad, sat = ch.bad[y0:y1, x0:x1], ch.sat[y0:y1, x0:x1]
    lx, ly = fx - x0, fy - y0
    # the fake: the chip's PSF in the stamp, the library's wings outside when bright
    fake = _render(img.shape, np.array([lx]), np.array([ly]), np.array([flux]), g)
    sky = float(np.median(rms))
    if wing_fluxes(np.array([flux]), ch.lib, r, WING_RADIUS, sky_rms=sky)[0] > 0:
        R = WING_RADIUS
        _add_stamp(fake, flux * own_wing(ch.lib, fx - ix, fy - iy, r, R), ix - x0, iy - y0)
    img += fake + rng.normal(0.0, 1.0, img.shape) * np.sqrt(np.clip(fake, 0, None))
    # the field's stars whose stamps reach the window
    if ch.tree is not None:
        near = np.asarray(ch.tree.query_ball_point([fx, fy], half + r + 1), int)
    else:
        near = np.zeros(0, int)
    sx, sy = ch.x[near] - x0, ch.y[near] - y0
    img += _render(img.shape, sx, sy, ch.flux[near], g)
    fit = fit_chip(
        img,
        rms,
        bad,
        np.r_[sx, lx],
        np.r_[sy, ly],
        g,
        saturated=sat,
        max_bad_fraction=opt.max_bad_fraction,
    )
    return fit, len(near)


def _detect_one(state: AstState, x: float, y: float, rate: float, rng, opt, ast: AstOptions):
    """Whether the star finder finds the fake on the reference (and the offset)."""
    from ..photometry.detect import detect_stars

    lib = state.ref_lib
    fwhm = float(lib.fwhm_pix)
    H = int(np.ceil(3 * fwhm)) + 6
    ny, nx = state.ref_resid.shape
    ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    x0, x1, y0, y1 = max(ix - H, 0), min(ix + H + 1, nx), max(iy - H, 0), min(iy + H + 1, ny)
    img = state.ref_resid[y0:y1, x0:x1].copy()
    img += _fake_on_reference(state, x, y, rate, (x0, x1, y0, y1), rng)
    found = detect_stars(
        img,
        state.ref_rms[y0:y1, x0:x1],
        fwhm,
        threshold_sigma=opt.detect_threshold_sigma,
        mask=state.ref_nodata[y0:y1, x0:x1],
        min_separation_pix=opt.detect_min_separation_pix,
        sharpness_range=(0.1, 1.5),
        roundness_range=(-1.5, 1.5),
    )
    merged = state.cat_tree.query([x, y])[0] < ast.merge_pix
    if len(found) == 0 or merged:
        return False, np.nan, np.nan
    dx = np.asarray(found["x"], float) + x0 - x
    dy = np.asarray(found["y"], float) + y0 - y
    k = int(np.argmin(np.hypot(dx, dy)))
    if np.hypot(dx[k], dy[k]) > ast.match_pix:
        return False, np.nan, np.nan
    return True, float(dx[k]), float(dy[k])


def _fake_on_reference(state: AstState, x: float, y: float, rate: float, box, rng) -> NDArray:
    """The fake as the reference image shows it: rendered with photon noise on every
    detection-filter chip that covers it (its PSF solution), in e-/s, resampled onto the
    reference grid as the reference is built (bilinear through the aligned WCS), averaged."""
    from scipy.ndimage import map_coordinates

    from ..photometry.psfphot import own_wing

    x0, x1, y0, y1 = box
    vv, uu = np.mgrid[y0:y1, x0:x1]
    ra, dec = state.model.ref_wcs.pixel_to_world_values(uu.ravel(), vv.ravel())
    rx, ry = state.model.ref_wcs.pixel_to_world_values(np.array([x]), np.array([y]))
    total = np.zeros(uu.size)
    count = np.zeros(uu.size)
    deep = state.model.filters[0]
    for ch in state.chips:
        if ch.filter != deep:
            continue
        cx, cy = ch.wcs.all_world2pix(rx, ry, 0)
        cx, cy = float(cx[0]), float(cy[0])
        if not _on_chip(ch.resid.shape, np.array([cx]), np.array([cy]), 0.0)[0]:
            continue
        H = (x1 - x0) // 2 + 4
        ix, iy = int(np.floor(cx + 0.5)), int(np.floor(cy + 0.5))
        win = np.zeros((2 * H + 1, 2 * H + 1))
        flux = rate * ch.exptime  # the fake's PSF-model electrons in this exposure
        # the chip's PSF solution (what the field's stars look like), the library's wings
        win += _render(win.shape, np.array([H + cx - ix]), np.array([H + cy - iy]),
                       np.array([flux]), ch.grid)  # fmt: skip
        r = ch.grid.radius
        _add_stamp(win, flux * own_wing(ch.lib, cx - ix, cy - iy, r, H), H, H)
        win = win + rng.normal(0.0, 1.0, win.shape) * np.sqrt(np.clip(win, 0, None))
        px, py = ch.wcs.all_world2pix(ra, dec, 0)
        lx, ly = px - (ix - H), py - (iy - H)
        inside = (lx >= 0) & (lx <= 2 * H) & (ly >= 0) & (ly <= 2 * H)
        vals = map_coordinates(win / ch.exptime, [ly, lx], order=1, mode="constant", cval=0.0)
        onchip = _on_chip(ch.resid.shape, px, py, 0.0)
        total += np.where(inside, vals, 0.0)
        count += onchip
    return (total / np.maximum(count, 1)).reshape(uu.shape)


def run_fakes(state: AstState, fakes: Table, ast: AstOptions, *, seed: int = 0) -> Table:
    """Inject and measure each fake (see module docstring); one output row per fake:
    the input columns, ``<f>_out``/``_err``/``_snr``/``_flag``/``_crowd``/``_st``/``_gst``
    per filter, ``nmeas``, ``detected``, ``dx``/``dy`` (detection offset, reference
    pixels), ``recovered``. Raises DataError for a fake off the images."""
    from ..photometry.combine import combine_filter
    from ..worker import check_stop

    t0 = time.perf_counter()
    opt, model = state.options, state.model
    filters = model.filters
    n = len(fakes)
    for col in ("fake_id", "x", "y", "ra", "dec", *(f"{f.lower()}_in" for f in filters)):
        if col not in fakes.colnames:
            raise DataError(f"field {model.field_id}: the fakes have no column {col!r}")
    fx_ref, fy_ref = np.asarray(fakes["x"], float), np.asarray(fakes["y"], float)
    off = ~model.covered(fx_ref, fy_ref) | ~np.isfinite(fx_ref) | ~np.isfinite(fy_ref)
    if off.any():
        ids = [int(i) for i in np.asarray(fakes["fake_id"])[off][:5]]
        raise DataError(
            f"field {model.field_id}: fake(s) {ids} are off the images of some filter "
            f"(x, y = {fx_ref[off][0]:.1f}, {fy_ref[off][0]:.1f} on the reference grid)"
        )
    rng = np.random.default_rng([seed, int(np.asarray(fakes["fake_id"])[0]) if n else 0])
    ra, dec = np.asarray(fakes["ra"], float), np.asarray(fakes["dec"], float)
    rows: dict[str, dict[str, list]] = {
        f: {k: [] for k in ("i", "rate", "raterr", "chi", "sharp", "round", "crowd", "flag", "zpt")}
        for f in filters
    }
    cam = {}
    for ch in state.chips:
        cam[ch.filter] = ch.camera
        x, y = ch.wcs.all_world2pix(ra, dec, 0)
        on = np.flatnonzero(_on_chip(ch.resid.shape, x, y, 0.0))
        m_in = np.asarray(fakes[f"{ch.filter.lower()}_in"], float)
        for i in on:
            check_stop("artificial star tests")
            flux = 10 ** (-0.4 * (m_in[i] - ch.zpt)) * ch.exptime / ch.apcor
            fit, _ = _inject_one(ch, float(x[i]), float(y[i]), flux, rng, opt)
            if not fit.used[-1]:
                continue
            d = rows[ch.filter]
            d["i"].append(i)
            d["rate"].append(fit.flux[-1] * ch.apcor / ch.exptime)
            d["raterr"].append(fit.fluxerr[-1] * ch.apcor / ch.exptime)
            for k in ("chi", "sharp", "round", "crowd", "flag"):
                d[k].append(getattr(fit, k)[-1])
            d["zpt"].append(ch.zpt)
    t1 = time.perf_counter()
    out = Table(fakes, copy=True)
    for f in filters:
        d, p = rows[f], f.lower()
        meas = Table({k: np.asarray(v, float) for k, v in d.items() if k not in ("i", "zpt")})
        if len(meas):
            meas["flag"] = np.asarray(d["flag"], int)
            comb = combine_filter(
                np.asarray(d["i"], int), n, meas, np.asarray(d["zpt"]), cam[f], opt
            )
        else:
            comb = {
                "vega": np.full(n, np.nan), "err": np.full(n, np.nan), "snr": np.zeros(n),
                "flag": np.zeros(n, int), "crowd": np.full(n, np.nan),
                "st": np.zeros(n, bool), "gst": np.zeros(n, bool), "nmeas": np.zeros(n, int),
            }  # fmt: skip
        vega = np.asarray(comb["vega"], float)
        vega = np.where(np.isfinite(vega) & (vega < 90), vega, np.nan)
        out[f"{p}_out"] = vega.astype(np.float32)
        out[f"{p}_err"] = np.asarray(comb["err"], np.float32)
        out[f"{p}_snr"] = np.asarray(comb["snr"], np.float32)
        out[f"{p}_flag"] = np.asarray(comb["flag"], np.int16)
        out[f"{p}_crowd"] = np.asarray(comb["crowd"], np.float32)
        out[f"{p}_nmeas"] = np.asarray(comb["nmeas"], np.int32)
        out[f"{p}_st"] = np.asarray(comb["st"], bool)
        out[f"{p}_gst"] = np.asarray(comb["gst"], bool)
    deep = filters[0].lower()
    rate_in = 10 ** (-0.4 * np.asarray(fakes[f"{deep}_in"], float))
    # the reference is in e-/s of PSF-model flux: the first detection-filter chip's scale
    first = next(ch for ch in state.chips if ch.filter == filters[0])
    zp = first.zpt - 2.5 * np.log10(first.apcor)
    det = np.zeros(n, bool)
    ddx, ddy = np.full(n, np.nan), np.full(n, np.nan)
    for j in range(n):
        check_stop("artificial star tests")
        det[j], ddx[j], ddy[j] = _detect_one(
            state, float(fx_ref[j]), float(fy_ref[j]), float(rate_in[j]) * 10 ** (0.4 * zp),
            rng, opt, ast,
        )  # fmt: skip
    out["detected"] = det
    # the field's catalog stars per arcsec^2 within DENSITY_RADIUS of each fake
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(model.ref_wcs))) * 3600
    near = state.cat_tree.query_ball_point(
        np.c_[fx_ref, fy_ref], DENSITY_RADIUS, return_length=True
    )
    out["density"] = (np.asarray(near, float) / (np.pi * (DENSITY_RADIUS * scale) ** 2)).astype(
        np.float32
    )
    out["dx"], out["dy"] = ddx.astype(np.float32), ddy.astype(np.float32)
    dm = np.asarray(out[f"{deep}_out"], float) - np.asarray(fakes[f"{deep}_in"], float)
    out["recovered"] = det & np.isfinite(dm) & (np.abs(np.nan_to_num(dm, nan=99)) <= ast.dmag_max)
    state.seconds["photometry"] = state.seconds.get("photometry", 0.0) + t1 - t0
    state.seconds["detection"] = state.seconds.get("detection", 0.0) + time.perf_counter() - t1
    return out
