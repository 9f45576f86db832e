"""Synthetic stellar populations of an M31-like disc field, and Cepheid light curves.

Stars are drawn from a synthetic colour-magnitude diagram built from simple loci in
absolute ``F814W`` magnitude and ``F475W - F814W`` colour, the PHAT optical pair:

=================  ================================  ===========================
component          absolute F814W range              colour F475W - F814W
=================  ================================  ===========================
red giant branch   -4.05 (tip) .. +4 (subgiants)     1.2 .. 3.3, metallicity spread
red clump          -0.25 +- 0.12                     1.95 +- 0.08
AGB above the tip  -5.0 .. -4.05                     3.0 .. 4.5
main sequence      -6.5 .. +4                        -0.35 .. 0.45
blue He burning    -6.0 .. -1.5                      0.05 .. 0.45
=================  ================================  ===========================

Luminosity functions rise steeply to faint magnitudes (``dN/dM ~ 10**(0.3 M)`` on
the RGB), so most stars are faint and crowding is realistic. Apparent magnitudes
add the M31 distance modulus (24.47, McConnachie et al. 2005) and foreground plus
typical internal extinction (A_V ~ 0.2). ``F160W`` follows from the optical colour.

Cepheids follow period-luminosity relations (LMC slopes, Fouque et al. 2007 style:
``M_F814W = -2.96 log P - 1.88``; ``F475W - F814W = 0.70 + 0.375 log P``) with
asymmetric, sawtooth-like light curves: a 4-harmonic Fourier series of a fast-rise,
slow-decline cycle whose peak-to-peak amplitude is ``amplitude_mag`` in F475W and
scales with wavelength (0.6x in F814W, 0.35x in F160W).

Magnitudes are Vega. A variable's ``<filter>_vega`` is its *magnitude-averaged* mean
(the constant term of the Fourier series).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

__all__ = [
    "AMPLITUDE_RATIO",
    "DISTANCE_MODULUS",
    "EXTINCTION",
    "FILTERS",
    "PHASE_REF_MJD",
    "cepheid_shape",
    "draw_cepheids",
    "draw_population",
    "magnitude_to_rate",
    "variable_mags",
    "vega_zeropoint",
]

#: M31 distance modulus (mag)
DISTANCE_MODULUS = 24.47
#: filters with colour relations: name -> (instrument, detector)
FILTERS: dict[str, tuple[str, str]] = {
    "F475W": ("ACS", "WFC"),
    "F814W": ("ACS", "WFC"),
    "F160W": ("WFC3", "IR"),
}
#: extinction (mag) per filter for A_V = 0.2 (Cardelli et al. 1989, R_V = 3.1)
EXTINCTION: dict[str, float] = {"F475W": 0.24, "F814W": 0.12, "F160W": 0.04}
#: Cepheid peak-to-peak amplitude per filter relative to F475W
AMPLITUDE_RATIO: dict[str, float] = {"F475W": 1.0, "F814W": 0.6, "F160W": 0.35}
#: MJD at which the truth column ``phase`` is given
PHASE_REF_MJD = 50000.0

# component fractions (by number, within the drawn magnitude range)
_FRACTIONS = {"rgb": 0.80, "rc": 0.07, "agb": 0.005, "ms": 0.11, "bheb": 0.015}


def vega_zeropoint(instrument: str, detector: str, filter: str) -> float:
    """Vega zeropoint (mag of a source giving 1 e-/s) of a filter, as the pipeline derives it.

    From the simulated header keywords (:func:`cloudphot.simulate.exposure.photometric_keywords`)
    through :func:`cloudphot.fits.zeropoints.zeropoints` (ST = -2.5 log PHOTFLAM - 21.10,
    AB = ST - 5 log PHOTPLAM + 18.692, Vega = AB - (AB - Vega)), so the simulator and the
    pipeline cannot disagree. This is the one place the simulator takes AB - Vega offsets from.
    """
    from cloudphot.fits.zeropoints import zeropoints

    from .exposure import photometric_keywords

    kw = photometric_keywords(instrument, detector, filter)
    zp = zeropoints(instrument, detector, filter, kw["PHOTFLAM"], kw["PHOTPLAM"])
    if zp["zpt_vega"] is None:
        raise ValueError(
            f"no Vega zeropoint (AB - Vega offset) for {instrument}/{detector}/{filter}"
        )
    return float(zp["zpt_vega"])


def magnitude_to_rate(mag: np.ndarray, zpt_vega: float) -> np.ndarray:
    """Count rate (e-/s) of stars of Vega magnitude ``mag``: ``10**(-0.4 (mag - zpt))``."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - zpt_vega))


def _check_filters(filters) -> list[str]:
    out = [str(f).strip().upper() for f in filters]
    unknown = [f for f in out if f not in FILTERS]
    if unknown or not out:
        raise ValueError(
            f"unsupported filters {unknown or out}; the simulator knows {', '.join(FILTERS)}"
        )
    if len(set(out)) != len(out):
        raise ValueError(f"filters repeated: {out}")
    return out


def _exp_lf(rng: np.random.Generator, n: int, lo: float, hi: float, slope: float) -> np.ndarray:
    """Magnitudes on [lo, hi] with dN/dM proportional to 10**(slope * M) (inverse CDF)."""
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def _rgb_colour(m: np.ndarray) -> np.ndarray:
    above = 1.55 + 0.2 * (1 - m) + 0.03 * (1 - m) ** 2
    below = 1.55 - 0.12 * (m - 1)
    return np.where(m <= 1, above, below)


def _optical_to(filter: str, m814: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Absolute magnitude in ``filter`` from absolute F814W and F475W - F814W."""
    if filter == "F814W":
        return m814
    if filter == "F475W":
        return m814 + colour
    if filter == "F160W":
        return m814 - (0.55 * colour + 0.05)
    raise ValueError(f"no colour relation for {filter}")


def draw_population(
    n: int,
    rng: np.random.Generator,
    *,
    filters=("F475W", "F814W"),
    faint_f814w: float = 28.5,
    distance_modulus: float = DISTANCE_MODULUS,
) -> Table:
    """Draw ``n`` non-variable stars from the synthetic CMD.

    Parameters
    ----------
    n : int
        Number of stars (>= 0).
    rng : numpy.random.Generator
        Source of randomness (the caller's seed decides everything).
    filters : sequence of str
        Filters to give magnitudes in (see :data:`FILTERS`).
    faint_f814w : float
        Faintest apparent F814W magnitude drawn (mag); fainter stars are not simulated.
    distance_modulus : float
        (m - M) in mag.

    Returns
    -------
    astropy.table.Table
        Columns ``component`` (str: rgb, rc, agb, ms, bheb) and ``<f>_vega`` per filter
        (apparent Vega magnitudes including extinction).
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    filters = _check_filters(filters)
    n = int(n)
    faint_abs = faint_f814w - distance_modulus - EXTINCTION["F814W"]
    if faint_abs < -3.0:
        raise ValueError(f"faint_f814w={faint_f814w} is too bright to draw a population")
    names = list(_FRACTIONS)
    comp = rng.choice(len(names), size=n, p=np.array(list(_FRACTIONS.values())))
    m = np.empty(n)
    c = np.empty(n)
    for k, name in enumerate(names):
        sel = np.flatnonzero(comp == k)
        s = sel.size
        if s == 0:
            continue
        if name == "rgb":
            mm = _exp_lf(rng, s, -4.05, min(faint_abs, 4.0), 0.3)
            z = rng.normal(0.0, 1.0, s)
            cc = _rgb_colour(mm) + z * (0.08 + 0.05 * np.clip(1 - mm, 0, None))
        elif name == "rc":
            mm = rng.normal(-0.25, 0.12, s)
            cc = rng.normal(1.95, 0.08, s)
        elif name == "agb":
            mm = rng.uniform(-5.0, -4.05, s)
            cc = rng.uniform(3.0, 4.5, s)
        elif name == "ms":
            mm = _exp_lf(rng, s, -6.5, min(faint_abs, 4.0), 0.25)
            cc = -0.35 + 0.08 * (mm + 6.5) + rng.normal(0, 0.06, s)
        else:  # bheb
            mm = _exp_lf(rng, s, -6.0, -1.5, 0.3)
            cc = 0.05 + 0.08 * (mm + 6.0) + rng.normal(0, 0.06, s)
        m[sel], c[sel] = mm, cc
    out = Table()
    out["component"] = np.array(names, dtype="U4")[comp]
    for f in filters:
        out[f"{f.lower()}_vega"] = _optical_to(f, m, c) + distance_modulus + EXTINCTION[f]
    return out


def draw_cepheids(
    n: int,
    rng: np.random.Generator,
    *,
    filters=("F475W", "F814W"),
    period_range_d: tuple[float, float] = (2.0, 30.0),
    distance_modulus: float = DISTANCE_MODULUS,
) -> Table:
    """Draw ``n`` Cepheids: periods log-uniform in ``period_range_d`` (days).

    Returns
    -------
    astropy.table.Table
        ``<f>_vega`` (mean magnitude), ``period_d`` (d), ``amplitude_mag`` (F475W
        peak-to-peak, mag), ``phase`` (cycle phase in [0, 1) at :data:`PHASE_REF_MJD`;
        phase 0 is near maximum light).
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    lo, hi = period_range_d
    if not (0 < lo <= hi):
        raise ValueError(f"period_range_d must be 0 < lo <= hi, got {period_range_d!r}")
    filters = _check_filters(filters)
    n = int(n)
    logp = rng.uniform(np.log10(lo), np.log10(hi), n)
    m814 = -2.96 * logp - 1.88 + rng.normal(0, 0.08, n)
    colour = 0.70 + 0.375 * logp + rng.normal(0, 0.04, n)
    out = Table()
    out["component"] = np.full(n, "cep", dtype="U4")
    for f in filters:
        out[f"{f.lower()}_vega"] = _optical_to(f, m814, colour) + distance_modulus + EXTINCTION[f]
    out["period_d"] = 10**logp
    out["amplitude_mag"] = rng.uniform(0.5, 1.0, n)
    out["phase"] = rng.random(n)
    return out


def _shape_coefficients(nharm: int = 4, rise: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Fourier coefficients (a_k cos + b_k sin) of a normalised Cepheid light-curve shape."""
    phi = np.arange(1024) / 1024
    fade = 1 - rise
    # magnitude: minimum (brightest) at phase 0, slow fading to phase `fade`, fast rise back
    tri = np.where(phi < fade, phi / fade, (1 - phi) / rise)
    spec = np.fft.rfft(tri) / phi.size
    a = 2 * spec.real[1 : nharm + 1]
    b = -2 * spec.imag[1 : nharm + 1]
    k = np.arange(1, nharm + 1)
    curve = (
        a[:, None] * np.cos(2 * np.pi * k[:, None] * phi)
        + b[:, None] * np.sin(2 * np.pi * k[:, None] * phi)
    ).sum(0)
    ptp = curve.max() - curve.min()
    return a / ptp, b / ptp


_A, _B = _shape_coefficients()


def cepheid_shape(phase: np.ndarray) -> np.ndarray:
    """Zero-mean light-curve shape (mag, peak-to-peak 1) at cycle ``phase``; brightest near 0."""
    phase = np.asarray(phase, dtype=float)
    k = np.arange(1, _A.size + 1).reshape((-1,) + (1,) * phase.ndim)
    arg = 2 * np.pi * k * phase
    return (_A.reshape(k.shape) * np.cos(arg) + _B.reshape(k.shape) * np.sin(arg)).sum(0)


def variable_mags(
    mean_mag: np.ndarray,
    period_d: np.ndarray,
    amplitude_mag: np.ndarray,
    phase: np.ndarray,
    mjd: float | np.ndarray,
    filter: str,
) -> np.ndarray:
    """Magnitude of Cepheids at time ``mjd`` in ``filter``.

    ``m = mean + amplitude * ratio(filter) * shape(phase + (mjd - PHASE_REF_MJD) / period)``.
    Arrays broadcast; non-variables can be passed with ``amplitude_mag = 0``.
    """
    f = str(filter).upper()
    if f not in AMPLITUDE_RATIO:
        raise ValueError(f"no amplitude ratio for filter {filter!r}")
    period = np.asarray(period_d, dtype=float)
    amp = np.asarray(amplitude_mag, dtype=float)
    safe = np.where(period > 0, period, 1.0)
    cyc = np.mod(np.asarray(phase, float) + (np.asarray(mjd, float) - PHASE_REF_MJD) / safe, 1.0)
    return np.asarray(mean_mag, float) + np.where(
        period > 0, amp * AMPLITUDE_RATIO[f] * cepheid_shape(cyc), 0.0
    )
