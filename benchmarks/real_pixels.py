"""cloudphot's engine on real crowded HST pixels, next to Source Extractor + PSFEx,
and cloudphot's catalog format and cuts next to real PHAT / UW-pipeline catalogs.

    python benchmarks/real_pixels.py [--data /work/shared/data]

Needs the public test data of ``../shared/data`` (``$CLOUDPHOT_SHARED_DATA``); prints
a message and exits 0 when it is absent. Nothing is copied into the repository.

1. ``hst_images/beast_phat/M31-B09-EAST_chunk_F475W_drz.chip1.fits``: a 900x900
   cut-out of a PHAT brick-09 ACS/WFC F475W drizzled image. Its header has a TAN WCS
   and nothing else (no INSTRUME/FILTER/EXPTIME/PHOTFLAM/BUNIT), so ``reduce_field``
   (which reads calibrated flc/flt files and refuses files without EXPTIME/FILTER)
   cannot take it. The engine's stages are run on it directly, in the order
   ``reduce_field`` runs them for one image: sky (``estimate_sky``), DAOStarFinder
   detection (``detect_stars``, 4 sigma), two joint flux+position passes
   (``fit_chip(fit_positions=True)``), detection on the residual image and another
   pass, merging of stars that converged within 0.5 px, outer-wing subtraction
   (``wing_image``) and the final simultaneous fixed-position PSF fit. What the
   header lacks is supplied: instrument/detector/filter ACS/WFC/F475W, the PSF
   ``cloudphot.psf.psf_for("ACS", "WFC", "F475W")`` (a Tiny Tim flc PSF; the
   image is drizzled, so its PSF is broader: see the sharpness and the magnitude
   offset below) and the ACS/WFC F475W Vega zeropoint through
   ``cloudphot.fits.zeropoints`` (PHOTFLAM/PHOTPLAM of the simulator's table).
   The pixels are taken in the unit they come in (treated as e-/s, gain 1).
2. Source Extractor + PSFEx (``benchmarks/sextractor.py``) on the same array, same
   zeropoint, PSFEx PSF from the image, MAG_PSF aperture-corrected to infinity with
   the same library PSF. Matched within 1 pixel.
3. The column layout and the st/gst cut values of cloudphot's field catalog
   (``products.py``, ``photometry/culling.py``) next to PHAT's
   ``phat/b15_data_test.fits`` and the UW pipeline's
   ``dolphot/uw_pipeline_ngc1644/9891_NGC1644_F555W-F814W_gst.fits``, with the cut
   values measured on those files' rows.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sextractor as sx
from photometry_accuracy import APERTURE_RADIUS_PIX, machine, match_one_to_one

IMAGE = "hst_images/beast_phat/M31-B09-EAST_chunk_F475W_drz.chip1.fits"
PHAT = "phat/b15_data_test.fits"
UW_GST = "dolphot/uw_pipeline_ngc1644/9891_NGC1644_F555W-F814W_gst.fits"


def default_data() -> Path:
    return Path(
        os.environ.get(
            "CLOUDPHOT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )


def f475w_zeropoint() -> float:
    from cloudphot.fits.zeropoints import zeropoints
    from cloudphot.simulate.exposure import photometric_keywords

    k = photometric_keywords("ACS", "WFC", "F475W")
    return float(zeropoints("ACS", "WFC", "F475W", k["PHOTFLAM"], k["PHOTPLAM"])["zpt_vega"])


def cloudphot_single_image(img: np.ndarray, psf, *, threshold_sigma: float = 4.0) -> dict:
    """The engine's stages of ``reduce_field`` on one image (see module docstring)."""
    from cloudphot.photometry.detect import detect_stars
    from cloudphot.photometry.psfgrid import PSFGrid
    from cloudphot.photometry.psfphot import fit_chip, wing_image
    from cloudphot.photometry.sky import estimate_sky

    t = {}
    t0 = time.perf_counter()
    fwhm = float(psf.fwhm_pix)
    grid = PSFGrid(psf, int(np.ceil(max(3.0, 2.0 * fwhm))))
    bad = ~np.isfinite(img)
    sky, rms = estimate_sky(img, bad, box_pix=64, fwhm_pix=fwhm)
    sub = np.where(bad, 0.0, img - sky)
    t["sky"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = detect_stars(
        sub, rms, fwhm, threshold_sigma=threshold_sigma, mask=bad, min_separation_pix=1.5
    )
    x, y = np.asarray(found["x"], float), np.asarray(found["y"], float)
    n_first = len(x)
    t["detect"] = time.perf_counter() - t0

    def dewinged(x, y):
        first = fit_chip(sub, rms, bad, x, y, grid)
        return sub - wing_image(
            sub.shape,
            x,
            y,
            np.where(first.used, first.flux, 0.0),
            psf,
            grid.radius,
            sky_rms=float(np.median(rms)),
        )

    def recenter(x, y):
        fit = fit_chip(dewinged(x, y), rms, bad, x, y, grid, fit_positions=True)
        ok = np.isfinite(fit.dx) & ((fit.flag & 9) == 0)
        x, y = x.copy(), y.copy()
        x[ok] += np.clip(fit.dx[ok], -1, 1)
        y[ok] += np.clip(fit.dy[ok], -1, 1)
        return x, y

    t0 = time.perf_counter()
    for _ in range(2):
        x, y = recenter(x, y)
    t["recenter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clean = dewinged(x, y)
    model = fit_chip(clean, rms, bad, x, y, grid, return_model=True).model
    found2 = detect_stars(
        clean - model,
        rms,
        fwhm,
        threshold_sigma=threshold_sigma,
        mask=bad,
        min_separation_pix=1.5,
        sharpness_range=(0.1, 1.5),
        roundness_range=(-1.5, 1.5),
    )
    x2, y2 = np.asarray(found2["x"], float), np.asarray(found2["y"], float)
    n_resid = 0
    if len(x2):
        d, _ = cKDTree(np.c_[x, y]).query(np.c_[x2, y2])
        new = d > 1.0
        n_resid = int(new.sum())
        x, y = recenter(np.concatenate([x, x2[new]]), np.concatenate([y, y2[new]]))
    pairs = cKDTree(np.c_[x, y]).query_pairs(0.5, output_type="ndarray")
    if len(pairs):
        keep = np.ones(len(x), bool)
        keep[np.max(pairs, axis=1)] = False
        x, y = x[keep], y[keep]
    t["detect_residual"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = fit_chip(dewinged(x, y), rms, bad, x, y, grid)
    t["photometry"] = time.perf_counter() - t0
    return {
        "x": x,
        "y": y,
        "flux": fit.flux,
        "fluxerr": fit.fluxerr,
        "sharp": fit.sharp,
        "chi": fit.chi,
        "crowd": fit.crowd,
        "flag": fit.flag,
        "n_first": n_first,
        "n_resid": n_resid,
        "sky_rms": float(np.median(rms)),
        "timings": t,
    }


def fmt(v, spec=".3f"):
    return "—" if not np.isfinite(v) else format(v, spec)


def compare_pixels(data: Path) -> str:
    from cloudphot.psf import psf_for

    with fits.open(data / IMAGE) as h:
        hdu = next(x for x in h if x.data is not None)
        img = np.asarray(hdu.data, float)
        hdr = hdu.header.copy()
    psf = psf_for("ACS", "WFC", "F475W")
    zp = f475w_zeropoint()
    t0 = time.perf_counter()
    cp = cloudphot_single_image(img, psf)
    t_cp = time.perf_counter() - t0
    okc = np.isfinite(cp["flux"]) & (cp["flux"] > 0)
    mc = np.where(okc, -2.5 * np.log10(np.where(okc, cp["flux"], 1.0)) + zp, np.nan)

    apcorr = 2.5 * math.log10(psf.encircled_energy(APERTURE_RADIUS_PIX))
    t0 = time.perf_counter()
    res = sx.psf_photometry(
        img.astype(np.float32),
        zeropoint=zp,
        gain=1.0,
        header=hdr,
        config=sx.SexConfig(psfvar_degrees=1),
    )
    t_sx = time.perf_counter() - t0
    c = res.catalog
    ms = np.asarray(c["mag"]) + apcorr
    oks = np.isfinite(ms)
    xs, ys = np.asarray(c["x"])[oks], np.asarray(c["y"])[oks]
    ms = ms[oks]
    xc, yc, mcc = cp["x"][okc], cp["y"][okc], mc[okc]
    sharp_c = cp["sharp"][okc]
    di, si, dist = match_one_to_one(xc, yc, xs, ys)
    dm = mcc[di] - ms[si]
    lines = [
        f"image: {IMAGE} ({img.shape[1]}x{img.shape[0]}); machine: {machine()}; {sx.version()}",
        (
            f"zeropoint supplied: ACS/WFC F475W Vega {zp:.3f} (pixels taken as e-/s); "
            f"PSF: {psf!r}; SExtractor MAG_PSF aperture correction {apcorr:+.3f}"
        ),
        (
            f"cloudphot: {len(xc)} stars with positive flux ({cp['n_first']} first detections, "
            f"{cp['n_resid']} from the residual image), {t_cp:.1f} s; sky rms {cp['sky_rms']:.0f}"
        ),
        (
            f"SExtractor+PSFEx: {len(xs)} sources with MAG_PSF, {t_sx:.1f} s; PSFEx accepted "
            f"{res.n_psf_stars} PSF stars, PSFEx FWHM {res.psf_fwhm:.2f} px (library PSF: {psf.fwhm_pix:.2f} px by "
            "its own measure; PSFEx gives ~2.44 px on simulated flc images made with that library PSF)"
        ),
        (
            f"matched within 1 px: {len(di)} = {len(di) / max(len(xc), 1):.1%} of cloudphot's, "
            f"{len(di) / max(len(xs), 1):.1%} of SExtractor's; median separation {np.median(dist):.2f} px"
        ),
        (
            f"magnitude ranges (1st-99th percentile): cloudphot {np.percentile(mcc, 1):.2f}-{np.percentile(mcc, 99):.2f}, "
            f"SExtractor {np.percentile(ms, 1):.2f}-{np.percentile(ms, 99):.2f}"
        ),
        (
            f"cloudphot sharp (its own definition; 0 = PSF-like): median {np.nanmedian(sharp_c):+.3f} over all, "
            f"{np.nanmedian(sharp_c[mcc < np.nanpercentile(mcc, 10)]):+.3f} for the brightest 10%"
        ),
        "",
        (
            "| cloudphot mag | N cloudphot | N SExtractor (its mag) | matched / cloudphot | "
            "matched / SExtractor | median Δmag (cp − SX) | scatter (1.4826 MAD) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    # The pixel unit is not e-/s (see the docs): bins follow the data, 1 mag wide
    allm = np.concatenate([mcc, ms])
    edges = list(
        np.arange(np.floor(np.percentile(allm, 0.5)), np.ceil(np.percentile(allm, 99.9)) + 1.0)
    )
    edges[0] = min(edges[0], float(np.floor(np.min(allm))))
    for lo, hi in itertools.pairwise(edges):
        inc = (mcc >= lo) & (mcc < hi)
        ins = (ms >= lo) & (ms < hi)
        mi = (mcc[di] >= lo) & (mcc[di] < hi)
        msi = (ms[si] >= lo) & (ms[si] < hi)
        d = dm[mi]
        med = float(np.median(d)) if len(d) else float("nan")
        sc = 1.4826 * float(np.median(np.abs(d - med))) if len(d) else float("nan")
        lines.append(
            f"| {lo}-{hi} | {inc.sum()} | {ins.sum()} | {fmt(mi.sum() / max(inc.sum(), 1), '.2f')} | "
            f"{fmt(msi.sum() / max(ins.sum(), 1), '.2f')} | {fmt(med)} | {fmt(sc)} |"
        )
    bright = mcc[di] < np.nanpercentile(mcc, 20)
    lines.append(
        f"\nbrightest 20% of cloudphot's stars, matched: median Δmag {np.median(dm[bright]):+.3f}, "
        f"scatter {1.4826 * np.median(np.abs(dm[bright] - np.median(dm[bright]))):.3f} "
        f"(N = {bright.sum()})"
    )
    lines.append(
        "timings (s): cloudphot "
        + ", ".join(f"{k} {v:.1f}" for k, v in cp["timings"].items())
        + "; SExtractor+PSFEx "
        + ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items())
    )
    return "\n".join(lines)


def _num(v) -> float:
    return float(str(v).strip().strip("'\""))


def compare_formats(data: Path) -> str:
    from cloudphot import products
    from cloudphot.photometry.options import PhotometryOptions

    o = PhotometryOptions()
    lines = []
    with fits.open(data / PHAT) as h:
        phat = h[1].data
        pcols = list(phat.names)
    with fits.open(data / UW_GST) as h:
        uwh = h[0].header
        uw = h[1].data
        ucols = list(uw.names)
    ours = list(products.PER_FILTER_COLUMNS)
    lines.append(
        "| per-filter quantity | cloudphot field catalog | PHAT b15 (phot_mod naming) | UW gst file |"
    )
    lines.append("|---|---|---|---|")
    for q in [
        "rate",
        "raterr",
        "vega",
        "err",
        "std",
        "chi",
        "snr",
        "sharp",
        "round",
        "crowd",
        "flag",
        "nmeas",
        "st",
        "gst",
    ]:
        a = f"`f475w_{q}`" if q in ours else "—"
        b = f"`f475w_{q}`" if f"f475w_{q}" in pcols else "—"
        c = f"`F555W_{q.upper()}`" if f"F555W_{q.upper()}" in ucols else "—"
        lines.append(f"| {q} | {a} | {b} | {c} |")
    lines.append(
        f"| per-star | {', '.join(f'`{k}`' for k in products.FIELD_COLUMNS)} | "
        f"{', '.join(f'`{k}`' for k in pcols if '_' not in k or k.startswith('inside'))} | "
        f"{', '.join(f'`{k}`' for k in ucols if '_' not in k)} |"
    )

    # cut values: header, measured on the rows (per filter, rows where it is measured), cloudphot
    def s2(a):
        return np.asarray(a, float)

    def measured(tab, f, upper):
        k = (lambda q: f"{f}_{q.upper()}") if upper else (lambda q: f"{f}_{q}")
        ok = s2(tab[k("vega")]) < 90
        if not upper:
            ok &= np.asarray(tab[k("gst")], bool)
        return {q: s2(tab[k(q)])[ok] for q in ("snr", "sharp", "crowd", "flag")}, int(ok.sum())

    cols = [
        ("UW F555W", *measured(uw, "F555W", True)),
        ("UW F814W", *measured(uw, "F814W", True)),
        ("PHAT f475w", *measured(phat, "f475w", False)),
        ("PHAT f814w", *measured(phat, "f814w", False)),
    ]
    uw_both = int(np.sum((s2(uw["F555W_VEGA"]) < 90) & (s2(uw["F814W_VEGA"]) < 90)))
    lines.append("")
    lines.append(
        f"UW gst file: {len(uw)} rows, {uw_both} measured in both filters; a row is in the file when it "
        "passes in at least one filter, and every column of a filter it was not measured in is 99.999. "
        f"PHAT b15: {len(phat)} rows, all `f475w_gst` and `f814w_gst`."
    )
    lines.append("")
    lines.append(
        "| cut (ACS/WFC) | cloudphot `culling.py` default | UW gst header | "
        + " | ".join(f"measured: {n} (N = {k})" for n, _, k in cols)
        + " |"
    )
    lines.append("|---|---|---|" + "---|" * len(cols))
    lines.append(
        f"| S/N | >= {o.snr_min:g} | SNRLIM {_num(uwh.get('SNRLIM', 'nan')):g} | "
        + " | ".join(f"min {np.min(m['snr']):.2f}" for _, m, _ in cols)
        + " |"
    )
    lines.append(
        f"| sharpness | sharp² <= {o.sharp_cut_acs:g} per filter (pair form (sharp1+sharp2)² <= "
        f"{o.sharp_cut_acs:g}) | not recorded | "
        + " | ".join(
            f"max sharp² {np.max(m['sharp'] ** 2):.3f} (abs(sharp) <= {np.max(np.abs(m['sharp'])):.3f})"
            for _, m, _ in cols
        )
        + " |"
    )
    lines.append(
        f"| crowding | crowd <= {o.crowd_cut_acs:g} per filter (pair sum <= {o.crowd_cut_acs:g}) | "
        f"CRLIMACS {_num(uwh.get('CRLIMACS', 'nan')):g} (UVIS {_num(uwh.get('CRLIMUV', 'nan')):g}, "
        f"IR {_num(uwh.get('CRLIMIR', 'nan')):g}) | "
        + " | ".join(f"max {np.max(m['crowd']):.3f}" for _, m, _ in cols)
        + " |"
    )
    lines.append(
        f"| flag | <= {o.flag_max} | not recorded | "
        + " | ".join(f"max {np.max(m['flag']):.0f}" for _, m, _ in cols)
        + " |"
    )
    pair = (s2(phat["f475w_sharp"]) + s2(phat["f814w_sharp"])) ** 2
    lines.append(
        f"\nPHAT b15 pair form: (sharp_f475w + sharp_f814w)² up to {np.max(pair):.3f} and "
        f"crowd_f475w + crowd_f814w up to {np.max(s2(phat['f475w_crowd']) + s2(phat['f814w_crowd'])):.3f} "
        "on gst rows, so these gst flags were not made with the pair cuts 0.075 / 0.1."
    )
    vg = s2(phat["f475w_vega"])
    g = np.asarray(phat["f475w_gst"], bool)
    lines.append(
        f"\nPHAT b15 f475w_vega: {np.sum(vg < 90)} of {len(vg)} measured, gst median "
        f"{np.median(vg[g]):.2f}, 1st-99th percentile {np.percentile(vg[g], 1):.2f}-"
        f"{np.percentile(vg[g], 99):.2f}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data directory")
    ap.add_argument("--skip-pixels", action="store_true", help="only the format/cut comparison")
    a = ap.parse_args(argv)
    data = a.data or default_data()
    if not (data / IMAGE).is_file():
        print(f"shared data not found at {data} (set CLOUDPHOT_SHARED_DATA): nothing to do")
        return 0
    if not a.skip_pixels:
        if sx.have_binaries():
            print(compare_pixels(data))
        else:
            print("source-extractor/psfex not on PATH: pixel comparison skipped")
    print()
    print(compare_formats(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
