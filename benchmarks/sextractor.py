"""Run Source Extractor + PSFEx (PSF-fitting photometry) on one image, from Python.

The peer of cloudphot's built-in engine in ``benchmarks/photometry_accuracy.py``
and ``benchmarks/real_pixels.py``. Three steps per image, all with the real
binaries (Debian ``source-extractor`` and ``psfex``):

1. ``source-extractor`` writes a FITS_LDAC catalog with 35x35-pixel vignettes;
2. ``psfex`` builds the image's PSF model from the bright, unflagged point sources
   of that catalog (pixel basis, automatic sampling);
3. ``source-extractor`` again, with ``PSF_NAME`` set, measures every detection by
   PSF fitting (``MAG_PSF``, ``XPSF_IMAGE``/``YPSF_IMAGE``).

Every configuration, parameter and convolution file is written into a temporary
directory (nothing is read from the packages' ``/usr/share``), so a run is fully
described by :class:`SexConfig` and this file. Positions are returned 0-based
(numpy convention, as cloudphot's); SExtractor's own are 1-based.

Bad pixels: a weight map (1 for good pixels, 0 for bad ones) is passed with
``WEIGHT_TYPE MAP_WEIGHT``; SExtractor ignores zero-weight pixels in detection
and in the fits. Images are in electrons (or e-/s with ``gain`` = EXPTIME), and
the magnitude zeropoint is supplied by the caller.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

__all__ = ["SexConfig", "SexResult", "binaries", "have_binaries", "psf_photometry", "read_catalog"]

# Gaussian of FWHM 2 pixels on a 3x3 grid: SExtractor's gauss_2.0_3x3.conv (matched
# to the ~2-pixel FWHM of ACS/WFC and WFC3 PSFs).
GAUSS_2_3X3 = """CONV NORM
# 3x3 convolution mask of a gaussian PSF with FWHM = 2.0 pixels.
0.260856 0.483068 0.260856
0.483068 1.000000 0.483068
0.260856 0.483068 0.260856
"""

PARAMS_PSFEX = [
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "FLUX_APER(1)",
    "FLUXERR_APER(1)",
    "FLUX_RADIUS",
    "ELONGATION",
    "FLAGS",
    "FLAGS_WEIGHT",
    "SNR_WIN",
    "FLUX_MAX",
    "VIGNET(35,35)",
]
PARAMS_PSF = [
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XPSF_IMAGE",
    "YPSF_IMAGE",
    "FLUX_PSF",
    "FLUXERR_PSF",
    "MAG_PSF",
    "MAGERR_PSF",
    "CHI2_PSF",
    "NITER_PSF",
    "FLUX_AUTO",
    "MAG_AUTO",
    "FLAGS",
    "FLAGS_WEIGHT",
    "FLUX_MAX",
    "SPREAD_MODEL",
]


def binaries() -> tuple[str, str] | None:
    """(source-extractor, psfex) executables on PATH, or None when either is missing."""
    sex = shutil.which("source-extractor") or shutil.which("sex")
    psfex = shutil.which("psfex")
    return (sex, psfex) if sex and psfex else None


def have_binaries() -> bool:
    return binaries() is not None


def version() -> str:
    b = binaries()
    if b is None:
        return "absent"
    out = []
    for exe in b:
        r = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
        out.append((r.stdout or r.stderr).strip().splitlines()[0])
    return "; ".join(out)


@dataclass(frozen=True)
class SexConfig:
    """The SExtractor/PSFEx settings that matter for crowded-field stellar photometry.

    Defaults are the usual crowded-field choices: a 2-pixel Gaussian filter, a low
    threshold with a small minimum area, aggressive deblending, a 64-pixel
    background mesh (as cloudphot's sky), a 25x25 pixel PSF with automatic
    sampling, one thread each.
    """

    detect_thresh: float = 2.0  # per-pixel, in sky sigma, on the filtered image
    detect_minarea: int = 3
    deblend_nthresh: int = 64
    deblend_mincont: float = 1e-4
    back_size: int = 64
    back_filtersize: int = 3
    satur_level: float = 1e29
    psf_size: int = 25
    psfvar_degrees: int = 0  # 0: one PSF per image; 2: quadratic variation (full chips)
    psf_sample_minsn: float = 20.0
    psf_fwhmrange: tuple[float, float] = (1.6, 5.0)  # ACS/WFC3 stars ~2 px; cosmic rays are sharper
    psf_nmax: int = 1
    nthreads: int = 1


@dataclass
class SexResult:
    """A PSF-photometry catalog and how it was made.

    ``catalog`` columns: x, y (0-based, PSF-fitted), x_iso, y_iso (0-based
    isophotal barycentre), mag (MAG_PSF + zeropoint), magerr, flux_psf, fluxerr_psf,
    chi2_psf, flags, flags_weight, spread_model, mag_auto.
    """

    catalog: Table
    n_psf_stars: int
    psf_fwhm: float
    timings: dict[str, float] = field(default_factory=dict)
    workdir: Path | None = None


def _write(path: Path, lines: dict[str, object]) -> None:
    path.write_text("".join(f"{k:<18} {v}\n" for k, v in lines.items()))


def read_catalog(path: str | Path) -> Table:
    """The objects table of a SExtractor catalog (FITS_1.0 or FITS_LDAC), without units."""
    with fits.open(path) as h:
        hdu = next((x for x in h if x.name == "LDAC_OBJECTS"), h[-1])
        data = hdu.data
        if data is None:
            return Table()
        return Table({name: np.array(data[name]) for name in data.names})


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"{what} failed (exit {r.returncode}):\n{tail}")


def psf_photometry(
    image: np.ndarray,
    *,
    zeropoint: float,
    gain: float = 1.0,
    bad: np.ndarray | None = None,
    header: fits.Header | None = None,
    config: SexConfig | None = None,
    workdir: str | Path | None = None,
    keep: bool = False,
) -> SexResult:
    """SExtractor -> PSFEx -> SExtractor with the PSF on one 2-d image.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in the unit the zeropoint refers to (e.g. electrons with
        ``zeropoint = zpt(e-/s) + 2.5 log10(EXPTIME)``).
    zeropoint : float
        ``MAG_ZEROPOINT``: magnitude of one image unit.
    gain : float
        Electrons per image unit (1 for electrons, EXPTIME for e-/s).
    bad : ndarray of bool, optional
        Pixels to ignore (zero weight).
    header : astropy.io.fits.Header, optional
        Written with the image (WCS); not needed for the photometry.
    config : SexConfig, optional
    workdir : path, optional
        Where to write the files (a new temporary directory by default, removed
        afterwards unless ``keep``).

    Raises
    ------
    RuntimeError
        The binaries are absent, a step fails, or PSFEx finds no PSF stars.
    """
    exes = binaries()
    if exes is None:
        raise RuntimeError(
            "source-extractor and psfex are not on PATH "
            "(Debian: apt-get install source-extractor psfex)"
        )
    sex, psfex = exes
    cfg = config or SexConfig()
    tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="sexpsf-"))
    tmp.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        img = np.asarray(image, np.float32)
        badm = ~np.isfinite(img) if bad is None else (np.asarray(bad, bool) | ~np.isfinite(img))
        hdr = fits.Header() if header is None else header.copy()
        for k in (
            "EXTEND",
            "XTENSION",
            "PCOUNT",
            "GCOUNT",
            "INHERIT",
            "EXTNAME",
            "EXTVER",
            "BUNIT",
        ):
            hdr.remove(k, ignore_missing=True, remove_all=True)
        fits.PrimaryHDU(np.where(badm, 0, img).astype(np.float32), hdr).writeto(
            tmp / "image.fits", overwrite=True
        )
        fits.PrimaryHDU((~badm).astype(np.float32)).writeto(tmp / "weight.fits", overwrite=True)
        (tmp / "gauss_2.0_3x3.conv").write_text(GAUSS_2_3X3)
        (tmp / "psfex.param").write_text("\n".join(PARAMS_PSFEX) + "\n")
        (tmp / "psf.param").write_text("\n".join(PARAMS_PSF) + "\n")
        common = {
            "DETECT_TYPE": "CCD",
            "DETECT_MINAREA": cfg.detect_minarea,
            "DETECT_THRESH": cfg.detect_thresh,
            "ANALYSIS_THRESH": cfg.detect_thresh,
            "FILTER": "Y",
            "FILTER_NAME": "gauss_2.0_3x3.conv",
            "DEBLEND_NTHRESH": cfg.deblend_nthresh,
            "DEBLEND_MINCONT": cfg.deblend_mincont,
            "CLEAN": "Y",
            "CLEAN_PARAM": 1.0,
            "MASK_TYPE": "CORRECT",
            "WEIGHT_TYPE": "MAP_WEIGHT",
            "WEIGHT_IMAGE": "weight.fits",
            "WEIGHT_GAIN": "N",
            "PHOT_APERTURES": 8,
            "PHOT_AUTOPARAMS": "2.5,3.5",
            "SATUR_LEVEL": f"{cfg.satur_level:g}",
            "MAG_ZEROPOINT": f"{zeropoint:.6f}",
            "GAIN": gain,
            "PIXEL_SCALE": 0,
            "SEEING_FWHM": 0.1,
            "BACK_TYPE": "AUTO",
            "BACK_SIZE": cfg.back_size,
            "BACK_FILTERSIZE": cfg.back_filtersize,
            "BACKPHOTO_TYPE": "LOCAL",
            "BACKPHOTO_THICK": 24,
            "CHECKIMAGE_TYPE": "NONE",
            "MEMORY_OBJSTACK": 30000,
            "MEMORY_PIXSTACK": 3000000,
            "MEMORY_BUFSIZE": 4096,
            "VERBOSE_TYPE": "QUIET",
            "WRITE_XML": "N",
            "NTHREADS": cfg.nthreads,
        }
        _write(
            tmp / "pass1.sex",
            {
                **common,
                "CATALOG_NAME": "prepsf.cat",
                "CATALOG_TYPE": "FITS_LDAC",
                "PARAMETERS_NAME": "psfex.param",
            },
        )
        _write(
            tmp / "psfex.conf",
            {
                "BASIS_TYPE": "PIXEL_AUTO",
                "PSF_SAMPLING": 0.0,
                "PSF_ACCURACY": 0.01,
                "PSF_SIZE": f"{cfg.psf_size},{cfg.psf_size}",
                "PSF_RECENTER": "Y",
                "CENTER_KEYS": "XWIN_IMAGE,YWIN_IMAGE",
                "PHOTFLUX_KEY": "FLUX_APER(1)",
                "PHOTFLUXERR_KEY": "FLUXERR_APER(1)",
                "PSFVAR_KEYS": "X_IMAGE,Y_IMAGE",
                "PSFVAR_GROUPS": "1,1",
                "PSFVAR_DEGREES": cfg.psfvar_degrees,
                "SAMPLE_AUTOSELECT": "Y",
                "SAMPLEVAR_TYPE": "SEEING",
                "SAMPLE_FWHMRANGE": f"{cfg.psf_fwhmrange[0]},{cfg.psf_fwhmrange[1]}",
                "SAMPLE_VARIABILITY": 0.2,
                "SAMPLE_MINSN": cfg.psf_sample_minsn,
                "SAMPLE_MAXELLIP": 0.3,
                "SAMPLE_FLAGMASK": "0x00fe",
                "SAMPLE_WFLAGMASK": "0x00ff",
                "BADPIXEL_FILTER": "N",
                "OUTCAT_TYPE": "NONE",
                "CHECKPLOT_TYPE": "NONE",
                "CHECKIMAGE_TYPE": "NONE",
                "PSF_DIR": ".",
                "WRITE_XML": "Y",
                "XML_NAME": "psfex.xml",
                "VERBOSE_TYPE": "QUIET",
                "NTHREADS": cfg.nthreads,
            },
        )
        _write(
            tmp / "pass2.sex",
            {
                **common,
                "CATALOG_NAME": "psf.cat",
                "CATALOG_TYPE": "FITS_1.0",
                "PARAMETERS_NAME": "psf.param",
                "PSF_NAME": "prepsf.psf",
                "PSF_NMAX": cfg.psf_nmax,
            },
        )
        timings["write"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        _run([sex, "image.fits", "-c", "pass1.sex"], tmp, "source-extractor (vignettes)")
        timings["sextractor_pass1"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _run([psfex, "prepsf.cat", "-c", "psfex.conf"], tmp, "psfex")
        timings["psfex"] = time.perf_counter() - t0
        if not (tmp / "prepsf.psf").exists():
            raise RuntimeError("psfex wrote no PSF model (no usable point sources?)")
        with fits.open(tmp / "prepsf.psf") as h:
            ph = h[1].header
            nstars = int(ph.get("ACCEPTED", 0))
            fwhm = float(ph.get("PSF_FWHM", np.nan))
        t0 = time.perf_counter()
        _run([sex, "image.fits", "-c", "pass2.sex"], tmp, "source-extractor (PSF fitting)")
        timings["sextractor_psf"] = time.perf_counter() - t0
        raw = read_catalog(tmp / "psf.cat")
        cat = Table(
            {
                "x": np.asarray(raw["XPSF_IMAGE"], float) - 1.0,
                "y": np.asarray(raw["YPSF_IMAGE"], float) - 1.0,
                "x_iso": np.asarray(raw["X_IMAGE"], float) - 1.0,
                "y_iso": np.asarray(raw["Y_IMAGE"], float) - 1.0,
                "mag": np.asarray(raw["MAG_PSF"], float),
                "magerr": np.asarray(raw["MAGERR_PSF"], float),
                "flux_psf": np.asarray(raw["FLUX_PSF"], float),
                "fluxerr_psf": np.asarray(raw["FLUXERR_PSF"], float),
                "chi2_psf": np.asarray(raw["CHI2_PSF"], float),
                "flags": np.asarray(raw["FLAGS"], int),
                "flags_weight": np.asarray(raw["FLAGS_WEIGHT"], int),
                "spread_model": np.asarray(raw["SPREAD_MODEL"], float),
                "mag_auto": np.asarray(raw["MAG_AUTO"], float),
            }
        )
        # MAG_PSF is 99 when the fitted flux is <= 0
        cat["mag"][~(np.asarray(raw["FLUX_PSF"]) > 0)] = np.nan
        return SexResult(cat, nstars, fwhm, timings, tmp if keep else None)
    finally:
        if not keep and workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
