"""A whole simulated crowded field: many dithered, multi-epoch exposures plus their truth.

:func:`simulate_field` draws an M31-like stellar population (:mod:`.stars`) over the
footprint of all exposures, then for every exposure renders the stars through the
*true* WCS (header WCS plus an unrecorded pointing error of ~0.1-0.5 pixel) with the
*true* PSF, adds sky, hot pixels, cosmic rays, Poisson noise, saturates and bleeds at
the full well, trails charge in the CCD readout (CTE), adds read noise, and writes a
real ``*_flc.fits`` (``*_flt.fits`` for WFC3/IR) with :func:`.exposure.write_exposure`.

The true PSF (``psf="mismatched"``, the default of every preset) is one the engine
does not know: the library PSF (:func:`cloudphot.psf.psf_for`) with a residual
pattern, varying across the detector and between exposures (:mod:`.psfvar`).
``psf="matched"`` draws every star with the library PSF itself and adds no CTE: only
for unit tests of the engine's mechanics, never for an accuracy figure.

Fluxes follow the header zeropoints exactly: a star of Vega magnitude ``m`` gives
``10**(-0.4 (m - zpt_vega)) * EXPTIME`` electrons, with ``zpt_vega`` from
:func:`.stars.vega_zeropoint` (PHOTFLAM/PHOTPLAM through the pipeline's own zeropoint
code). Cepheids vary with their period, amplitude and phase; their magnitude at the
exposure mid-time is used.

Outputs in ``outdir``: the exposures and ``truth.fits`` with two tables:

``TRUTH`` (one row per star)
    star_id, ra, dec (deg, at MJD ``PMEPOCH``), ``<filter>_vega`` (mean Vega mag),
    is_variable, period_d, amplitude_mag (F475W peak-to-peak), phase (at MJD
    ``PHASEREF``), component, pm_ra_cosdec, pm_dec (mas/yr; non-zero for the preset's
    ``n_moving`` foreground stars, component ``pm``, drawn after all others so a
    preset without them writes the same field).
``EXPOSURES_TRUTH`` (one row per star per exposure that it falls on)
    exposure_id, filter, mjd (mid-exposure), star_id, x, y (true 0-based chip pixel),
    chip (EXTVER), flux_e (expected total electrons), mag (Vega mag at that time).
``PSF_TRUTH`` (one row per exposure; mismatched mode)
    exposure_id, breathing, jitter, jitter_angle: the exposure's terms of the true PSF
    (:func:`.psfvar.exposure_psf_terms`), so that :func:`true_psf_stamp` can redraw it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.wcs import WCS

from cloudphot.psf import psf_for

from . import detector as det
from .exposure import (
    ExposureSpec,
    _cd_matrix,
    _tan_wcs,
    chip_wcs,
    detector_info,
    write_exposure,
)
from .presets import PSF_MODES, Preset, get_preset
from .psfvar import PSFVariation, exposure_psf_terms, psf_basis, psf_coefficients
from .stars import (
    DISTANCE_MODULUS,
    FILTERS,
    PHASE_REF_MJD,
    draw_cepheids,
    draw_population,
    magnitude_to_rate,
    variable_mags,
    vega_zeropoint,
)

__all__ = [
    "FIELD_CENTRE",
    "FULL_WELL",
    "SimulatedField",
    "brick_pointings",
    "read_psf_truth",
    "read_truth",
    "simulate_brick",
    "simulate_field",
    "true_psf_image",
    "true_psf_stamp",
]

#: full well (electrons) per (instrument, detector)
FULL_WELL: dict[tuple[str, str], float] = {
    ("ACS", "WFC"): 80000.0,
    ("WFC3", "UVIS"): 63000.0,
    ("WFC3", "IR"): 78000.0,
}
#: (ra, dec) in degrees of the simulated field: the M31 disc near PHAT brick 15
FIELD_CENTRE = (11.0400, 41.6400)
_START_MJD = 56000.0
_OVERHEAD_S = 150.0  # between exposures in a visit
_POINTING_SIGMA_PIX = 0.2
_POINTING_MAX_PIX = 0.5


@dataclass
class SimulatedField:
    """What :func:`simulate_field` wrote.

    Attributes
    ----------
    field_id : str
    exposures : list of Path
        The exposure files, in time order.
    truth_path : Path
        ``truth.fits``.
    truth : astropy.table.Table
        One row per star (see module docstring).
    exposures_truth : astropy.table.Table
        One row per star per exposure.
    psf_source : str
        ``"tinytim"``, ``"analytic"`` or ``"mixed"``: the library the true PSF derives from.
    preset : str
    seed : int
    crowding : float
    filters : list of str
    """

    field_id: str
    exposures: list[Path]
    truth_path: Path
    truth: Table
    exposures_truth: Table
    psf_source: str
    preset: str
    seed: int
    crowding: float
    filters: list[str] = field(default_factory=list)
    psf: str = "mismatched"
    psf_truth: Table | None = None

    @property
    def cepheids(self) -> Table:
        """The truth rows of the variable stars."""
        return self.truth[self.truth["is_variable"]]


def _rootname(instrument: str, seed: int, visit: int, k: int) -> str:
    """An ``ipppssoot``-shaped rootname, e.g. ``jc0a01abq``."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    prog = "c" + digits[(seed // 36) % 36] + digits[seed % 36]
    exp = digits[10 + (k // 26) % 26] + digits[10 + k % 26]
    return f"{'j' if instrument == 'ACS' else 'i'}{prog}{visit:02d}{exp}q"


def _target(preset: str, seed: int, suffix: str = "") -> str:
    """TARGNAME of the simulated field; the pipeline's field id is TARGNAME normalised,
    so it equals :attr:`SimulatedField.field_id`."""
    return f"SIM-{preset}-S{seed}{suffix}".upper()


#: position angle (deg E of N) of the detector y axis of every preset's visits (+-0.3)
_BASE_ORIENT = 38.5


def _plan_exposures(
    preset: Preset,
    rng: np.random.Generator,
    seed: int,
    *,
    centre: tuple[float, float] = FIELD_CENTRE,
    target: str | None = None,
    first_visit: int = 1,
) -> list[ExposureSpec]:
    """Visits spread irregularly over the baseline; each visit takes every filter.

    ``centre`` is the (ra, dec) the field points at; ``target`` its TARGNAME (default
    the preset's); visits are numbered from ``first_visit`` (a brick's fields have
    their own visits, so rootnames stay unique across the brick)."""
    target = target or _target(preset.name, seed)
    n = preset.n_visits
    # irregular epochs: gaps between visits vary by a factor of ~6 (0.3-1.7 x the mean)
    gaps = rng.uniform(0.3, 1.7, n)
    epochs = _START_MJD + np.concatenate([[0.0], np.cumsum(gaps[1:])])
    epochs = _START_MJD + (epochs - _START_MJD) / max(epochs[-1] - _START_MJD, 1e-9) * (
        preset.baseline_days
    )
    epochs += rng.uniform(0, 0.3, n)  # random time of day
    specs = []
    base_orient = _BASE_ORIENT
    for v in range(n):
        t = float(epochs[v])
        visit_offset = rng.uniform(-0.5, 0.5, 2)  # arcsec, recorded
        roll = base_orient + rng.uniform(-0.3, 0.3)
        k = 0
        for plan in preset.filters:
            info = detector_info(plan.instrument, plan.detector)
            for d in range(preset.exposures_per_visit):
                # dither line with half-pixel phases, like ACS-WFC-DITHER-LINE (2.5, 1.5) pix
                step = info.scale_arcsec * np.array([2.5 * d, 1.5 * d])
                err = (
                    np.clip(
                        rng.normal(0, _POINTING_SIGMA_PIX, 2), -_POINTING_MAX_PIX, _POINTING_MAX_PIX
                    )
                    * info.scale_arcsec
                )
                shape = plan.chip_shape if plan.chip_shape is not None else preset.chip_shape
                nchips = plan.nchips if plan.nchips is not None else preset.nchips
                if plan.detector == "IR":  # the preset's CCD geometry does not apply
                    shape, nchips = plan.chip_shape, plan.nchips
                specs.append(
                    ExposureSpec(
                        instrument=plan.instrument,
                        detector=plan.detector,
                        filter=plan.filter,
                        exptime=plan.exptime,
                        expstart=t,
                        rootname=_rootname(plan.instrument, seed, first_visit + v, k),
                        target=target,
                        proposal_id=90000 + seed % 10000,
                        ra=float(centre[0]),
                        dec=float(centre[1]),
                        orientat=roll,
                        dither_arcsec=(
                            float(visit_offset[0] + step[0]),
                            float(visit_offset[1] + step[1]),
                        ),
                        pointing_error_arcsec=(float(err[0]), float(err[1])),
                        chip_shape=shape,
                        nchips=nchips,
                        visit=f"{first_visit + v:02d}",
                    )
                )
                t += (plan.exptime + _OVERHEAD_S) / 86400.0
                k += 1
    return specs


def _field_wcs(centre: tuple[float, float] = FIELD_CENTRE) -> WCS:
    """Tangent plane of the field in arcsec (identity-like CD, x towards -RA)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [float(centre[0]), float(centre[1])]
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.cdelt = [-1 / 3600.0, 1 / 3600.0]
    w.wcs.set()
    return w


def _footprint_box(specs: list[ExposureSpec], plane: WCS, margin_arcsec: float):
    """Bounding box (arcsec on the field plane) of all chips of all exposures."""
    xs, ys = [], []
    for spec in specs:
        ny, nx = spec.shape
        corners = np.array([[-0.5, -0.5], [nx - 0.5, -0.5], [-0.5, ny - 0.5], [nx - 0.5, ny - 0.5]])
        for ext in range(1, spec.n_chips + 1):
            sky = chip_wcs(spec, ext, true=True).all_pix2world(corners, 0)
            p = plane.all_world2pix(sky, 0)
            xs.append(p[:, 0])
            ys.append(p[:, 1])
    all_x, all_y = np.concatenate(xs), np.concatenate(ys)
    return (
        all_x.min() - margin_arcsec,
        all_x.max() + margin_arcsec,
        all_y.min() - margin_arcsec,
        all_y.max() + margin_arcsec,
    )


def _inner_positions(
    rng: np.random.Generator, n: int, specs: list[ExposureSpec], plane: WCS
) -> np.ndarray:
    """``n`` field-plane positions (arcsec) seen by every exposure, >= 30 pixels apart.

    Candidates are drawn in the central 60 % of the first exposure's first chip and kept
    when they fall at least 25 pixels inside a chip of every exposure (falling back to
    the first chip alone if no candidate qualifies, e.g. footprints that barely overlap).
    """
    if n == 0:
        return np.zeros((0, 2))
    first = specs[0]
    ny, nx = first.shape
    cand = np.column_stack(
        [rng.uniform(0.2 * nx, 0.8 * nx, 4000), rng.uniform(0.2 * ny, 0.8 * ny, 4000)]
    )
    ra, dec = chip_wcs(first, 1, true=True).all_pix2world(cand[:, 0], cand[:, 1], 0)
    seen = np.ones(cand.shape[0], bool)
    for spec in specs[1:]:
        sny, snx = spec.shape
        inside = np.zeros(cand.shape[0], bool)
        for ext in range(1, spec.n_chips + 1):
            x, y = chip_wcs(spec, ext, true=True).all_world2pix(ra, dec, 0)
            inside |= (x > 25) & (x < snx - 26) & (y > 25) & (y < sny - 26)
        seen &= inside
    pool = np.flatnonzero(seen) if seen.any() else np.arange(cand.shape[0])
    chosen: list[int] = []
    for i in pool:
        if all(np.hypot(*(cand[i] - cand[j])) >= 30 for j in chosen):
            chosen.append(int(i))
            if len(chosen) == n:
                break
    while len(chosen) < n:  # crowded footprint: allow closer pairs
        chosen.append(int(pool[len(chosen) % pool.size]))
    pick = np.array(chosen)
    return plane.all_world2pix(np.column_stack([ra[pick], dec[pick]]), 0)


def _groups(specs: list[ExposureSpec] | list[list[ExposureSpec]]) -> list[list[ExposureSpec]]:
    """One field's exposures as one group, or a brick's fields as they are."""
    if all(isinstance(g, list) for g in specs):
        return [list(g) for g in specs if isinstance(g, list)]
    return [[s for s in specs if isinstance(s, ExposureSpec)]]


def _draw_stars(
    preset: Preset,
    specs: list[ExposureSpec] | list[list[ExposureSpec]],
    filters: list[str],
    crowding: float,
    rng: np.random.Generator,
    centre: tuple[float, float] = FIELD_CENTRE,
) -> Table:
    """The population over the footprint of all ``specs``, plus each field's foreground
    stars and Cepheids where every exposure of that field sees them. ``specs`` is one
    field's exposures or (a brick) a list of fields' exposures."""
    groups = _groups(specs)
    plane = _field_wcs(centre)
    x0, x1, y0, y1 = _footprint_box([s for g in groups for s in g], plane, margin_arcsec=3.0)
    area = (x1 - x0) * (y1 - y0)
    n = int(rng.poisson(preset.density_per_arcsec2 * crowding * area))
    pop = draw_population(n, rng, filters=filters, faint_f814w=preset.faint_f814w)
    px = rng.uniform(x0, x1, n)
    py = rng.uniform(y0, y1, n)
    specials, inners = [], []
    for group in groups:  # (one group draws in the order a single field always did)
        # Milky Way foreground dwarfs: bright, some saturate
        nfg = preset.n_foreground
        fg = Table()
        fg["component"] = np.full(nfg, "fg", dtype="U4")
        m814 = rng.uniform(15.5, 18.5, nfg)
        col = rng.uniform(1.0, 2.5, nfg)
        for f in filters:
            fg[f"{f.lower()}_vega"] = {
                "F814W": m814,
                "F475W": m814 + col,
                "F160W": m814 - 0.55 * col - 0.05,
            }[f]
        # foreground stars and Cepheids where every exposure sees them
        cep = draw_cepheids(preset.n_cepheids, rng, filters=filters)
        inners.append(_inner_positions(rng, nfg + len(cep), group, plane))
        specials += [fg, cep]
    for t in [pop, *specials[0::2]]:
        t["period_d"] = np.zeros(len(t))
        t["amplitude_mag"] = np.zeros(len(t))
        t["phase"] = np.zeros(len(t))
    stars = vstack([pop, *specials], metadata_conflicts="silent")
    inner = np.concatenate(inners)
    allx = np.concatenate([px, inner[:, 0]])
    ally = np.concatenate([py, inner[:, 1]])
    ra, dec = plane.all_pix2world(allx, ally, 0)
    out = Table()
    out["star_id"] = np.arange(len(stars), dtype=np.int64)
    out["ra"] = np.asarray(ra, dtype=float) % 360.0
    out["dec"] = np.asarray(dec, dtype=float)
    for f in filters:
        out[f"{f.lower()}_vega"] = np.asarray(stars[f"{f.lower()}_vega"], dtype=float)
    out["is_variable"] = np.asarray(stars["period_d"]) > 0
    out["period_d"] = np.asarray(stars["period_d"], dtype=float)
    out["amplitude_mag"] = np.asarray(stars["amplitude_mag"], dtype=float)
    out["phase"] = np.asarray(stars["phase"], dtype=float)
    out["component"] = np.asarray(stars["component"], dtype="U4")
    out["ra"].unit = out["dec"].unit = "deg"
    out["period_d"].unit = "d"
    for f in filters:
        out[f"{f.lower()}_vega"].unit = "mag"
    out["amplitude_mag"].unit = "mag"
    return out


def _add_moving_stars(
    truth: Table, preset: Preset, specs, filters, rng, centre: tuple[float, float] = FIELD_CENTRE
) -> float:
    """Append the preset's moving foreground dwarfs to ``truth`` (in place); add the
    proper-motion columns; return the epoch (MJD) their positions refer to (mid-survey)."""
    mjds = np.array([s.expstart for s in specs], float)
    epoch = float(0.5 * (mjds.min() + mjds.max())) if len(mjds) else 0.0
    truth["pm_ra_cosdec"] = np.zeros(len(truth))
    truth["pm_dec"] = np.zeros(len(truth))
    n = preset.n_moving
    if n:
        plane = _field_wcs(centre)
        x0, x1, y0, y1 = _footprint_box(specs, plane, margin_arcsec=-2.0)
        ra, dec = plane.all_pix2world(rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), 0)
        m814 = rng.uniform(20.5, 24.5, n)  # below saturation in every preset
        col = rng.uniform(1.0, 2.5, n)
        amp = rng.uniform(10.0, 30.0, n)
        ang = rng.uniform(0, 2 * np.pi, n)
        start = int(np.max(truth["star_id"])) + 1 if len(truth) else 0
        for i in range(n):
            row: dict[str, Any] = {c: 0 for c in truth.colnames}
            row.update(
                star_id=start + i,
                ra=float(ra[i]) % 360.0,
                dec=float(dec[i]),
                is_variable=False,
                component="pm",
                pm_ra_cosdec=float(amp[i] * np.cos(ang[i])),
                pm_dec=float(amp[i] * np.sin(ang[i])),
            )
            for f in filters:
                if f"{f.lower()}_vega" in truth.colnames:
                    row[f"{f.lower()}_vega"] = {
                        "F814W": m814[i],
                        "F475W": m814[i] + col[i],
                        "F160W": m814[i] - 0.55 * col[i] - 0.05,
                    }.get(f, m814[i])
            truth.add_row(row)
    truth["pm_ra_cosdec"].unit = truth["pm_dec"].unit = "mas / yr"
    return epoch


def _positions_at(truth: Table, ra: np.ndarray, dec: np.ndarray, spec, epoch: float):
    """Where the stars are at an exposure's mid-time (moving stars moved, others still)."""
    pmx = np.asarray(truth["pm_ra_cosdec"], float)
    pmy = np.asarray(truth["pm_dec"], float)
    if not pmx.any() and not pmy.any():
        return ra, dec
    dt = (spec.expstart + 0.5 * spec.exptime / 86400.0 - epoch) / 365.25
    d = dec + pmy * dt / 3.6e6
    return (ra + pmx * dt / 3.6e6 / np.cos(np.radians(dec))) % 360.0, d


def _detector_uv(
    spec: ExposureSpec, ext: int, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Position in the whole detector, scaled to [-1, 1]: u along x, v along the chip stack."""
    ny, nx = spec.shape
    n = spec.n_chips
    u = 2.0 * x / max(nx - 1, 1) - 1.0
    v = 2.0 * ((ext - 1) * ny + y) / max(n * ny - 1, 1) - 1.0
    return u, v


def _readout(spec: ExposureSpec, ext: int) -> tuple[bool, float]:
    """(amplifier beyond the last row?, transfers before row 0) of a CCD chip.

    ACS/WFC and WFC3/UVIS read SCI,1 (the lower chip) at its bottom edge and SCI,2 at its
    top edge; a sub-array is taken as centred on its chip.
    """
    full_ny = spec.info.chip_shape[0]
    return ext % 2 == 0, max(0.0, (full_ny - spec.shape[0]) / 2.0)


def true_psf_stamp(
    spec: ExposureSpec, ext: int, x: float, y: float, terms: dict | None, mode: str, radius: int
) -> np.ndarray:
    """The true PSF the simulator drew a star with at chip pixel (x, y): a unit-flux
    ``(2r+1, 2r+1)`` stamp centred on the pixel nearest (x, y)."""
    basis = psf_basis(
        spec.instrument.upper(), spec.detector.upper(), spec.filter.upper(), mode, PSFVariation()
    )
    ix, iy = int(np.round(x)), int(np.round(y))
    if mode == "mismatched":
        w = _true_weights(spec, ext, np.array([x]), np.array([y]), terms)
    else:
        w = np.ones((1, 1))
    return basis.stamps(np.array([x - ix]), np.array([y - iy]), w, radius)[0]


def true_psf_image(
    spec: ExposureSpec,
    ext: int,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    terms: dict | None,
    mode: str,
) -> np.ndarray:
    """Noiseless image (electrons) of stars drawn with the true PSF on chip ``ext``."""
    basis = psf_basis(
        spec.instrument.upper(), spec.detector.upper(), spec.filter.upper(), mode, PSFVariation()
    )
    x, y = np.asarray(x, float), np.asarray(y, float)
    weights = _true_weights(spec, ext, x, y, terms) if mode == "mismatched" else None
    return basis.render(np.zeros(spec.shape), x, y, np.asarray(flux, float), weights)


def _true_weights(
    spec: ExposureSpec, ext: int, x: np.ndarray, y: np.ndarray, terms: dict | None
) -> np.ndarray:
    if terms is None:
        raise ValueError(
            f"exposure {spec.rootname}: the mismatched PSF needs the exposure's PSF terms "
            "(truth.fits PSF_TRUTH: breathing, jitter, jitter_angle); pass them as terms"
        )
    return psf_coefficients(*_detector_uv(spec, ext, x, y), terms)


def _render_exposure(
    spec: ExposureSpec,
    plan,
    truth: Table,
    sky_ra: np.ndarray,
    sky_dec: np.ndarray,
    defects: list,
    preset: Preset,
    rng: np.random.Generator,
    terms: dict,
):
    """SCI/ERR/DQ per chip and the per-exposure truth rows of one exposure."""
    inst, detn, filt = spec.instrument.upper(), spec.detector.upper(), spec.filter.upper()
    info = detector_info(inst, detn)
    basis = psf_basis(inst, detn, filt, preset.psf, PSFVariation())
    zpt = vega_zeropoint(inst, detn, filt)
    mjd = spec.expstart + 0.5 * spec.exptime / 86400.0
    mags = variable_mags(
        truth[f"{filt.lower()}_vega"],
        truth["period_d"],
        truth["amplitude_mag"],
        truth["phase"],
        mjd,
        filt,
    )
    flux = magnitude_to_rate(mags, zpt) * spec.exptime
    rn = float(np.mean(info.readnoise))
    full_well = FULL_WELL[(inst, detn)]
    ny, nx = spec.shape
    margin = basis.radius + 1
    ccd = detn != "IR"
    sci, err, dq, rows = [], [], [], []
    for ext in range(1, spec.n_chips + 1):
        w = chip_wcs(spec, ext, true=True)
        x, y = w.all_world2pix(sky_ra, sky_dec, 0)
        near = np.flatnonzero(
            (x > -margin) & (x < nx - 1 + margin) & (y > -margin) & (y < ny - 1 + margin)
        )
        expected = np.full((ny, nx), plan.sky_rate * spec.exptime)
        weights = None
        if preset.psf == "mismatched":
            weights = psf_coefficients(*_detector_uv(spec, ext, x[near], y[near]), terms)
        basis.render(expected, x[near], y[near], flux[near], weights)
        charge = rng.poisson(expected).astype(float)
        defect = defects[ext - 1]
        det.add_hot_pixels(charge, defect, spec.exptime, rng)
        if ccd:  # IR up-the-ramp fitting removes cosmic rays from flt files
            det.add_cosmic_rays(charge, spec.exptime, rng, rate=preset.cr_rate)
        saturated = det.saturate(charge, full_well, bleed=ccd)
        if ccd and preset.psf == "mismatched" and preset.cte_strength > 0:
            at_top, first = _readout(spec, ext)
            det.add_cte_trails(
                charge,
                readout_at_top=at_top,
                first_row_transfers=first,
                strength=preset.cte_strength,
                full_chip_rows=float(info.chip_shape[0]),
            )
        counts = charge + rng.normal(0.0, rn, charge.shape)
        det.spoil_bad_pixels(counts, defect, rng)
        e = np.sqrt(np.clip(counts, 0, None) + rn**2)
        flags = defect.dq()
        flags[saturated] |= det.DQ_SATURATED
        if detn == "IR":  # flt of IR: electrons per second
            counts, e = counts / spec.exptime, e / spec.exptime
        sci.append(counts.astype(np.float32))
        err.append(e.astype(np.float32))
        dq.append(flags)
        on = near[
            (x[near] >= -0.5) & (x[near] < nx - 0.5) & (y[near] >= -0.5) & (y[near] < ny - 0.5)
        ]
        if preset.truth_faint_mag is not None:
            on = on[mags[on] < preset.truth_faint_mag]
        rows.append((ext, on, x[on], y[on]))
    return sci, err, dq, rows, mjd, mags, flux


def _exposures_truth(parts: list[dict]) -> Table:
    cols = {
        "exposure_id": ("U32", ""),
        "filter": ("U16", ""),
        "mjd": ("f8", "d"),
        "star_id": ("i8", ""),
        "x": ("f8", "pix"),
        "y": ("f8", "pix"),
        "chip": ("i2", ""),
        "flux_e": ("f8", ""),  # electrons (not a FITS unit string)
        "mag": ("f8", "mag"),
    }
    t = Table()
    for name, (dtype, unit) in cols.items():
        vals = [p[name] for p in parts]
        t[name] = np.concatenate(vals).astype(dtype) if vals else np.zeros(0, dtype)
        if unit:
            t[name].unit = unit
    return t


def read_truth(path: str | os.PathLike) -> tuple[Table, Table]:
    """Read ``truth.fits``: ``(truth, exposures_truth)`` tables."""
    path = Path(path)
    return Table.read(path, hdu="TRUTH"), Table.read(path, hdu="EXPOSURES_TRUTH")


def read_psf_truth(path: str | os.PathLike) -> Table | None:
    """The ``PSF_TRUTH`` table of ``truth.fits`` (None for a matched-PSF field)."""
    with fits.open(path) as hdul:
        if "PSF_TRUTH" not in hdul:
            return None
    return Table.read(path, hdu="PSF_TRUTH")


def _field_id(target: str) -> str:
    from ..fits.exposure import field_id_from_target

    return field_id_from_target(target)


def _checked(
    preset: str | Preset, seed, crowding, filters, psf
) -> tuple[Preset, Preset, int, float]:
    """(preset restricted to ``filters``, the whole preset, seed, crowding), validated."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if psf is not None:
        if psf not in PSF_MODES:
            raise ValueError(f"psf must be one of {', '.join(PSF_MODES)}, got {psf!r}")
        p = p.with_psf(psf)
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    try:
        crowding = float(crowding)
    except (TypeError, ValueError):
        raise ValueError(f"crowding must be a positive number, got {crowding!r}") from None
    if not np.isfinite(crowding) or crowding <= 0 or crowding > 100:
        raise ValueError(f"crowding must be in (0, 100], got {crowding!r}")
    full = p
    if filters is not None:
        if isinstance(filters, str):
            filters = [filters]
        p = p.with_filters(filters)
    for f in (pl.filter for pl in full.filters):
        if f not in FILTERS:
            raise ValueError(f"filter {f} has no colour relation in the simulator")
    return p, full, seed, crowding


def _checked_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ValueError(f"workers must be an integer from 1 to 256, got {workers!r}")
    return workers


def _checked_pointing(pointing) -> tuple[float, float]:
    try:
        ra, dec = (float(v) for v in pointing)
    except (TypeError, ValueError):
        raise ValueError(f"pointing must be (ra, dec) in degrees, got {pointing!r}") from None
    if not (np.isfinite(ra) and np.isfinite(dec)) or not -89.0 <= dec <= 89.0:
        raise ValueError(f"pointing must be a finite (ra, dec) with |dec| <= 89, got {pointing!r}")
    return ra % 360.0, dec


@dataclass
class _Sky:
    """Everything a field's exposures are drawn from, shared by a brick's fields."""

    preset: Preset  # restricted to the written filters
    seed: int
    crowding: float
    truth: Table  # every star, columns of the written filters only
    pm_epoch: float
    defects: dict[tuple[str, str], list]
    meta: dict[str, Any]


def _sky(
    p: Preset,
    full: Preset,
    seed: int,
    crowding: float,
    all_specs: list[ExposureSpec] | list[list[ExposureSpec]],
    star_rng,
    pm_rng,
    defect_rng,
    centre: tuple[float, float],
) -> _Sky:
    names = [pl.filter for pl in p.filters]
    all_filters = [pl.filter for pl in full.filters]
    flat = [s for g in _groups(all_specs) for s in g]
    truth = _draw_stars(full, all_specs, all_filters, crowding, star_rng, centre)
    pm_epoch = _add_moving_stars(truth, full, flat, all_filters, pm_rng, centre)
    for f in all_filters:
        if f not in names:
            del truth[f"{f.lower()}_vega"]
    # fixed detector defects per (camera, chip), shared by all exposures of the field
    defects: dict[tuple[str, str], list] = {}
    for spec in flat:
        key = (spec.instrument.upper(), spec.detector.upper())
        if key not in defects:
            defects[key] = [det.make_defects(spec.shape, defect_rng) for _ in range(spec.n_chips)]
    meta = {
        "PRESET": p.name,
        "SEED": seed,
        "CROWDING": crowding,
        "PHASEREF": PHASE_REF_MJD,
        "PMEPOCH": pm_epoch,
        "DISTMOD": DISTANCE_MODULUS,
        "FILTERS": ",".join(names),
        "PSFMODE": p.psf,
        "CTE": p.cte_strength if p.psf == "mismatched" else 0.0,
    }
    return _Sky(p, seed, crowding, truth, pm_epoch, defects, meta)


#: what forked exposure workers read (set around one field's rendering)
_SHARED: dict[str, Any] = {}


def _exposure_job(k: int) -> tuple[Path, list[dict]]:
    """Render and write exposure ``k`` of the field in :data:`_SHARED`; its truth rows."""
    sky, truth, spec = _SHARED["sky"], _SHARED["truth"], _SHARED["specs"][k]
    p = sky.preset
    plan = next(pl for pl in p.filters if pl.filter == spec.filter.upper())
    key = (spec.instrument.upper(), spec.detector.upper())
    sky_ra = np.asarray(truth["ra"], dtype=float)
    sky_dec = np.asarray(truth["dec"], dtype=float)
    at_ra, at_dec = _positions_at(truth, sky_ra, sky_dec, spec, sky.pm_epoch)
    sci, err, dq, rows, mjd, mags, flux = _render_exposure(
        spec,
        plan,
        truth,
        at_ra,
        at_dec,
        sky.defects[key],
        p,
        _SHARED["rngs"][k],
        _SHARED["terms"][k],
    )
    path = write_exposure(_SHARED["outdir"], spec, sci, err, dq)
    parts = [
        {
            "exposure_id": np.full(on.size, spec.rootname.lower()),
            "filter": np.full(on.size, spec.filter.upper()),
            "mjd": np.full(on.size, mjd),
            "star_id": np.asarray(truth["star_id"])[on],
            "x": x,
            "y": y,
            "chip": np.full(on.size, ext),
            "flux_e": flux[on],
            "mag": mags[on],
        }
        for ext, on, x, y in rows
    ]
    return path, parts


def _write_field(
    outdir: Path,
    sky: _Sky,
    specs: list[ExposureSpec],
    pix_rngs: list,
    psf_terms: list[dict],
    *,
    only_seen: bool,
    progress: bool,
    workers: int = 1,
    extra_meta: dict[str, Any] | None = None,
) -> SimulatedField:
    """Render and write one field's exposures and its truth.fits (``only_seen``: the
    truth holds the stars that fall on the field's exposures, not the whole sky)."""
    p = sky.preset
    outdir.mkdir(parents=True, exist_ok=True)
    field_id = _field_id(specs[0].target)
    truth = sky.truth.copy(copy_data=True)
    truth.meta.update(sky.meta)
    truth.meta.update(extra_meta or {})
    truth.meta["FIELD_ID"] = field_id
    paths: list[Path] = []
    parts: list[dict] = []
    _SHARED.update(outdir=outdir, sky=sky, truth=truth, specs=specs, rngs=pix_rngs, terms=psf_terms)
    try:
        ks = range(len(specs))
        pool = None
        if workers > 1 and len(specs) > 1 and "fork" in mp.get_all_start_methods():
            # forked workers inherit the sky: nothing big is pickled; every exposure has
            # its own generator, so the pixels do not depend on the number of workers
            pool = ProcessPoolExecutor(min(workers, len(specs)), mp_context=mp.get_context("fork"))
        results = pool.map(_exposure_job, ks) if pool else map(_exposure_job, ks)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(specs), desc=f"simulate {field_id}", unit="exp")
        for path, exp_parts in results:
            paths.append(path)
            parts += exp_parts
        if pool:
            pool.shutdown()
    finally:
        _SHARED.clear()
    exposures_truth = _exposures_truth(parts)
    exposures_truth.meta["FIELD_ID"] = field_id
    if only_seen:
        truth = truth[np.isin(truth["star_id"], exposures_truth["star_id"])]
    sources = {psf_for(s.instrument, s.detector, s.filter).source for s in specs}
    psf_source = sources.pop() if len(sources) == 1 else "mixed"
    truth.meta["PSFSRC"] = psf_source
    psf_truth = None
    if p.psf == "mismatched":
        psf_truth = Table(
            rows=[
                (s.rootname.lower(), t["breathing"], t["jitter"], t["jitter_angle"])
                for s, t in zip(specs, psf_terms)
            ],
            names=["exposure_id", "breathing", "jitter", "jitter_angle"],
            dtype=["U32", "f8", "f8", "f8"],
        )

    truth_path = outdir / "truth.fits"
    tmp = outdir / ".truth.fits.tmp"
    t1 = fits.table_to_hdu(truth)
    t1.name = "TRUTH"
    t2 = fits.table_to_hdu(exposures_truth)
    t2.name = "EXPOSURES_TRUTH"
    hdus = [fits.PrimaryHDU(), t1, t2]
    if psf_truth is not None:
        t3 = fits.table_to_hdu(psf_truth)
        t3.name = "PSF_TRUTH"
        hdus.append(t3)
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    os.replace(tmp, truth_path)
    return SimulatedField(
        field_id=field_id,
        exposures=paths,
        truth_path=truth_path,
        truth=truth,
        exposures_truth=exposures_truth,
        psf_source=psf_source,
        preset=p.name,
        seed=sky.seed,
        crowding=sky.crowding,
        filters=[pl.filter for pl in p.filters],
        psf=p.psf,
        psf_truth=psf_truth,
    )


def simulate_field(
    outdir: str | os.PathLike,
    *,
    preset: str = "demo",
    seed: int = 0,
    crowding: float = 1.0,
    filters=None,
    psf: str | None = None,
    pointing: tuple[float, float] | None = None,
    progress: bool = False,
    workers: int = 1,
) -> SimulatedField:
    """Simulate one crowded field and write its exposures and truth to ``outdir``.

    Parameters
    ----------
    outdir : path
        Created if needed; existing files of the same names are replaced.
    preset : {"tiny", "demo", "realistic"}
        Size of the field (see :mod:`.presets`); ``brick`` is :func:`simulate_brick`'s.
    seed : int
        Everything random (stars, epochs, pointing errors, noise, cosmic rays) follows
        from it: the same seed writes the same pixels.
    crowding : float
        Multiplies the preset's stellar surface density (> 0).
    filters : sequence of str, optional
        Subset of the preset's filters (default all).
    psf : {"mismatched", "matched"}, optional
        How stars are drawn (default: the preset's, ``mismatched``): with a true PSF
        the engine does not know, plus CTE trails, or with the library PSF the engine
        fits and no CTE (unit tests only).
    pointing : (ra, dec), optional
        Where the field points, degrees (default :data:`FIELD_CENTRE`). Another
        pointing is another target: its TARGNAME, so its field id, names it.
    progress : bool
        Show a tqdm progress bar over exposures.
    workers : int
        Processes rendering exposures at once (forked; 1 = in this process). The
        pixels are the same for any number.

    Returns
    -------
    SimulatedField
    """
    p, full, seed, crowding = _checked(preset, seed, crowding, filters, psf)
    if full.n_fields > 1:
        raise ValueError(
            f"preset {full.name!r} has {full.n_fields} fields: simulate it with simulate_brick"
        )
    centre, target = FIELD_CENTRE, _target(p.name, seed)
    if pointing is not None:
        centre = _checked_pointing(pointing)
        target = _target(p.name, seed, f"-P{centre[0]:.4f}{centre[1]:+.4f}")
    names = [pl.filter for pl in p.filters]

    root = np.random.default_rng(seed)
    # (children by index: a sixth child leaves the first five, and so the field, as before)
    plan_rng, star_rng, defect_rng, pix_seed, psf_rng, pm_rng = root.spawn(6)
    # plan and populate the whole preset, so that a filter subset is the same field:
    # same epochs, pointings, stars, defects and pixels, only fewer exposures written
    all_specs = _plan_exposures(full, plan_rng, seed, centre=centre, target=target)
    sky = _sky(p, full, seed, crowding, all_specs, star_rng, pm_rng, defect_rng, centre)
    pix_rngs_all = pix_seed.spawn(len(all_specs))
    variation = PSFVariation()
    psf_terms_all = [exposure_psf_terms(psf_rng, variation) for _ in all_specs]
    keep = [i for i, s in enumerate(all_specs) if s.filter.upper() in names]
    return _write_field(
        Path(outdir),
        sky,
        [all_specs[i] for i in keep],
        [pix_rngs_all[i] for i in keep],
        [psf_terms_all[i] for i in keep],
        only_seen=False,
        progress=progress,
        workers=_checked_workers(workers),
    )


def brick_pointings(preset: str | Preset = "brick") -> list[tuple[float, float]]:
    """(ra, dec) of each field of a preset's ``grid``, row by row.

    Fields step along the detector axes at the preset's base roll, by one footprint
    (the chips and their gaps) less ``overlap`` of it, around :data:`FIELD_CENTRE`; a
    1x1 grid is the centre itself.
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    rows, cols = p.grid
    plan = p.filters[0]
    info = detector_info(plan.instrument, plan.detector)
    ny, nx = p.chip_shape or info.chip_shape
    nchips = p.nchips or info.nchips
    width = nx * info.scale_arcsec
    height = (nchips * ny + (nchips - 1) * info.gap_pix) * info.scale_arcsec
    step_x, step_y = width * (1 - p.overlap), height * (1 - p.overlap)
    plane = _tan_wcs(FIELD_CENTRE, (1.0, 1.0), _cd_matrix(1.0, _BASE_ORIENT))  # 1"/pixel
    out = []
    for r in range(rows):
        for c in range(cols):
            u = (c - (cols - 1) / 2.0) * step_x
            v = (r - (rows - 1) / 2.0) * step_y
            ra, dec = plane.all_pix2world([[u, v]], 0)[0]
            out.append((float(ra) % 360.0, float(dec)))
    return out


def simulate_brick(
    outdir: str | os.PathLike,
    *,
    preset: str | Preset = "brick",
    seed: int = 0,
    crowding: float = 1.0,
    filters=None,
    psf: str | None = None,
    progress: bool = False,
    workers: int = 1,
) -> list[SimulatedField]:
    """Simulate a brick: the preset's ``grid`` of overlapping fields over one sky.

    One star population (density, Cepheids and foreground stars per field, moving
    stars over the brick) is drawn over the footprint of every field; each field is a
    distinct pointing (:func:`brick_pointings`) and target (``SIM-BRICK-S<seed>-F01``
    ...), with its own visits, and sees the stars that fall on it, so a star in an
    overlap is the same star (same ``star_id``, position and light curve) in the
    fields that share it. Writes ``outdir/<field_id>/`` (exposures and truth.fits, the
    stars on that field) per field and ``outdir/manifests/<field_id>.json``.
    ``preset`` is a preset's name or a :class:`~.presets.Preset` (e.g. a smaller grid).
    """
    from ..manifests import manifest_document, manifest_key, write_manifest

    p, full, seed, crowding = _checked(preset, seed, crowding, filters, psf)
    workers = _checked_workers(workers)
    names = [pl.filter for pl in p.filters]
    pointings = brick_pointings(full)
    root = np.random.default_rng(seed)
    plan_rng, star_rng, defect_rng, pix_seed, psf_rng, pm_rng = root.spawn(6)
    fields = []
    for k, (centre, rng) in enumerate(zip(pointings, plan_rng.spawn(len(pointings)))):
        target = _target(full.name, seed, f"-F{k + 1:02d}")
        fields.append(
            _plan_exposures(
                full,
                rng,
                seed,
                centre=centre,
                target=target,
                first_visit=1 + k * full.n_visits,
            )
        )
    sky = _sky(p, full, seed, crowding, fields, star_rng, pm_rng, defect_rng, FIELD_CENTRE)
    variation = PSFVariation()
    out = []
    outdir = Path(outdir)
    for k, (specs, pix) in enumerate(zip(fields, pix_seed.spawn(len(fields)))):
        pix_rngs = pix.spawn(len(specs))
        terms = [exposure_psf_terms(psf_rng, variation) for _ in specs]
        keep = [i for i, s in enumerate(specs) if s.filter.upper() in names]
        sim = _write_field(
            outdir / _field_id(specs[0].target),
            sky,
            [specs[i] for i in keep],
            [pix_rngs[i] for i in keep],
            [terms[i] for i in keep],
            only_seen=True,
            progress=progress,
            workers=workers,
            extra_meta={
                "BRICKFLD": k + 1,
                "NFIELDS": len(fields),
                "PNT_RA": pointings[k][0],
                "PNT_DEC": pointings[k][1],
            },
        )
        ids = [e.name.split("_")[0] for e in sim.exposures]
        write_manifest(outdir / manifest_key(sim.field_id), manifest_document(sim.field_id, ids))
        out.append(sim)
    return out
