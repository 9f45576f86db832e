"""Detector effects of a CCD exposure: noise, saturation and bleeding, cosmic rays, bad
pixels, charge-transfer trails.

All images are in electrons (float64), shape ``(ny, nx)``. DQ bit values follow the
ACS/WFC3 definitions (ACS Data Handbook, Table 2.5):

===== ===========================================================
bit   meaning
===== ===========================================================
4     bad detector pixel (here: bad columns and dead pixels)
16    hot pixel (dark rate above threshold)
256   full-well saturation
===== ===========================================================

Cosmic rays are *not* flagged: single calibrated exposures (flc/flt of a CCD) carry
them, and finding them is the pipeline's job.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DQ_BAD_DETECTOR",
    "DQ_HOT",
    "DQ_SATURATED",
    "DetectorDefects",
    "add_cosmic_rays",
    "add_cte_trails",
    "add_hot_pixels",
    "add_noise",
    "make_defects",
    "saturate",
    "spoil_bad_pixels",
]

DQ_BAD_DETECTOR = 4
DQ_HOT = 16
DQ_SATURATED = 256


class DetectorDefects:
    """Fixed defects of one chip, the same in every exposure of a field.

    Attributes
    ----------
    hot_y, hot_x : numpy.ndarray of int
        Hot pixels.
    hot_rate : numpy.ndarray
        Their excess dark rate, e-/s.
    bad : numpy.ndarray of bool, shape (ny, nx)
        Bad detector pixels (columns and dead pixels).
    """

    def __init__(self, hot_y, hot_x, hot_rate, bad):
        self.hot_y, self.hot_x, self.hot_rate, self.bad = hot_y, hot_x, hot_rate, bad

    def dq(self) -> np.ndarray:
        """DQ image (int16) with the fixed-defect bits set."""
        dq = np.zeros(self.bad.shape, np.int16)
        dq[self.bad] |= DQ_BAD_DETECTOR
        dq[self.hot_y, self.hot_x] |= DQ_HOT
        return dq


def make_defects(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    hot_fraction: float = 0.004,
    n_bad_columns: int | None = None,
    dead_fraction: float = 2e-4,
) -> DetectorDefects:
    """Draw a chip's hot pixels, bad columns (partial) and dead pixels.

    ``hot_fraction`` of the pixels are hot with excess dark 0.05-2 e-/s (log-uniform);
    bad columns default to one per 1000 columns (at least one).
    """
    ny, nx = shape
    if not (0 <= hot_fraction < 0.5 and 0 <= dead_fraction < 0.5):
        raise ValueError("hot_fraction and dead_fraction must be in [0, 0.5)")
    nhot = int(rng.binomial(ny * nx, hot_fraction))
    flat = rng.choice(ny * nx, size=nhot, replace=False)
    hot_y, hot_x = np.divmod(flat, nx)
    hot_rate = 10 ** rng.uniform(np.log10(0.05), np.log10(2.0), nhot)
    bad = np.zeros(shape, bool)
    ncol = max(1, nx // 1000) if n_bad_columns is None else int(n_bad_columns)
    for _ in range(ncol):
        col = int(rng.integers(0, nx))
        y0 = int(rng.integers(0, ny // 2))
        bad[y0 : y0 + int(rng.integers(ny // 8, ny // 2 + 1)), col] = True
    ndead = int(rng.binomial(ny * nx, dead_fraction))
    bad.flat[rng.choice(ny * nx, size=ndead, replace=False)] = True
    return DetectorDefects(hot_y, hot_x, hot_rate, bad)


def add_hot_pixels(
    image: np.ndarray, defects: DetectorDefects, exptime: float, rng: np.random.Generator
) -> None:
    """Add the hot pixels' excess dark charge (Poisson, electrons) in place."""
    image[defects.hot_y, defects.hot_x] += rng.poisson(defects.hot_rate * exptime)


def spoil_bad_pixels(image: np.ndarray, defects: DetectorDefects, rng: np.random.Generator) -> None:
    """Replace bad detector pixels by garbage (low values unrelated to the sky), in place."""
    image[defects.bad] = rng.normal(0.0, 30.0, int(defects.bad.sum()))


def add_cosmic_rays(
    image: np.ndarray,
    exptime: float,
    rng: np.random.Generator,
    *,
    rate: float = 3.5e-6,
) -> np.ndarray:
    """Add cosmic-ray hits (electrons) in place; return a boolean map of hit pixels.

    Events arrive at ``rate`` per pixel per second. Each deposits a log-normal total
    charge (median ~1500 e-) along a straight track of random direction: most are
    compact (1-4 pixels), a tail are long grazing tracks (exponential length, mean 4
    pixels), sampled every 0.2 pixel and shared bilinearly between pixels. The result is
    much sharper than the PSF, as real hits are.
    """
    if rate < 0 or exptime < 0:
        raise ValueError("rate and exptime must be non-negative")
    ny, nx = image.shape
    n = int(rng.poisson(rate * exptime * ny * nx))
    hit = np.zeros(image.shape, bool)
    if n == 0:
        return hit
    x0 = rng.uniform(-0.5, nx - 0.5, n)
    y0 = rng.uniform(-0.5, ny - 0.5, n)
    length = rng.exponential(4.0, n) * (rng.random(n) < 0.6)  # 40% point-like blobs
    angle = rng.uniform(0, np.pi, n)
    charge = rng.lognormal(np.log(1500.0), 0.8, n)
    nstep = np.maximum(1, np.ceil(length / 0.2).astype(int))
    idx = np.repeat(np.arange(n), nstep)
    start = np.cumsum(nstep) - nstep
    t = (np.arange(idx.size) - start[idx] + 0.5) / nstep[idx] - 0.5  # in [-0.5, 0.5)
    px = x0[idx] + t * length[idx] * np.cos(angle[idx])
    py = y0[idx] + t * length[idx] * np.sin(angle[idx])
    q = charge[idx] / nstep[idx]
    jx, jy = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - jx, py - jy
    flat = image.reshape(-1)
    hitflat = hit.reshape(-1)
    for dy, dx, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        yy, xx = jy + dy, jx + dx
        ok = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx) & (w > 0.05)
        lin = yy[ok] * nx + xx[ok]
        flat += np.bincount(lin, weights=q[ok] * w[ok], minlength=flat.size)
        hitflat[lin] = True
    return hit


def saturate(image: np.ndarray, full_well: float, *, bleed: bool = True) -> np.ndarray:
    """Clip at ``full_well`` (e-), bleeding the excess along columns; return the saturated map.

    Excess charge of a saturated pixel spills up and down its column (the CCD's parallel
    direction, numpy axis 0), half each way, filling pixels to the full well, as blooming
    does on the ACS and WFC3/UVIS CCDs.
    """
    if full_well <= 0:
        raise ValueError(f"full_well must be positive, got {full_well!r}")
    over = image > full_well
    if not over.any():
        return over
    ny = image.shape[0]
    if bleed:
        for col in np.unique(np.nonzero(over)[1]):
            c = image[:, col]
            rows = np.flatnonzero(c > full_well)
            excess = float((c[rows] - full_well).sum())
            c[rows] = full_well
            for direction, share in ((1, 0.5), (-1, 0.5)):
                left = excess * share
                i = (rows.max() + 1) if direction > 0 else (rows.min() - 1)
                while left > 0 and 0 <= i < ny:
                    room = max(full_well - c[i], 0.0)
                    take = min(room, left)
                    c[i] += take
                    left -= take
                    i += direction
    np.minimum(image, full_well, out=image)
    return image >= full_well * (1 - 1e-9)


def add_cte_trails(
    image: np.ndarray,
    *,
    readout_at_top: bool,
    first_row_transfers: float = 0.0,
    strength: float = 0.02,
    tau_pix: float = 3.0,
    full_chip_rows: float = 2048.0,
) -> np.ndarray:
    """Charge-transfer-efficiency trails along the parallel (column) readout, in place.

    Radiation-damaged CCDs (ACS/WFC, WFC3/UVIS) lose a fraction of each pixel's charge
    to traps during readout and release it over the following pixels: a trail on the
    side away from the amplifier, and a flux loss that grows with the number of
    transfers and is larger for faint signals. The model: a pixel holding ``S``
    electrons after ``n`` transfers loses ``strength * (n / full_chip_rows) *
    sqrt(100 / max(S, 1))`` of it (capped at 30 %), released with an exponential
    delay of ``tau_pix`` pixels. ``strength`` 0.02 is the residual left in ``flc``
    files after the pipeline's pixel-based correction (~1 % for faint stars far from
    the amplifier); the uncorrected ``flt`` effect is several times larger.

    Parameters
    ----------
    image : ndarray, (ny, nx), electrons
    readout_at_top : bool
        The amplifier is beyond the last row (trails towards lower rows) instead of
        before row 0 (trails towards higher rows).
    first_row_transfers : float
        Transfers of the row nearest the amplifier (a sub-array far from it).
    """
    if strength < 0 or tau_pix <= 0:
        raise ValueError("strength must be >= 0 and tau_pix > 0")
    if strength == 0:
        return image
    work = image[::-1] if readout_at_top else image  # row 0 nearest the amplifier
    ny = work.shape[0]
    transfers = (first_row_transfers + np.arange(1, ny + 1, dtype=float))[:, None]
    frac = strength * (transfers / full_chip_rows) * np.sqrt(100.0 / np.maximum(work, 1.0))
    lost = np.clip(frac, 0.0, 0.3) * np.clip(work, 0.0, None)
    a = np.exp(-1.0 / tau_pix)
    work -= lost
    # release into the rows read after: r[n] = a r[n-1] + (1 - a) lost[n-1]
    trap = np.zeros(work.shape[1])
    for n in range(1, ny):
        trap *= a
        trap += (1.0 - a) * lost[n - 1]
        work[n] += trap
    return image


def add_noise(expected: np.ndarray, readnoise: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson draw of ``expected`` electrons plus Gaussian read noise (e-); new array."""
    if readnoise < 0:
        raise ValueError(f"readnoise must be non-negative, got {readnoise!r}")
    return rng.poisson(np.clip(expected, 0, None)).astype(float) + rng.normal(
        0.0, readnoise, expected.shape
    )
