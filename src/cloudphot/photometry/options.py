"""Science tunables of the built-in photometry engine."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["PhotometryOptions"]


@dataclass(frozen=True)
class PhotometryOptions:
    """Science tunables of the built-in engine (all have working defaults).

    Attributes
    ----------
    cosmic_sigclip, cosmic_objlim : float
        ``astroscrappy.detect_cosmics`` Laplacian-to-noise limit and the
        minimum contrast between the Laplacian and the fine-structure image.
        HST PSFs are undersampled (FWHM ~2 pix) so ``objlim`` is raised well
        above LA Cosmic's default of 5, else star cores are flagged.
    cosmic_niter : int
        astroscrappy iterations (1: later iterations found no more cosmic-ray
        pixels on our test images and cost 2-3x the time).
    workers : int
        Processes used for the per-exposure preprocessing inside
        :func:`reduce_field` (1 = in-process).
    sky_box_pix : int
        Box size (pixels) of the ``photutils`` ``Background2D`` mesh.
    sky_filter_size : int
        Median filter size (boxes) applied to the background mesh.
    align_mode : {"shift", "shift+rotation"}
        Transformation fitted between each exposure and the astrometric
        reference exposure.
    align_frame : {"mean", "reference"}
        Which frame the aligned WCSs share: ``"reference"`` keeps the header
        WCS of the astrometric reference exposure; ``"mean"`` (default) removes
        the mean fitted offset of all exposures, i.e. the frame of the average
        header pointing, whose error shrinks as 1/sqrt(number of exposures)
        when pointing errors are independent.
    align_nstars : int
        At most this many bright stars per chip are used for alignment.
    align_match_pix : float
        Matching radius (pixels) after the header-WCS prediction; the header
        pointing must be better than this.
    detect_threshold_sigma : float
        Detection threshold on the reference image, in units of its sky rms.
    detect_all_filters : bool
        Detect on all images of all filters: each filter's exposures are combined on
        the deepest filter's reference grid, turned into a significance image (image
        minus sky over sky rms) and the filters' significances summed over
        sqrt(number of filters) (a star of any colour adds up; noise stays unit
        variance, so the threshold keeps its meaning). The residual pass does the same
        with every filter's residuals. Off by default until the artificial star tests
        (:mod:`cloudphot.asts`, which model the detection on the deepest filter's
        reference) detect the same way; False: the deepest filter's reference alone.
    detect_residual_pass : bool
        After the first recentering, detect again on the reference image of the
        residuals (data minus the fitted model of the deepest filter), add the
        new stars and recenter again: finds faint stars and companions hidden
        in the wings of brighter ones (DOLPHOT-like iterative detection), which
        also reduces the flux bias of bright stars from unfitted neighbours.
    detect_min_separation_pix : float
        Minimum separation of two detected peaks (pixels); DAOStarFinder
        keeps the brighter of two closer peaks.
    sky_from_residuals : bool
        Before the final photometry, take from each chip the sky left in the residuals
        of a fit of all its stars (:func:`cloudphot.photometry.sky.residual_sky`: a
        clipped-mean mesh of data minus model): the first sky, estimated before any
        star is known, holds the wings and halos of resolved stars, which biases faint
        stars faint.
    fit_radius_pix : float or None
        Radius (pixels) of the PSF-fitting stamp of each star; None means
        ``max(3, 2 * fwhm)`` rounded up.
    recenter_iterations : int
        Passes of the joint flux + position solution used to refine the
        reference-frame positions before the final fixed-position fit.
    recenter_snr_min : float
        Per-exposure S/N from which a star's position is fitted on a chip; the
        shifts of all exposures of all filters are combined (weighted by their
        information), so stars far too faint to centre on one exposure still get
        positions from all of them together.
    psf_source : str
        Passed to ``cloudphot.psf.psf_for(..., source=...)``: ``"auto"`` uses
        the library model of the instrument/filter. Building the PSF from the
        data (``photutils.psf.EPSFBuilder`` on isolated bright stars) is the
        documented alternative for real data whose PSF the library lacks.
    psf_from_data : bool
        Solve each exposure chip's PSF from its bright isolated stars (a correction
        to the library PSF, varying over the chip, plus an aperture correction;
        :mod:`cloudphot.photometry.psfsolve`). Off only to measure what it buys.
    psf_per_exposure : bool
        Besides the correction pooled over all exposures of a filter and chip, solve
        one per exposure (focus breathing, jitter).
    psf_star_snr : float
        Minimum S/N (per exposure) of a PSF star.
    error_floor_mag : float
        Systematic error (mag) added in quadrature to each star's combined magnitude
        error: what a PSF model and flat field leave, which does not average down over
        exposures (on the mismatched demo field gst stars of 21-24 mag scatter
        0.011-0.028 mag around truth; with 0.01 and ``error_common_fraction`` 0.25 the
        error calibration is 0.87-1.09 in every F814W bin to 27 mag). ``snr`` stays
        the statistical S/N.
    error_from_repeatability : bool
        Scale each star's combined magnitude error by how much the filter's stars of
        its magnitude scatter between exposures beyond their statistical errors
        (:func:`cloudphot.photometry.combine.repeatability_scale`, from the data).
    error_common_fraction : float
        Share of a measurement's error common to all its exposures (light of
        unresolved or badly subtracted neighbours, PSF model and position errors,
        which do not average down): the combined error is multiplied by
        ``sqrt(1 + f**2 (nmeas - 1))``. Calibrated against truth on the mismatched
        demo field (benchmarks/RESULTS.md).
    max_bad_fraction : float
        Flag 2 when more than this fraction of a star's fit pixels is bad.
    sharp_cut_acs, sharp_cut_uvis, sharp_cut_ir : float
        ``st`` cut on sharp**2 per filter (PHAT: (sharp1+sharp2)**2 <= 0.075 ACS,
        0.15 WFC3/UVIS and IR, Williams et al. 2014 sec. 3.5).
    crowd_cut_acs, crowd_cut_uvis, crowd_cut_ir : float
        ``gst`` cut on crowd per filter ((crowd1+crowd2) <= 0.1 ACS, 1.3 UVIS,
        0.48 IR, Williams et al. 2014). The earlier PHAT/UW pipeline values
        (Dalcanton et al. 2012; recorded as CRLIMACS/CRLIMUV/CRLIMIR in the UW
        gst file headers) were 2.25 / 1.3 / 2.25.
    snr_min : float
        ``st``/``gst`` S/N cut (4).
    flag_max : int
        ``st``/``gst`` flag cut: measurements with flag > flag_max fail (2).
    """

    cosmic_sigclip: float = 4.5
    cosmic_objlim: float = 12.0
    cosmic_niter: int = 1
    workers: int = 1
    sky_box_pix: int = 64
    sky_filter_size: int = 3
    align_mode: str = "shift"
    align_frame: str = "mean"
    align_nstars: int = 150
    align_match_pix: float = 2.0
    detect_threshold_sigma: float = 4.0
    detect_all_filters: bool = False
    detect_residual_pass: bool = True
    detect_min_separation_pix: float = 1.5
    sky_from_residuals: bool = True
    fit_radius_pix: float | None = None
    recenter_iterations: int = 2
    recenter_snr_min: float = 2.0
    psf_source: str = "auto"
    psf_from_data: bool = True
    psf_per_exposure: bool = True
    psf_star_snr: float = 30.0
    max_bad_fraction: float = 0.2
    error_floor_mag: float = 0.01
    error_from_repeatability: bool = True
    error_common_fraction: float = 0.25
    sharp_cut_acs: float = 0.075
    sharp_cut_uvis: float = 0.15
    sharp_cut_ir: float = 0.15
    crowd_cut_acs: float = 0.1
    crowd_cut_uvis: float = 1.3
    crowd_cut_ir: float = 0.48
    snr_min: float = 4.0
    flag_max: int = 2

    def __post_init__(self) -> None:
        if self.align_mode not in ("shift", "shift+rotation"):
            raise ValueError(
                f"align_mode must be 'shift' or 'shift+rotation', got {self.align_mode!r}"
            )
        if self.align_frame not in ("mean", "reference"):
            raise ValueError(f"align_frame must be 'mean' or 'reference', got {self.align_frame!r}")

    def with_(self, **changes: Any) -> PhotometryOptions:
        """A copy with some tunables changed."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for product headers and job records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
