"""Named sizes of a simulated field: ``tiny`` (tests), ``demo`` (the local demo), ``realistic``,
and ``brick``, a PHAT-like array of overlapping fields.

A preset fixes the geometry (chip size and count), the filters and exposure times,
the visit cadence and the stellar content at ``crowding = 1``; the seed decides the
rest. Sizes are chosen so that ``tiny`` simulates in about a second, ``demo`` in
well under 20 s, and ``realistic`` writes full 4096x2048 two-chip ACS/WFC exposures
(plus WFC3/IR F160W) for benchmarks, at the cost of minutes and gigabytes.

``brick`` has a ``grid`` of 3 x 6 fields, as PHAT tiled each brick (Dalcanton et al.
2012): distinct pointings stepped along the detector axes so that neighbours overlap
by ``overlap`` of a footprint, one star population shared by all of them (a star in
an overlap is the same star in both fields). Its chips are reduced (256x256) so the
brick's 144 exposures simulate in a minute and reduce locally; ``cloudphot plan
--preset brick`` shows its Step Functions budget, and ``cloudphot plan brick`` that of
a full-size brick.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PRESETS", "PSF_MODES", "FilterPlan", "Preset", "get_preset"]

#: how the simulator draws stars: a PSF the engine does not know, or the library PSF
PSF_MODES = ("mismatched", "matched")


@dataclass(frozen=True)
class FilterPlan:
    """One filter of a preset: its camera and exposure time (s)."""

    instrument: str
    detector: str
    filter: str
    exptime: float
    sky_rate: float  # e-/s/pixel: zodiacal light + unresolved M31 light
    chip_shape: tuple[int, int] | None = None  # (ny, nx); None -> the preset's
    nchips: int | None = None  # None -> the preset's


@dataclass(frozen=True)
class Preset:
    """Everything that sizes a simulated field.

    Attributes
    ----------
    name : str
    chip_shape : (ny, nx) pixels of each chip, or None for the real full chip.
    nchips : int or None (the detector's real number).
    filters : tuple of FilterPlan
    n_visits : int
        Epochs; each visit observes every filter.
    exposures_per_visit : int
        Dithered exposures per filter per visit.
    baseline_days : float
        Visits are spread irregularly over this many days.
    density_per_arcsec2 : float
        Surface density of simulated stars (brighter than ``faint_f814w``) at crowding 1.
    faint_f814w : float
        Faintest apparent F814W magnitude simulated.
    n_moving : int
        Milky Way foreground dwarfs with proper motions of 10-30 mas/yr (truth columns
        ``pm_ra_cosdec``, ``pm_dec``; every other star is still).
    n_cepheids : int
    n_foreground : int
        Bright Milky Way foreground stars (some saturate).
    cr_rate : float
        Cosmic-ray events per pixel per second (ACS/WFC ~3.5e-6, i.e. ~1.5 cm^-2 s^-1).
    truth_faint_mag : float or None
        Per-exposure truth is kept for stars brighter than this (mag in the exposure's
        filter); None keeps every star.
    psf : {"mismatched", "matched"}
        ``mismatched`` (every preset's default): stars are drawn with a true PSF the
        engine does not know (:mod:`.psfvar`: a residual pattern, focal-plane and
        exposure-to-exposure variation) and the CCDs get charge-transfer trails;
        ``matched``: stars are drawn with the library PSF the engine fits, no CTE
        (unit tests of the engine's mechanics; never an accuracy figure).
    cte_strength : float
        Residual CTE of the CCDs in ``mismatched`` mode (:func:`.detector.add_cte_trails`).
    """

    name: str
    chip_shape: tuple[int, int] | None
    nchips: int | None
    filters: tuple[FilterPlan, ...]
    n_visits: int
    exposures_per_visit: int
    baseline_days: float
    density_per_arcsec2: float
    faint_f814w: float
    n_cepheids: int
    n_foreground: int
    cr_rate: float = 3.5e-6
    truth_faint_mag: float | None = None
    n_moving: int = 0
    psf: str = "mismatched"
    cte_strength: float = 0.02
    grid: tuple[int, int] = (1, 1)
    overlap: float = 0.0

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if rows < 1 or cols < 1 or rows * cols > 99:
            raise ValueError(f"preset {self.name!r}: grid {self.grid} must hold 1-99 fields")
        if rows * cols * self.n_visits > 99:  # visit numbers are two digits in rootnames
            raise ValueError(f"preset {self.name!r}: more than 99 visits over its fields")
        if not 0.0 <= self.overlap < 0.5:
            raise ValueError(f"preset {self.name!r}: overlap must be in [0, 0.5)")

    @property
    def n_fields(self) -> int:
        """Fields of the preset: 1, or the pointings of its ``grid``."""
        return self.grid[0] * self.grid[1]

    @property
    def exposures_per_field(self) -> int:
        return self.n_visits * self.exposures_per_visit * len(self.filters)

    @property
    def pixels_per_exposure(self) -> int:
        """Pixels of the preset's largest exposure (all chips)."""
        from .exposure import detector_info

        most = 0
        for plan in self.filters:
            info = detector_info(plan.instrument, plan.detector)
            shape = plan.chip_shape or self.chip_shape or info.chip_shape
            nchips = plan.nchips or self.nchips or info.nchips
            if plan.detector == "IR":
                shape, nchips = plan.chip_shape or info.chip_shape, plan.nchips or info.nchips
            most = max(most, int(shape[0]) * int(shape[1]) * int(nchips))
        return most

    def with_filters(self, names) -> Preset:
        """The preset restricted to (or reordered as) the named filters."""
        by_name = {p.filter: p for p in self.filters}
        names = [str(n).strip().upper() for n in names]
        missing = [n for n in names if n not in by_name]
        if missing or not names:
            raise ValueError(
                f"preset {self.name!r} has no filter(s) {missing or names}; "
                f"it has {', '.join(by_name)}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"filters repeated: {names}")
        return replace(self, filters=tuple(by_name[n] for n in names))

    def with_psf(self, psf: str) -> Preset:
        """The preset with PSF mode ``psf`` ("matched" or "mismatched")."""
        if psf not in PSF_MODES:
            raise ValueError(f"psf must be one of {', '.join(PSF_MODES)}, got {psf!r}")
        return replace(self, psf=psf)


_F475W = FilterPlan("ACS", "WFC", "F475W", 400.0, 0.06)
_F814W = FilterPlan("ACS", "WFC", "F814W", 350.0, 0.10)

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        chip_shape=(256, 256),
        nchips=1,
        filters=(_F475W, _F814W),
        n_visits=4,
        exposures_per_visit=1,
        baseline_days=120.0,
        density_per_arcsec2=2.0,
        faint_f814w=28.0,
        n_cepheids=2,
        n_foreground=1,
    ),
    "demo": Preset(
        name="demo",
        chip_shape=(512, 512),
        nchips=1,
        filters=(_F475W, _F814W),
        n_visits=16,
        exposures_per_visit=1,
        baseline_days=1100.0,
        density_per_arcsec2=4.0,
        faint_f814w=28.5,
        n_cepheids=5,
        n_foreground=2,
        n_moving=40,
    ),
    "realistic": Preset(
        name="realistic",
        chip_shape=None,
        nchips=None,
        filters=(
            _F475W,
            _F814W,
            FilterPlan("WFC3", "IR", "F160W", 500.0, 0.65, chip_shape=None, nchips=None),
        ),
        n_visits=4,
        exposures_per_visit=2,
        baseline_days=400.0,
        density_per_arcsec2=10.0,
        faint_f814w=28.5,
        n_cepheids=40,
        n_foreground=20,
        truth_faint_mag=27.5,
        n_moving=100,
    ),
    "brick": Preset(
        name="brick",
        chip_shape=(256, 256),
        nchips=1,
        filters=(_F475W, _F814W),
        n_visits=4,
        exposures_per_visit=1,
        baseline_days=120.0,
        density_per_arcsec2=2.0,
        faint_f814w=28.0,
        n_cepheids=1,  # per field
        n_foreground=1,  # per field
        n_moving=6,  # over the brick
        grid=(3, 6),
        overlap=0.1,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError naming the known ones."""
    try:
        return PRESETS[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
