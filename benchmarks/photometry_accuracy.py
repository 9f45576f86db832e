"""Photometric accuracy: cloudphot's built-in engine versus Source Extractor + PSFEx.

    python benchmarks/photometry_accuracy.py [--preset demo|realistic] [--seed N]

One run, the same simulated images (``cloudphot.simulate.simulate_field``; default
preset ``demo``: 16 epochs x F475W + F814W, one 512x512 ACS/WFC chip each, because
``realistic`` takes ~10 minutes just to simulate on a 2-core machine):

cloudphot
    ``reduce_field`` on all exposures (its normal use: detection on the stacked
    reference image, simultaneous PSF fits of every exposure, per-filter combination).
Source Extractor + PSFEx
    per exposure and chip: SExtractor (vignettes) -> PSFEx (PSF of that exposure) ->
    SExtractor with the PSF (``MAG_PSF``, ``XPSF_IMAGE``/``YPSF_IMAGE``); bad DQ
    pixels (the same bits cloudphot masks) get zero weight; zeropoint = the header
    Vega zeropoint that cloudphot uses (``cloudphot.fits.read_exposure``) +
    2.5 log10(EXPTIME) (images in electrons), plus the aperture correction from
    PSFEx's normalisation aperture (8 px diameter) to infinity taken from the same
    library PSF cloudphot fits with (``PSFModel.encircled_energy(4)``, 0.16 mag).
    The per-exposure catalogs of one filter are then combined the way one combines
    single-image catalogs: each exposure's positions go through its header WCS into
    the frame of the filter's first exposure, a shift is fitted on the brightest
    sources (SExtractor's own, no truth, no cloudphot output), detections within
    1 pixel are grouped, a group needs detections in at least ``max(2, ceil(N/6))``
    of the N exposures (rejects cosmic rays, which SExtractor cannot tell from
    stars on a single image) and gets the median magnitude and position.

Why this is fair: both tools see every exposure; both get the same bad-pixel masks,
the same zeropoints and the same PSF knowledge (cloudphot fits the library PSF,
SExtractor fits PSFEx's PSF built from the image itself, aperture-corrected with the
library PSF). Both are scored in the same frame, the chip pixels of the filter's
first exposure, against the true positions there (``EXPOSURES_TRUTH``), over the
stars inside that chip: cloudphot's stars through its measurement rows of that
exposure (its own chip x/y) with their combined magnitude. The SExtractor result on
that single exposure is shown too. The stacking advantage is real and is the point
of a multi-exposure engine; the single-exposure SExtractor column shows its size.

Metrics per filter and bin (1 mag): completeness (fraction of injected stars with
a detection within 1 pixel, one-to-one, closest first), median and robust
scatter (1.4826 MAD) of measured - true magnitude (mean magnitude; Cepheids left
out), median position error (pixels), false-detection fraction (detections with
no injected star within 1 pixel, in bins of measured magnitude), and speed (wall
time of the whole reduction / of all SExtractor+PSFEx runs, one thread each).
No quality cuts are applied to either tool.

Caveat for ``--preset realistic`` (not run so far: ~10 min to simulate on 2 cores): its
per-exposure truth stops at 27.5 mag (``truth_faint_mag``), so fainter bins and the
false-detection fractions there are not meaningful; PSFEx then fits a quadratic PSF
variation over the full chips (``PSFVAR_DEGREES 2``).
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sextractor as sx

BINS = [16.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0]
MATCH_PIX = 1.0
APERTURE_RADIUS_PIX = (
    4.0  # PHOT_APERTURES 8 (diameter) in sextractor.py: PSFEx's flux normalisation
)


# --------------------------------------------------------------------------- matching
def match_one_to_one(xd, yd, xt, yt, radius=MATCH_PIX):
    """Pairs (detection index, truth index, distance) within ``radius``, closest first,
    one-to-one (:func:`cloudphot.verify.match_one_to_one`, the scorer's own matching)."""
    from cloudphot.verify import match_one_to_one as match

    return match(xd, yd, xt, yt, radius)


def has_neighbour(xd, yd, xt, yt, radius=MATCH_PIX):
    if len(xt) == 0:
        return np.zeros(len(xd), bool)
    d, _ = cKDTree(np.c_[xt, yt]).query(np.c_[xd, yd], distance_upper_bound=radius)
    return np.isfinite(d)


@dataclass
class Scored:
    """Per-bin metrics of one tool in one filter (arrays over the bins)."""

    n_true: np.ndarray
    completeness: np.ndarray
    dmag_median: np.ndarray
    dmag_scatter: np.ndarray
    n_dmag: np.ndarray
    pos_median: np.ndarray
    n_det: np.ndarray
    false_frac: np.ndarray
    n_detections: int


def score(xd, yd, magd, xt, yt, magt, variable, bins=BINS) -> Scored:
    variable = np.asarray(variable, bool)
    good = np.isfinite(magd) & (magd < 90)
    xd, yd, magd = xd[good], yd[good], magd[good]
    di, ti, dist = match_one_to_one(xd, yd, xt, yt)
    nb = len(bins) - 1
    out = {
        k: np.full(nb, np.nan)
        for k in ("completeness", "dmag_median", "dmag_scatter", "pos_median", "false_frac")
    }
    n_true = np.zeros(nb, int)
    n_dm = np.zeros(nb, int)
    n_det = np.zeros(nb, int)
    matched_t = np.zeros(len(xt), bool)
    matched_t[ti] = True
    dm = magd[di] - magt[ti]
    const = ~variable[ti]
    false = ~has_neighbour(xd, yd, xt, yt)
    for b in range(nb):
        lo, hi = bins[b], bins[b + 1]
        inb = (magt >= lo) & (magt < hi)
        n_true[b] = inb.sum()
        if inb.any():
            out["completeness"][b] = matched_t[inb].mean()
        mb = (magt[ti] >= lo) & (magt[ti] < hi)
        d = dm[mb & const]
        n_dm[b] = len(d)
        if len(d):
            med = np.median(d)
            out["dmag_median"][b] = med
            out["dmag_scatter"][b] = 1.4826 * np.median(np.abs(d - med))
            out["pos_median"][b] = np.median(dist[mb])
        db = (magd >= lo) & (magd < hi)
        n_det[b] = db.sum()
        if db.any():
            out["false_frac"][b] = false[db].mean()
    return Scored(n_true=n_true, n_dmag=n_dm, n_det=n_det, n_detections=len(xd), **out)


# --------------------------------------------------------------------------- SExtractor side
def sextractor_exposure(path: Path, apcorr: dict[str, float], cfg: sx.SexConfig) -> list[dict]:
    """SExtractor + PSFEx on every chip of one exposure; rows per chip."""
    from cloudphot.fits import read_exposure
    from cloudphot.photometry.masking import dq_masks

    meta = read_exposure(path)
    zpt = {c.extver: c.zpt_vega for c in meta.chips}
    out = []
    with fits.open(path, memmap=False) as h:
        h0 = h[0].header
        exptime = float(h0["EXPTIME"])
        filt = meta.filter
        det = str(h0.get("DETECTOR", "WFC"))
        for hdu in h:
            if hdu.name != "SCI":
                continue
            ev = int(hdu.header.get("EXTVER", 1))
            sci = np.asarray(hdu.data, np.float32)
            bunit = str(hdu.header.get("BUNIT", h0.get("BUNIT", "ELECTRONS"))).upper()
            if "/S" in bunit:
                sci = sci * np.float32(exptime)
            bad, _sat = dq_masks(h["DQ", ev].data, sci, detector=det)
            res = sx.psf_photometry(
                sci,
                zeropoint=zpt[ev] + 2.5 * math.log10(exptime),
                bad=bad,
                header=hdu.header,
                config=cfg,
            )
            cat = res.catalog
            cat["mag"] = cat["mag"] + apcorr[filt]
            out.append(
                {
                    "exposure_id": meta.exposure_id,
                    "path": path,
                    "filter": filt,
                    "chip": ev,
                    "catalog": cat,
                    "shape": sci.shape,
                    "wcs_header": hdu.header,
                    "n_psf_stars": res.n_psf_stars,
                    "psf_fwhm": res.psf_fwhm,
                    "timings": res.timings,
                }
            )
    return out


def _wcs(header):
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


def combine_sextractor(runs: list[dict], ref: dict, nmin: int) -> Table:
    """Group the SExtractor detections of several exposures in ``ref``'s chip frame."""
    wref = _wcs(ref["wcs_header"])
    rc = ref["catalog"]
    rb = np.isfinite(rc["mag"])
    bright_ref = np.argsort(np.where(rb, rc["mag"], 99))[:300]
    xs, ys, ms = [], [], []
    for run in runs:
        c = run["catalog"]
        ok = np.isfinite(c["mag"])
        x, y, m = np.asarray(c["x"])[ok], np.asarray(c["y"])[ok], np.asarray(c["mag"])[ok]
        if run is not ref:
            ra, dec = _wcs(run["wcs_header"]).all_pix2world(x, y, 0)
            x, y = wref.all_world2pix(ra, dec, 0)
            # shift to the reference exposure on the brightest sources (two passes: 3 px, 1 px)
            b = np.argsort(m)[:300]
            dx = dy = 0.0
            for rad in (3.0, 1.0):
                tree = cKDTree(np.c_[rc["x"][bright_ref], rc["y"][bright_ref]])
                d, j = tree.query(np.c_[x[b] + dx, y[b] + dy], distance_upper_bound=rad)
                k = np.isfinite(d)
                if k.sum() >= 5:
                    dx += float(np.median(rc["x"][bright_ref][j[k]] - (x[b][k] + dx)))
                    dy += float(np.median(rc["y"][bright_ref][j[k]] - (y[b][k] + dy)))
            x, y = x + dx, y + dy
        xs.append(x)
        ys.append(y)
        ms.append(m)
    x, y, m = np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)
    order = np.argsort(m)
    tree = cKDTree(np.c_[x, y])
    taken = np.zeros(len(x), bool)
    gx, gy, gm, gn = [], [], [], []
    for i in order:
        if taken[i]:
            continue
        idx = np.array([j for j in tree.query_ball_point([x[i], y[i]], MATCH_PIX) if not taken[j]])
        taken[idx] = True
        if len(idx) >= nmin:
            gx.append(np.median(x[idx]))
            gy.append(np.median(y[idx]))
            gm.append(np.median(m[idx]))
            gn.append(len(idx))
    return Table(
        {"x": np.array(gx), "y": np.array(gy), "mag": np.array(gm), "n": np.array(gn, int)}
    )


# --------------------------------------------------------------------------- report
def machine() -> str:
    u = platform.uname()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{u.system} {u.release} {u.machine}; nproc {nproc}; Python {platform.python_version()}"


def fmt(v, spec=".3f"):
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def ratio(a, b):
    return a / b if (np.isfinite(a) and np.isfinite(b) and b != 0) else float("nan")


def table_for(filt, cp: Scored, sxc: Scored, sx1: Scored, cpm: Scored, bins=BINS) -> str:
    lines = [
        f"\n**{filt}** (true magnitude bins; false detections in measured-magnitude bins)\n",
        (
            "| mag | N true | compl. cp | compl. SX | cp/SX | compl. SX 1 exp | Δmag cp | Δmag SX | "
            "scatter cp | scatter SX | cp/SX | scatter cp median-comb. | pos err cp | pos err SX | false cp | "
            "false SX |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in range(len(bins) - 1):
        lab = f"<{bins[1]:.0f}" if b == 0 else f"{bins[b]:.0f}-{bins[b + 1]:.0f}"
        lines.append(
            f"| {lab} | {cp.n_true[b]} | {fmt(cp.completeness[b], '.2f')} | {fmt(sxc.completeness[b], '.2f')} | "
            f"{fmt(ratio(cp.completeness[b], sxc.completeness[b]), '.2f')} | {fmt(sx1.completeness[b], '.2f')} | "
            f"{fmt(cp.dmag_median[b])} | {fmt(sxc.dmag_median[b])} | "
            f"{fmt(cp.dmag_scatter[b])} | {fmt(sxc.dmag_scatter[b])} | "
            f"{fmt(ratio(cp.dmag_scatter[b], sxc.dmag_scatter[b]), '.2f')} | {fmt(cpm.dmag_scatter[b])} | "
            f"{fmt(cp.pos_median[b], '.2f')} | {fmt(sxc.pos_median[b], '.2f')} | "
            f"{fmt(cp.false_frac[b], '.2f')} ({cp.n_det[b]}) | {fmt(sxc.false_frac[b], '.2f')} ({sxc.n_det[b]}) |"
        )
    return "\n".join(lines)


def run(preset: str = "demo", seed: int = 1, outdir: Path | None = None) -> str:
    from cloudphot.photometry.field import reduce_field
    from cloudphot.psf import psf_for
    from cloudphot.simulate.field import simulate_field

    if not sx.have_binaries():
        msg = (
            "source-extractor and psfex not found (apt-get install source-extractor psfex): skipped"
        )
        print(msg)
        return msg
    tmp = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="photacc-"))
    t0 = time.perf_counter()
    sim = simulate_field(tmp / "sim", preset=preset, seed=seed)
    t_sim = time.perf_counter() - t0
    print(
        f"simulated {preset} seed {seed}: {len(sim.exposures)} exposures, {len(sim.truth)} stars, "
        f"PSF {sim.psf_source} ({t_sim:.1f} s)",
        flush=True,
    )

    t0 = time.perf_counter()
    red = reduce_field(sim.exposures, workdir=tmp / "cloudphot")
    t_cp = time.perf_counter() - t0
    print(
        f"cloudphot reduce_field: {t_cp:.1f} s, {len(red.catalog)} stars, "
        f"{len(red.measurements)} measurements",
        flush=True,
    )

    cfg = sx.SexConfig(psfvar_degrees=0 if preset != "realistic" else 2)
    apcorr = {}
    t0 = time.perf_counter()
    runs: list[dict] = []
    from cloudphot.fits import read_exposure

    for p in sim.exposures:
        h0 = fits.getheader(p, 0)
        inst, det = str(h0["INSTRUME"]), str(h0["DETECTOR"])
        filt = read_exposure(p).filter
        if filt not in apcorr:
            apcorr[filt] = 2.5 * math.log10(
                psf_for(inst, det, filt).encircled_energy(APERTURE_RADIUS_PIX)
            )
        runs.extend(sextractor_exposure(Path(p), apcorr, cfg))
    t_sx = time.perf_counter() - t0
    n_sx_meas = sum(len(r["catalog"]) for r in runs)
    print(
        f"SExtractor+PSFEx: {t_sx:.1f} s, {n_sx_meas} measurements on {len(runs)} chips", flush=True
    )

    truth = sim.truth
    tid = {int(s): i for i, s in enumerate(truth["star_id"])}
    variable = np.asarray(truth["is_variable"], bool)
    et = sim.exposures_truth
    md = red.measurements
    cat = red.catalog
    report = []
    combined_rows = []
    for f in sim.filters:
        fr = [r for r in runs if r["filter"] == f]
        ref_exp = fr[0]["exposure_id"]
        nexp = len({r["exposure_id"] for r in fr})
        nmin = max(2, math.ceil(nexp / 6))
        acc = {"cp": [], "cp_med": [], "sxc": [], "sx1": []}
        # diagnostic: the median of cloudphot's own per-exposure magnitudes of each star
        # (its catalog value is the error-weighted mean rate, combine.py)
        fm = (
            (np.asarray(md["filter"]) == f)
            & (np.asarray(md["vega"]) < 90)
            & ((np.asarray(md["flag"]) & 8) == 0)
        )
        cp_median = np.full(len(cat), np.nan)
        sids, inv = np.unique(np.asarray(md["star_id"])[fm] - 1, return_inverse=True)
        vv = np.asarray(md["vega"], float)[fm]
        order = np.argsort(inv, kind="stable")
        for k, part in zip(sids, np.split(vv[order], np.flatnonzero(np.diff(inv[order])) + 1)):
            cp_median[k] = np.median(part)
        for ref in [r for r in fr if r["exposure_id"] == ref_exp]:
            ny, nx = ref["shape"]
            chip = ref["chip"]
            tsel = (np.asarray(et["exposure_id"]) == ref_exp) & (np.asarray(et["chip"]) == chip)
            tx, ty = np.asarray(et["x"][tsel], float), np.asarray(et["y"][tsel], float)
            inside = (tx >= 0) & (tx <= nx - 1) & (ty >= 0) & (ty <= ny - 1)
            ti = np.array([tid[int(s)] for s in np.asarray(et["star_id"][tsel])[inside]], int)
            tx, ty = tx[inside], ty[inside]
            tm = np.asarray(truth[f"{f.lower()}_vega"], float)[ti]
            var = variable[ti]
            # cloudphot: its measurement rows on this chip of this exposure, combined magnitude
            msel = (np.asarray(md["exposure_id"]) == ref_exp) & (np.asarray(md["chip"]) == chip)
            sid = np.asarray(md["star_id"][msel]) - 1
            cm = np.asarray(cat[f"{f.lower()}_vega"], float)[sid]
            acc["cp"].append((np.asarray(md["x"][msel]), np.asarray(md["y"][msel]), cm))
            acc["cp_med"].append(
                (np.asarray(md["x"][msel]), np.asarray(md["y"][msel]), cp_median[sid])
            )
            comb = combine_sextractor([r for r in fr if r["chip"] == chip], ref, nmin)
            acc["sxc"].append(
                (np.asarray(comb["x"]), np.asarray(comb["y"]), np.asarray(comb["mag"]))
            )
            c1 = ref["catalog"]
            acc["sx1"].append((np.asarray(c1["x"]), np.asarray(c1["y"]), np.asarray(c1["mag"])))
            acc.setdefault("truth", []).append((tx, ty, tm, var))
            combined_rows.append((f, chip, len(comb)))

        # single chip per evaluation exposure in demo; several chips are scored together
        # (positions are per chip, so offset chips apart before pooling)
        def pool(key, acc=acc):
            parts = acc[key]
            return tuple(
                np.concatenate([p[i] + 10000 * k if i == 0 else p[i] for k, p in enumerate(parts)])
                for i in range(len(parts[0]))
            )

        tx, ty, tm, var = pool("truth")
        scored = {k: score(*pool(k), tx, ty, tm, var) for k in ("cp", "cp_med", "sxc", "sx1")}
        report.append((f, ref_exp, nexp, nmin, len(tx), scored))

    speed = {
        "cp_meas": len(md) / t_cp,
        "cp_cat": len(cat) / t_cp,
        "sx_meas": n_sx_meas / t_sx,
        "sx_cat": sum(n for *_, n in combined_rows) / t_sx,
    }
    chips_per = ", ".join(
        f"{f}: {sum(1 for r in runs if r['filter'] == f)} chips" for f in sim.filters
    )
    lines = [
        (
            f"preset {preset}, seed {seed}: {len(sim.exposures)} exposures ({chips_per}), "
            f"{len(sim.truth)} injected stars, PSF {sim.psf_source}"
        ),
        f"machine: {machine()}; {sx.version()}",
        f"aperture corrections added to MAG_PSF (r = {APERTURE_RADIUS_PIX:g} px to infinity, library PSF): "
        + ", ".join(f"{f} {v:+.3f}" for f, v in apcorr.items()),
        (
            f"PSFEx stars accepted per exposure: median {np.median([r['n_psf_stars'] for r in runs]):.0f}, "
            f"PSFEx FWHM median {np.median([r['psf_fwhm'] for r in runs]):.2f} px"
        ),
    ]
    for f, ref_exp, nexp, nmin, ntrue, sc in report:
        lines.append(
            f"\n{f}: scored in the chip frame of {ref_exp}; {ntrue} injected stars on it; "
            f"cloudphot {sc['cp'].n_detections} stars, SExtractor combined "
            f"{sc['sxc'].n_detections} (groups with >= {nmin} of {nexp} exposures), "
            f"SExtractor single exposure {sc['sx1'].n_detections}"
        )
        lines.append(table_for(f, sc["cp"], sc["sxc"], sc["sx1"], sc["cp_med"]))
    lines.append(
        "\n| speed (one thread each) | cloudphot | SExtractor+PSFEx | cloudphot/SX |\n|---|---|---|---|"
    )
    lines.append(
        f"| wall time, s | {t_cp:.1f} | {t_sx:.1f} | {t_sx / t_cp:.2f}x faster |"
        if t_cp < t_sx
        else f"| wall time, s | {t_cp:.1f} | {t_sx:.1f} | {t_sx / t_cp:.2f} (slower) |"
    )
    lines.append(
        f"| measurements (star x exposure) per s | {speed['cp_meas']:.0f} | {speed['sx_meas']:.0f} | "
        f"{ratio(speed['cp_meas'], speed['sx_meas']):.2f} |"
    )
    lines.append(
        f"| catalog stars per s | {speed['cp_cat']:.0f} | {speed['sx_cat']:.0f} | "
        f"{ratio(speed['cp_cat'], speed['sx_cat']):.2f} |"
    )
    lines.append(
        "\ncloudphot stage timings (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in red.timings.items())
    )
    tt = {}
    for r in runs:
        for k, v in r["timings"].items():
            tt[k] = tt.get(k, 0.0) + v
    lines.append(
        "SExtractor+PSFEx timings (s, summed): " + ", ".join(f"{k} {v:.1f}" for k, v in tt.items())
    )
    text = "\n".join(lines)
    print(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="demo", choices=["tiny", "demo", "realistic"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--outdir", type=Path, default=None, help="keep the images and products here")
    a = ap.parse_args(argv)
    run(a.preset, a.seed, a.outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
