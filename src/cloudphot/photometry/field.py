"""Reduction of one field: all exposures of one target, every filter, to two tables.

Stages (timings recorded under these names):

``load``        read and validate every exposure (``InvalidExposure``);
``preprocess``  DQ masks, cosmic rays, sky per exposure (:mod:`.preprocess`);
``align``       shift (or shift+rotation) of every chip to the astrometric
                reference exposure, through matched bright stars (:mod:`.align`);
``reference``   combined image of the deepest filter (:mod:`.reference`), and of
                every other filter on its grid;
``detect``      DAOStarFinder (:mod:`.detect`) on the significance of all filters
                together (``detect_all_filters``; else the deepest filter's
                reference), plus saturated stars as centroids of saturated regions;
                ``NoStars`` if empty;
``recenter``    joint flux + position fits of every chip; the position corrections
                are averaged over all exposures in the reference frame (inverse
                variance weights) and the star positions updated;
``psf``         after the first recentering: the PSF of every exposure chip from
                its bright isolated stars (:mod:`.psfsolve`: a correction to the
                library PSF varying over the chip, pooled per filter and chip, then
                per exposure, and an aperture correction), used from then on;
``detect_residual``  detection on the residuals (data minus the fitted model) of
                all filters, combined the same way (faint stars, close companions),
                then recentering again;
``photometry``  final simultaneous fixed-position PSF fit of every chip and the
                quality metrics (:mod:`.psfphot`); then each exposure's own star
                positions (a position fit from there: the measurements' ra/dec, which
                give the catalog's proper motions);
``combine``     per-filter combination and ``st``/``gst`` culling (:mod:`.combine`).

Before every fit the outer PSF wings of the chip's bright stars (beyond the
fitting stamp) are subtracted (:func:`.psfphot.wing_image`).
Positions: catalog x/y are on the reference grid; measurement x/y are where the
star is on each chip (through the aligned WCS); ra/dec are in the frame chosen by
``PhotometryOptions.align_frame``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

from cloudphot import products
from cloudphot.errors import ConfigError, DataError, NoStars

from .align import Alignment, align_chip, apply_offset, bright_star_positions
from .combine import combine_filter, rate_to_mag
from .detect import detect_stars, saturated_stars
from .exposure import Exposure, load_exposure
from .options import PhotometryOptions
from .preprocess import PreprocessResult, preprocess_exposure, read_preprocess
from .psfgrid import PSFGrid, PSFLike
from .psfphot import fit_chip, wing_fluxes, wing_image
from .psfsolve import ChipInput, ChipPSF, psfs_from_arrays, psfs_to_arrays, solve_field_psfs
from .reference import Reference, build_reference
from .sky import estimate_sky, residual_sky

__all__ = ["FieldReduction", "StageStore", "psf_for_exposure", "reduce_field"]

Progress = Callable[[str, int, int], None]
#: most Gauss-Newton steps of the per-exposure position fit (see exposure_positions)
EXPOSURE_POSITION_STEPS = 3


class StageStore(Protocol):
    """Saved stage results of one reduction (``reduce_field(checkpoint=...)``)."""

    def load_arrays(self, stage: str) -> dict[str, np.ndarray] | None: ...

    def save_arrays(self, stage: str, arrays: Mapping[str, object]) -> None: ...


@dataclass(eq=False)
class FieldReduction:
    """Result of :func:`reduce_field`.

    Attributes
    ----------
    field_id : str
    filters : list of str
        Filters in catalog order (deepest first, then by name).
    measurements : astropy.table.Table
        One row per star per exposure chip covering it; exactly
        ``products.MEASUREMENT_COLUMNS`` in that order.
    catalog : astropy.table.Table
        One row per star; ``products.field_catalog_columns(filters)``.
        ``star_id`` is the 1-based row number.
    reference : Reference
        Detection image (e-/s) and its WCS; catalog ``x``/``y`` are on it.
    alignment : astropy.table.Table
        Per exposure chip: exposure_id, chip, dx, dy (pixels), rot_deg, nmatch, rms_pix.
    timings : dict of str -> float
        Seconds per stage.
    psfs : list of ChipPSF or None
        Each chip's PSF solution (alignment's row order); None where the library PSF
        was used. Artificial star tests inject fakes with them (:mod:`cloudphot.asts`).
    """

    field_id: str
    filters: list[str]
    measurements: Table
    catalog: Table
    reference: Reference
    alignment: Table
    timings: dict[str, float] = field(default_factory=dict)
    psfs: list[ChipPSF | None] = field(default_factory=list)


def psf_for_exposure(exp: Exposure, source: str = "auto") -> PSFLike:
    """The library PSF of an exposure's instrument/detector/filter (``cloudphot.psf``)."""
    try:
        from cloudphot.psf import psf_for  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ConfigError("cloudphot.psf is not available; pass psfs={filter: model}") from exc
    return psf_for(exp.instrument, exp.detector, exp.filter, source=source)


def _field_id(exp: Exposure) -> str:
    """The pipeline's field id of an exposure (``cloudphot.fits`` rule when available)."""
    try:
        from cloudphot.fits.exposure import field_id_from_target
    except ImportError:  # pragma: no cover - the reader is part of the package
        return re.sub(r"[^a-z0-9]+", "-", exp.target.lower()).strip("-") or "unknown"
    return field_id_from_target(exp.target)


def _check_same_field(exps: list[Exposure]) -> None:
    targets: dict[str, list[str]] = {}
    for e in exps:
        targets.setdefault(e.target or "?", []).append(e.path.name)
    named = {t: v for t, v in targets.items() if t != "?"}
    if len(named) > 1:
        desc = "; ".join(
            f"{t}: {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}" for t, v in named.items()
        )
        raise DataError(f"exposures of different targets cannot be reduced as one field ({desc})")


def _footprints_overlap(a: Exposure, b: Exposure) -> bool:
    """Whether any chip of ``b`` has its centre within (chip diagonal) of a chip of ``a``."""
    for ca in a.chips:
        ny, nx = ca.shape
        for cb in b.chips:
            nyb, nxb = cb.shape
            ra, dec = cb.wcs.pixel_to_world_values((nxb - 1) / 2, (nyb - 1) / 2)
            x, y = ca.wcs.world_to_pixel_values(ra, dec)
            if -nxb / 2 < x < nx + nxb / 2 and -nyb / 2 < y < ny + nyb / 2:
                return True
    return False


def reduce_field(
    exposures: Sequence[str | Path],
    *,
    workdir: Path | None = None,
    options: PhotometryOptions | None = None,
    progress: Progress | None = None,
    psfs: Mapping[str, PSFLike] | None = None,
    field_id: str | None = None,
    preprocessed: Mapping[str, str | Path] | None = None,
    checkpoint: StageStore | None = None,
) -> FieldReduction:
    """Reduce all exposures of one field into measurements and a field catalog.

    Parameters
    ----------
    exposures : sequence of path
        Calibrated flc/flt files of one target (any filters/cameras).
    workdir : Path, optional
        Where to keep intermediate products (``prep/<rootname>_prep.fits``,
        reused on a rerun, and ``reference.fits``).
    options : PhotometryOptions, optional
        Science tunables.
    progress : callable, optional
        Called as ``progress(stage, done, total)``.
    psfs : mapping of filter name -> PSF model, optional
        PSF per filter (upper case, e.g. ``F814W``); default ``cloudphot.psf.psf_for``.
    field_id : str, optional
        Default: from the target name as ``cloudphot.fits`` derives it
        (``M31-B15-F09`` -> ``m31-b15-f09``).
    preprocessed : mapping of exposure file name -> product path, optional
        Products of :func:`preprocess_exposure` already computed (e.g. by the
        Map of Lambda steps).
    checkpoint : StageStore, optional
        Where to save each stage's result (alignment, the star list after
        detection and after every recentering pass, each chip's photometry) and
        to find those of an earlier, interrupted run with the same inputs: a
        rerun resumes after the last saved stage (e.g.
        :class:`cloudphot.checkpoints.Checkpoints`).

    Raises
    ------
    InvalidExposure
        An exposure is unusable.
    DataError
        Exposures of different targets, non-overlapping footprints, too few
        stars to align an exposure, or no exposures.
    NoStars
        Nothing detected on the reference image.
    """
    opt = options or PhotometryOptions()
    timings: dict[str, float] = {}
    report = progress or (lambda stage, done, total: None)
    if not exposures:
        raise DataError("no exposures given")

    t0 = time.perf_counter()
    exps = [load_exposure(p) for p in exposures]
    _check_same_field(exps)
    fid = field_id or _field_id(exps[0])
    timings["load"] = time.perf_counter() - t0

    # PSF lookup tables per filter
    models: dict[str, PSFLike] = {}
    for e in exps:
        if e.filter not in models:
            models[e.filter] = (
                psfs[e.filter] if psfs and e.filter in psfs else psf_for_exposure(e, opt.psf_source)
            )
    grids = {}
    for f, m in models.items():
        r = opt.fit_radius_pix or max(3.0, 2.0 * float(m.fwhm_pix))
        grids[f] = PSFGrid(m, int(np.ceil(r)))

    # deepest filter and astrometric reference exposure
    depth: dict[str, float] = {}
    for e in exps:
        depth[e.filter] = depth.get(e.filter, 0.0) + e.exptime
    deep = max(sorted(depth), key=lambda f: depth[f])
    filters = [deep] + sorted(f for f in depth if f != deep)
    ref_exp = max((e for e in exps if e.filter == deep), key=lambda e: e.exptime)
    for e in exps:
        if not _footprints_overlap(ref_exp, e):
            raise DataError(
                f"{e.path.name} does not overlap {ref_exp.path.name}: not the same field"
            )

    # ---- preprocess --------------------------------------------------------
    t0 = time.perf_counter()
    preps: list[PreprocessResult | None] = [None] * len(exps)
    todo = []
    for k, e in enumerate(exps):
        given = (preprocessed or {}).get(e.path.name)
        cache = Path(workdir) / "prep" / f"{e.rootname}_prep.fits" if workdir else None
        if given is not None:
            preps[k] = read_preprocess(given)
        elif cache is not None and cache.exists():
            preps[k] = read_preprocess(cache)
        else:
            todo.append((k, cache))
    if opt.workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=opt.workers) as pool:
            futs = {
                pool.submit(
                    preprocess_exposure,
                    exps[k].path,
                    options=opt,
                    fwhm_pix=float(models[exps[k].filter].fwhm_pix),
                    output=cache,
                ): k
                for k, cache in todo
            }
            for done, fut in enumerate(as_completed(futs)):
                preps[futs[fut]] = fut.result()
                report("preprocess", done + 1, len(todo))
    else:
        for done, (k, cache) in enumerate(todo):
            e = exps[k]
            preps[k] = preprocess_exposure(
                e, options=opt, fwhm_pix=float(models[e.filter].fwhm_pix), output=cache
            )
            report("preprocess", done + 1, len(todo))
    timings["preprocess"] = time.perf_counter() - t0

    chips = []  # (exposure index, Chip, image_e (sky-subtracted), rms, bad, saturated)
    for k, (e, p) in enumerate(zip(exps, preps)):
        bych = {c.extver: c for c in p.chips}
        for c in e.chips:
            pc = bych.get(c.extver)
            if pc is None or pc.mask.shape != c.shape:
                raise DataError(
                    f"{e.path.name}: preprocessing product does not match chip {c.extver}"
                )
            img = (c.sci - pc.sky).astype(np.float32)
            chips.append(
                (k, c, img, pc.sky_rms, pc.rejected | ~np.isfinite(img), (pc.mask & 2) != 0)
            )

    # ---- align -----------------------------------------------------------
    t0 = time.perf_counter()
    chip_ids = [f"{exps[k].rootname}[{c.extver}]" for k, c, *_ in chips]
    saved = checkpoint.load_arrays("align") if checkpoint is not None else None
    if saved is None or list(saved["chip"]) != chip_ids:
        fitted = _align(chips, exps, ref_exp, grids, opt, fid, report)
        saved = {"chip": chip_ids, **{a: [getattr(al, a) for al in fitted] for a in _ALIGNED}}
        if checkpoint is not None:
            checkpoint.save_arrays("align", saved)
    # fresh or resumed, the aligned WCS are built from the same numbers: identical results
    als = [
        Alignment(
            float(dx),
            float(dy),
            float(rot),
            int(nm),
            float(rms),
            apply_offset(
                c.wcs,
                np.array([dx, dy]),
                np.radians(rot),
                ((c.shape[1] - 1) / 2, (c.shape[0] - 1) / 2),
            ),
        )
        for (_k, c, *_), dx, dy, rot, nm, rms in zip(chips, *(saved[a] for a in _ALIGNED))
    ]
    wcs_aligned = [al.wcs for al in als]
    arows = [
        (exps[k].rootname, c.extver, al.dx, al.dy, al.rot_deg, al.nmatch, al.rms_pix)
        for (k, c, *_), al in zip(chips, als)
    ]
    alignment = Table(
        rows=arows, names=["exposure_id", "chip", "dx", "dy", "rot_deg", "nmatch", "rms_pix"]
    )
    timings["align"] = time.perf_counter() - t0

    # ---- reference image and detection -------------------------------------
    t0 = time.perf_counter()
    sel = [n for n, ch in enumerate(chips) if exps[ch[0]].filter == deep]
    ref = build_reference(
        [chips[n][2] / exps[chips[n][0]].exptime for n in sel],
        [chips[n][4] for n in sel],
        [wcs_aligned[n] for n in sel],
        saturated=[chips[n][5] for n in sel],
    )
    timings["reference"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    nodata = ~np.isfinite(ref.image)
    rsky, rrms = estimate_sky(
        ref.image, nodata, box_pix=opt.sky_box_pix, fwhm_pix=models[deep].fwhm_pix
    )
    # star lists saved after detection, each recentering pass and the residual pass:
    # resume after the last one saved
    star_stages = ["stars-detect"] + [
        f"stars-recenter{i + 1}" for i in range(opt.recenter_iterations)
    ]
    star_stages += ["stars-residual"] if opt.detect_residual_pass else []
    done, xr, yr = _last_star_list(checkpoint, star_stages)
    by_filter = {f: [n for n, ch in enumerate(chips) if exps[ch[0]].filter == f] for f in filters}
    all_filters = opt.detect_all_filters and len(filters) > 1

    def significance(images: Mapping[str, np.ndarray]) -> np.ndarray:
        """Sum over filters of (image - sky) / sky rms, over sqrt(filters with data)."""
        return _significance(images, nodata, opt, {f: float(models[f].fwhm_pix) for f in images})

    def filter_reference(f, images):
        """Rate images of filter ``f``'s chips combined on the detection grid."""
        return build_reference(
            images,
            [chips[n][4] for n in by_filter[f]],
            [wcs_aligned[n] for n in by_filter[f]],
            grid=(ref.wcs, ref.image.shape),
        ).image

    if done < 0:
        if all_filters:
            t1 = time.perf_counter()
            refs = {deep: ref.image}
            for f in filters[1:]:
                refs[f] = filter_reference(
                    f, [chips[n][2] / exps[chips[n][0]].exptime for n in by_filter[f]]
                )
            timings["reference"] += time.perf_counter() - t1
            det_image, det_rms = np.nan_to_num(significance(refs)), 1.0
        else:
            det_image, det_rms = ref.image - rsky, rrms
        found = detect_stars(
            np.where(nodata, 0.0, det_image),
            det_rms,
            float(models[deep].fwhm_pix),
            threshold_sigma=opt.detect_threshold_sigma,
            mask=nodata,
            min_separation_pix=opt.detect_min_separation_pix,
        )
        if len(found) == 0:
            on = f"all {len(filters)} filters'" if all_filters else f"the {deep}"
            raise NoStars(
                f"field {fid}: no stars above {opt.detect_threshold_sigma} sigma on {on} "
                f"reference image ({len(sel) if not all_filters else len(chips)} chips)"
            )
        xr = np.asarray(found["x"], float)
        yr = np.asarray(found["y"], float)
        # saturated stars: centroids of saturated regions replace the detections around them
        sx, sy, srad = saturated_stars(ref.saturated, float(models[deep].fwhm_pix))
        if len(sx):
            near = np.zeros(len(xr), bool)
            for a, b, rad in zip(sx, sy, srad):
                near |= np.hypot(xr - a, yr - b) < rad
            xr = np.concatenate([sx, xr[~near]])
            yr = np.concatenate([sy, yr[~near]])
        _save_star_list(checkpoint, star_stages[0], xr, yr)
    timings["detect"] = time.perf_counter() - t0
    if workdir is not None:
        hdr = ref.wcs.to_header()
        hdr["BUNIT"] = "ELECTRONS/S"
        hdr["FILTER"] = deep
        Path(workdir).mkdir(parents=True, exist_ok=True)
        fits.HDUList(
            [fits.PrimaryHDU(ref.image, hdr), fits.ImageHDU(ref.nexp, name="NEXP")]
        ).writeto(Path(workdir) / "reference.fits", overwrite=True)

    # ---- recentering passes --------------------------------------------------
    t0 = time.perf_counter()

    cgrids: list[PSFGrid] = [grids[exps[ch[0]].filter] for ch in chips]
    chip_psfs: list[ChipPSF | None] = [None] * len(chips)

    def dewinged(n, img, rms, bad, x, y, with_fluxes=False, resky=False):
        """The chip with the outer wings of its bright stars subtracted (and the flux
        each star's wing was subtracted with, when ``with_fluxes``); with ``resky``
        also the sky left in the residuals of that first fit (:func:`.sky.residual_sky`)."""
        k, c = chips[n][0], chips[n][1]
        g = cgrids[n]
        first = fit_chip(img, rms, bad, x, y, g, return_model=resky)
        flux = np.where(first.used, first.flux, 0.0)
        model, sky_rms = models[exps[k].filter], float(np.median(rms))
        wings = wing_image(c.shape, x, y, flux, model, g.radius, sky_rms=sky_rms)
        if resky:
            clean = img - wings
            return clean - residual_sky(clean - first.model, bad, box_pix=opt.sky_box_pix)
        if not with_fluxes:
            return img - wings
        return img - wings, wing_fluxes(flux, model, g.radius, 25, sky_rms=sky_rms)

    def on_chip(c, x, y, margin):
        ny, nx = c.shape
        return (
            (x > -0.5 - margin)
            & (x < nx - 0.5 + margin)
            & (y > -0.5 - margin)
            & (y < ny - 0.5 + margin)
        )

    def recenter(xr, yr, label):
        """One joint position update of every star from all exposures of all filters.

        Each chip's fit gives, per star, the linear shift parameters ``a = flux * dx``
        (chip pixels) and their variance; mapped into the reference frame (the local
        Jacobian of chip -> reference pixels) they are combined over all exposures as
        ``sum(f J a / var) / sum(f^2 / var)`` (f the exposure's flux, >= 0): the
        inverse-variance mean of the per-exposure shifts, which stays stable for
        stars far too faint to be centred on any single exposure.
        """
        ra, dec = ref.wcs.pixel_to_world_values(xr, yr)
        numx = np.zeros(len(xr))
        numy = np.zeros(len(xr))
        den = np.zeros(len(xr))
        for n, (_k, c, img, rms, bad, _sat) in enumerate(chips):
            g = cgrids[n]
            w = wcs_aligned[n]
            x, y = w.all_world2pix(ra, dec, 0)
            idx = np.flatnonzero(on_chip(c, x, y, g.radius))
            if len(idx) == 0:
                continue
            fit = fit_chip(
                dewinged(n, img, rms, bad, x[idx], y[idx]),
                rms,
                bad,
                x[idx],
                y[idx],
                g,
                fit_positions=True,
                position_snr_min=opt.recenter_snr_min,
            )
            ok = (
                np.isfinite(fit.shift_x)
                & (fit.shift_var > 0)
                & np.isfinite(fit.flux)
                & ((fit.flag & 9) == 0)
            )
            j = idx[ok]
            # Jacobian of chip -> reference pixels at each star
            x0, y0 = x[j], y[j]
            pts = [w.all_pix2world(x0 + ddx, y0 + ddy, 0) for ddx, ddy in ((0, 0), (1, 0), (0, 1))]
            (u0, v0), (u1, v1), (u2, v2) = (ref.wcs.world_to_pixel_values(a, d) for a, d in pts)
            j11, j21, j12, j22 = u1 - u0, v1 - v0, u2 - u0, v2 - v0
            det = np.abs(j11 * j22 - j12 * j21)
            f = np.clip(fit.flux[ok], 0.0, None)
            var = fit.shift_var[ok] * det
            ax, ay = fit.shift_x[ok], fit.shift_y[ok]
            np.add.at(numx, j, f * (j11 * ax + j12 * ay) / var)
            np.add.at(numy, j, f * (j21 * ax + j22 * ay) / var)
            np.add.at(den, j, f * f / var)
            report(label, n + 1, len(chips))
        has = den > 0
        xr = xr.copy()
        yr = yr.copy()
        xr[has] += np.clip(numx[has] / den[has], -1.0, 1.0)
        yr[has] += np.clip(numy[has] / den[has], -1.0, 1.0)
        return xr, yr

    def solve_psfs(xr, yr):
        """PSF from the data for every chip (:mod:`.psfsolve`), at the current positions."""
        ra, dec = ref.wcs.pixel_to_world_values(xr, yr)
        inputs = []
        for n, (k, c, img, rms, bad, sat) in enumerate(chips):
            x, y = wcs_aligned[n].all_world2pix(ra, dec, 0)
            idx = np.flatnonzero(on_chip(c, x, y, cgrids[n].radius))
            image, wing_flux = dewinged(n, img, rms, bad, x[idx], y[idx], with_fluxes=True)
            inputs.append(
                ChipInput(
                    group=(exps[k].filter, exps[k].camera, c.extver),
                    image=image,
                    wing_flux=wing_flux,
                    rms=rms,
                    bad=bad,
                    saturated=sat,
                    x=x[idx],
                    y=y[idx],
                )
            )
        base = {i.group: grids[i.group[0]] for i in inputs}
        lib = {i.group: models[i.group[0]] for i in inputs}
        return solve_field_psfs(
            inputs,
            base,
            lib,
            snr_min=opt.psf_star_snr,
            per_exposure=opt.psf_per_exposure,
            progress=lambda d, t: report("psf", d, t),
        )

    for it in range(opt.recenter_iterations):
        if done < it + 1:
            xr, yr = recenter(xr, yr, f"recenter{it + 1}")
            _save_star_list(checkpoint, star_stages[it + 1], xr, yr)
        if it == 0 and opt.psf_from_data:
            # always at the first pass's positions, so a resumed run solves the same PSF
            xp, yp = (xr, yr) if done < 1 else _star_list(checkpoint, star_stages[1])
            t1 = time.perf_counter()
            saved = checkpoint.load_arrays("psf") if checkpoint is not None else None
            if saved is None:
                chip_psfs = solve_psfs(xp, yp)
                if checkpoint is not None:
                    checkpoint.save_arrays("psf", psfs_to_arrays(chip_psfs))
            else:
                chip_psfs = psfs_from_arrays(saved, cgrids, [ch[1].shape for ch in chips])
            cgrids = [cp.grid for cp in chip_psfs]
            timings["psf"] = time.perf_counter() - t1
    timings["recenter"] = time.perf_counter() - t0 - timings.get("psf", 0.0)

    if opt.detect_residual_pass and done < len(star_stages) - 1:
        t0 = time.perf_counter()
        ra, dec = ref.wcs.pixel_to_world_values(xr, yr)

        def residuals(nums):
            out = []
            for n in nums:
                k, c, img, rms, bad, _sat = chips[n]
                g = cgrids[n]
                x, y = wcs_aligned[n].all_world2pix(ra, dec, 0)
                idx = np.flatnonzero(on_chip(c, x, y, g.radius))
                if len(idx):
                    clean = dewinged(n, img, rms, bad, x[idx], y[idx])
                    model = fit_chip(clean, rms, bad, x[idx], y[idx], g, return_model=True).model
                    out.append((clean - model) / exps[k].exptime)
                else:
                    out.append(img / exps[k].exptime)
            return out

        if all_filters:
            rimage = significance(
                {f: filter_reference(f, residuals(by_filter[f])) for f in filters}
            )
            rimage, r_rms = np.nan_to_num(rimage), 1.0
        else:
            rref = build_reference(
                residuals(sel), [chips[n][4] for n in sel], [wcs_aligned[n] for n in sel]
            )
            rimage, r_rms = np.nan_to_num(rref.image - rsky), rrms
        found2 = detect_stars(
            np.where(nodata, 0.0, rimage),
            r_rms,
            float(models[deep].fwhm_pix),
            threshold_sigma=opt.detect_threshold_sigma,
            mask=nodata,
            min_separation_pix=opt.detect_min_separation_pix,
            sharpness_range=(0.1, 1.5),
            roundness_range=(-1.5, 1.5),
        )
        if len(found2):
            x2 = np.asarray(found2["x"], float)
            y2 = np.asarray(found2["y"], float)
            dist, _ = cKDTree(np.c_[xr, yr]).query(np.c_[x2, y2])
            new = dist > 1.0
            if new.any():
                xr = np.concatenate([xr, x2[new]])
                yr = np.concatenate([yr, y2[new]])
                xr, yr = recenter(xr, yr, "recenter-residual")
        _save_star_list(checkpoint, star_stages[-1], xr, yr)
        timings["detect_residual"] = time.perf_counter() - t0

    # stars that converged onto each other are one star (keep the earlier, brighter one)
    pairs = cKDTree(np.c_[xr, yr]).query_pairs(0.5, output_type="ndarray")
    if len(pairs):
        drop = np.zeros(len(xr), bool)
        drop[np.max(pairs, axis=1)] = True
        xr, yr = xr[~drop], yr[~drop]

    def exposure_positions(n, clean, rms, bad, sat, xi, yi, g, rep, ra0, dec0):
        """Where each star is on this exposure (for proper motions): Gauss-Newton steps of
        the joint position fit from the photometry's fixed positions, until they move
        less than 0.01 pix (at most :data:`EXPOSURE_POSITION_STEPS`). Stars the fit
        cannot place (S/N below fit_chip's position_snr_min, flag 8) or that wander
        beyond 1.5 pix keep the fixed position. ``clean`` is the chip with its bright
        stars' outer wings subtracted at the fixed positions (the photometry's own): the
        steps move stars by < 0.5 pix, which changes wings beyond the fitting stamp by
        far less than the noise, so they are not rebuilt at every step."""
        xi, yi = xi.astype(float), yi.astype(float)
        x0, y0 = xi.copy(), yi.copy()
        for _ in range(EXPOSURE_POSITION_STEPS):
            pf = fit_chip(
                clean,
                rms,
                bad,
                xi,
                yi,
                g,
                saturated=sat,
                fit_positions=True,
                max_bad_fraction=opt.max_bad_fraction,
            )
            ok = np.isfinite(pf.dx) & np.isfinite(pf.dy) & ((pf.flag & 8) == 0)
            step_x = np.where(ok, np.clip(pf.dx, -0.5, 0.5), 0.0)
            step_y = np.where(ok, np.clip(pf.dy, -0.5, 0.5), 0.0)
            xi, yi = xi + step_x, yi + step_y
            if np.max(np.abs(np.r_[step_x, step_y]), initial=0.0) < 0.01:
                break
        xs, ys = xi[rep], yi[rep]
        good = np.hypot(xs - x0[rep], ys - y0[rep]) <= 1.5
        a, d = wcs_aligned[n].all_pix2world(xs, ys, 0)
        return np.where(good, a, ra0), np.where(good, d, dec0)

    # ---- final photometry ----------------------------------------------------
    t0 = time.perf_counter()
    nstar = len(xr)
    ra, dec = ref.wcs.pixel_to_world_values(xr, yr)
    cols: dict[str, list] = {c: [] for c in products.MEASUREMENT_COLUMNS}
    zpts: list[np.ndarray] = []
    for n, (k, c, img, rms, bad, sat) in enumerate(chips):
        e = exps[k]
        g = cgrids[n]
        saved = checkpoint.load_arrays(f"photometry-chip{n}") if checkpoint is not None else None
        if saved is not None:  # this chip was photometered before the interruption
            for name, parts in cols.items():
                parts.append(saved[name])
            zpts.append(saved["_zpt"])
            report("photometry", n + 1, len(chips))
            continue
        x, y = wcs_aligned[n].all_world2pix(ra, dec, 0)
        idx = np.flatnonzero(on_chip(c, x, y, g.radius))
        if len(idx) == 0:
            continue
        clean = dewinged(n, img, rms, bad, x[idx], y[idx], resky=opt.sky_from_residuals)
        fit = fit_chip(
            clean,
            rms,
            bad,
            x[idx],
            y[idx],
            g,
            saturated=sat,
            max_bad_fraction=opt.max_bad_fraction,
        )
        rep = on_chip(c, x[idx], y[idx], 0.0) & fit.used
        j = idx[rep]
        m = len(j)
        ra_m, dec_m = exposure_positions(
            n, clean, rms, bad, sat, x[idx], y[idx], g, rep, ra[j], dec[j]
        )
        scale = chip_psfs[n].apcor(x[j], y[j]) if chip_psfs[n] is not None else 1.0
        rate = fit.flux[rep] * scale / e.exptime
        raterr = fit.fluxerr[rep] * scale / e.exptime
        vega, err = rate_to_mag(rate, raterr, c.zpt_vega)
        vals = {
            "field_id": [fid] * m,
            "star_id": j + 1,
            "exposure_id": [e.rootname] * m,
            "image": [e.path.name] * m,
            "chip": np.full(m, c.extver),
            "filter": [e.filter] * m,
            "mjd": np.full(m, e.mjd),
            "exptime": np.full(m, e.exptime),
            "x": x[j],
            "y": y[j],
            "ra": ra_m,
            "dec": dec_m,
            "rate": rate,
            "raterr": raterr,
            "vega": vega,
            "err": err,
            "chi": fit.chi[rep],
            "snr": np.where(raterr > 0, rate / raterr, 0.0),
            "sharp": fit.sharp[rep],
            "round": fit.round[rep],
            "crowd": fit.crowd[rep],
            "flag": fit.flag[rep],
        }
        for name, parts in cols.items():
            parts.append(np.asarray(vals[name]))
        zpts.append(np.full(m, c.zpt_vega))
        if checkpoint is not None:
            checkpoint.save_arrays(
                f"photometry-chip{n}", {**{k: v[-1] for k, v in cols.items()}, "_zpt": zpts[-1]}
            )
        report("photometry", n + 1, len(chips))
    meas = Table()
    for name, (dtype, unit, desc) in products.MEASUREMENT_COLUMNS.items():
        arr = np.concatenate(cols[name]) if cols[name] else np.empty(0)
        meas[name] = np.asarray(arr).astype(dtype)
        meas[name].unit = unit or None
        meas[name].description = desc
    zpt_all = np.concatenate(zpts) if zpts else np.empty(0)
    timings["photometry"] = time.perf_counter() - t0

    # ---- combine + cull --------------------------------------------------------
    t0 = time.perf_counter()
    camera = {e.filter: e.camera for e in exps}
    cat = Table()
    base = {
        "field_id": np.full(nstar, fid),
        "star_id": np.arange(1, nstar + 1),
        "ra": ra,
        "dec": dec,
        "x": xr,
        "y": yr,
        "nexp": np.bincount(np.asarray(meas["star_id"]) - 1, minlength=nstar),
    }
    for name, (dtype, unit, desc) in products.FIELD_COLUMNS.items():
        cat[name] = np.asarray(base[name]).astype(dtype)
        cat[name].unit = unit or None
        cat[name].description = desc
    filt_col = np.asarray(meas["filter"])
    for f in filters:
        mk = filt_col == f
        comb = combine_filter(
            np.asarray(meas["star_id"])[mk] - 1, nstar, meas[mk], zpt_all[mk], camera[f], opt
        )
        for name, (dtype, unit, desc) in products.PER_FILTER_COLUMNS.items():
            col = f"{f.lower()}_{name}"
            cat[col] = np.asarray(comb[name]).astype(dtype)
            cat[col].unit = unit or None
            cat[col].description = f"{f}: {desc}"
    assert cat.colnames == products.field_catalog_columns(filters)
    timings["combine"] = time.perf_counter() - t0
    return FieldReduction(fid, filters, meas, cat, ref, alignment, timings, list(chip_psfs))


def _significance(
    images: Mapping[str, np.ndarray],
    nodata: np.ndarray,
    opt: PhotometryOptions,
    fwhm: Mapping[str, float],
) -> np.ndarray:
    """Detection image of several filters on one grid: per filter ``(image - sky) / rms``
    (:func:`.sky.estimate_sky` of that image), summed and divided by the square root of
    the number of filters with data at each pixel (unit-variance noise); NaN where none."""
    total = np.zeros(nodata.shape, np.float64)
    count = np.zeros(nodata.shape, np.int16)
    for f, im in images.items():
        nod = ~np.isfinite(im)
        if nod.all():
            continue
        sky, rms = estimate_sky(im, nod, box_pix=opt.sky_box_pix, fwhm_pix=fwhm[f])
        ok = ~nod & (rms > 0)
        total[ok] += (im[ok] - sky[ok]) / rms[ok]
        count[ok] += 1
    out = np.full(nodata.shape, np.nan)
    has = count > 0
    out[has] = total[has] / np.sqrt(count[has])
    return out


def _last_star_list(
    checkpoint: StageStore | None, stages: list[str]
) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """(index in ``stages``, x, y) of the last star list saved, or (-1, None, None)."""
    if checkpoint is not None:
        for i in range(len(stages) - 1, -1, -1):
            saved = checkpoint.load_arrays(stages[i])
            if saved is not None:
                return i, saved["x"], saved["y"]
    return -1, None, None


def _star_list(checkpoint: StageStore, stage: str):
    saved = checkpoint.load_arrays(stage)
    return saved["x"], saved["y"]


def _save_star_list(checkpoint: StageStore | None, stage: str, x, y) -> None:
    if checkpoint is not None:
        checkpoint.save_arrays(stage, {"x": x, "y": y})


#: what a saved alignment holds per chip (with the chip's WCS it rebuilds an Alignment)
_ALIGNED = ("dx", "dy", "rot_deg", "nmatch", "rms_pix")


def _align(chips, exps, ref_exp, grids, opt, fid, report) -> list[Alignment]:
    """Align every chip to the reference exposure's bright stars (the ``align`` stage)."""
    ref_idx = next(i for i, e in enumerate(exps) if e is ref_exp)
    rra, rdec = [], []
    for k, c, img, rms, bad, _sat in chips:
        if k == ref_idx:
            x, y, _ = bright_star_positions(
                img, rms, bad, grids[ref_exp.filter], nstars=opt.align_nstars
            )
            a, d = c.wcs.all_pix2world(x, y, 0)
            rra.append(a)
            rdec.append(d)
    ref_ra, ref_dec = np.concatenate(rra), np.concatenate(rdec)
    if len(ref_ra) < 5:
        raise NoStars(
            f"field {fid}: only {len(ref_ra)} bright stars on {ref_exp.path.name} to align on"
        )
    als: list[Alignment] = []
    for n, (k, c, img, rms, bad, _sat) in enumerate(chips):
        e = exps[k]
        if k == ref_idx:
            al = Alignment(0.0, 0.0, 0.0, len(ref_ra), 0.0, c.wcs)
        else:
            al = align_chip(
                img,
                rms,
                bad,
                c.wcs,
                grids[e.filter],
                ref_ra,
                ref_dec,
                mode=opt.align_mode,
                nstars=opt.align_nstars,
                match_pix=opt.align_match_pix,
                name=f"{e.path.name}[SCI,{c.extver}]",
            )
        als.append(al)
        report("align", n + 1, len(chips))
    if opt.align_frame == "mean":
        # one offset per exposure (mean over its chips), then the mean over exposures
        per_exp: dict[int, list[Alignment]] = {}
        for (k, *_), al in zip(chips, als):
            per_exp.setdefault(k, []).append(al)
        mdx = float(np.mean([np.mean([a.dx for a in v]) for v in per_exp.values()]))
        mdy = float(np.mean([np.mean([a.dy for a in v]) for v in per_exp.values()]))
        mrot = float(np.mean([np.mean([a.rot_deg for a in v]) for v in per_exp.values()]))
        for n, ((_k, c, *_), al) in enumerate(zip(chips, als)):
            ny, nx = c.shape
            t = np.array([al.dx - mdx, al.dy - mdy])
            als[n] = Alignment(
                t[0],
                t[1],
                al.rot_deg - mrot,
                al.nmatch,
                al.rms_pix,
                apply_offset(c.wcs, t, np.radians(al.rot_deg - mrot), ((nx - 1) / 2, (ny - 1) / 2)),
            )
    return als
