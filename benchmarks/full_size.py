"""Full-size HST exposures: simulate, preprocess and photometry measured, and the PSF
fitting beside photutils' PSFPhotometry on the same image (issue 12 item 1).

    PYTHONPATH=src python benchmarks/full_size.py --workdir /tmp/fs [--seed 1]
        [--prep 3] [--crop 1024] [--compare-size 400] [--compare-mag 26.0]

Every step runs in a child process of its own, so its wall time, CPU time and peak
resident memory (``os.wait4``'s ``ru_maxrss``) are that step's alone, single-threaded
(``OMP_NUM_THREADS=1`` and friends), as one Lambda or one Fargate vCPU runs it:

simulate
    ``simulate_field(preset="realistic", workers=2)``: 24 exposures (16 ACS/WFC flc of 2 x
    4096x2048 chips in F475W and F814W, 8 WFC3/IR flt in F160W) with truth; skipped
    when ``--workdir`` already has the field (the table then says "reused").
preprocess
    ``preprocess_exposure`` (what the per-exposure Lambda runs: DQ masks, cosmic rays by
    astroscrappy, sky mesh) on ``--prep`` full exposures, one per filter first;
    against Lambda's 10,240 MB and 900 s.
photometry
    ``reduce_field`` (what the Fargate task runs: align, detect on the stack, recenter,
    PSF from the data, photometry of every exposure) on the 16 ACS exposures cut to a
    ``--crop`` x ``--crop`` box of chip 1 around the same sky (a full field takes hours
    of one shared core here); its numbers are scaled by pixels to the full field and
    set against Fargate's task sizes.
compare
    On one F814W exposure's preprocessed image, cut to ``--compare-size`` pixels
    square: the stars injected brighter than ``--compare-mag`` at their true positions
    are the initial positions of both fitters; both fit flux and position with the
    library PSF (``cloudphot.psf.psf_for``; photutils gets the same model as its
    ``ImagePSF``), the same fit box (``2r+1``, ``r`` the engine's fitting radius) and the
    same bad-pixel mask. photutils' ``PSFPhotometry`` runs with a ``SourceGrouper``
    (neighbours within the fit box fitted together, as the engine fits all stars
    together) and without one. Flux residuals are (fit - true) / true of the stars
    both fit, per magnitude bin; throughput is stars per CPU-second of each fit.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import itertools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LAMBDA_MEMORY_MB = 10240
TOOLS = [
    "cloudphot",
    "photutils, grouped",
    "photutils, ungrouped",
    "cloudphot, fixed positions",
    "photutils, fixed positions",
]
LAMBDA_TIMEOUT_S = 900
#: Fargate's valid (vCPU, GiB) ranges, smallest first (AWS ECS task size table)
FARGATE = [(0.25, 2), (0.5, 4), (1, 8), (2, 16), (4, 30), (8, 60), (16, 120)]


# ---------------------------------------------------------------- child processes
def _child(task: str, args: dict) -> dict:
    if task == "simulate":
        from cloudphot.simulate.field import simulate_field

        sim = simulate_field(
            args["outdir"], preset="realistic", seed=args["seed"], workers=args["workers"]
        )
        return {"exposures": len(sim.exposures), "stars": len(sim.truth)}
    if task == "preprocess":
        from cloudphot.photometry.preprocess import preprocess_exposure

        res = preprocess_exposure(args["path"], output=args["output"])
        return {"stats": res.stats}
    if task == "reduce":
        from cloudphot.photometry import reduce_field

        red = reduce_field(args["paths"], workdir=Path(args["workdir"]))
        return {
            "stars": len(red.catalog),
            "measurements": len(red.measurements),
            "timings": red.timings,
        }
    raise SystemExit(f"unknown task {task}")


def measured(task: str, **args) -> dict:
    """Run ``task`` in a child; its wall s, CPU s (user + system), peak RSS MiB, result."""
    out = Path(args.get("result") or f"/tmp/full_size_{os.getpid()}_{task}.json")
    cmd = [sys.executable, __file__, "_child", task, json.dumps(args), str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{task} failed (exit {proc.returncode})")
    result = json.loads(out.read_text())
    out.unlink()
    return {
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_mib": ru.ru_maxrss / 1024,
        **result,
    }


# ---------------------------------------------------------------- cropping
def crop_exposure(src: Path, dst: Path, extver: int, x0: int, y0: int, size: int) -> Path:
    """One chip of an flc cut to ``size`` pixels square at (x0, y0): a one-chip flc whose
    WCS is shifted with it (as a subarray exposure is)."""
    from astropy.io import fits

    with fits.open(src) as hdul:
        prim = hdul[0].copy()
        prim.header["NEXTEND"] = 3
        out = [prim]
        for name in ("SCI", "ERR", "DQ"):
            h = hdul[name, extver]
            hdu = fits.ImageHDU(h.data[y0 : y0 + size, x0 : x0 + size].copy(), h.header.copy())
            hdu.header["EXTVER"] = 1
            hdu.header["CRPIX1"] = h.header["CRPIX1"] - x0
            hdu.header["CRPIX2"] = h.header["CRPIX2"] - y0
            hdu.header["LTV1"] = h.header.get("LTV1", 0.0) - x0
            hdu.header["LTV2"] = h.header.get("LTV2", 0.0) - y0
            out.append(hdu)
        dst.parent.mkdir(parents=True, exist_ok=True)
        fits.HDUList(out).writeto(dst, overwrite=True)
    return dst


def fargate_fit(vcpu: float, gib: float) -> str:
    for c, m in FARGATE:
        if c >= vcpu and m >= gib:
            return f"{c:g} vCPU / {max(gib, 2 * c):.0f}-{m} GiB"
    return "beyond 16 vCPU / 120 GiB: tile the field"


# ---------------------------------------------------------------- the comparison
class TruePSF:
    """The PSF the simulator drew one exposure's stars with, frozen at one chip pixel
    (the comparison box's centre): ``stamp`` for the engine, an oversampled image for
    photutils' ``ImagePSF``, both from the same numbers."""

    def __init__(self, truth_path: Path, rootname: str, filt: str, ext: int, x0: int, y0: int):
        from cloudphot.psf import psf_for
        from cloudphot.simulate.exposure import ExposureSpec
        from cloudphot.simulate.field import _true_weights, read_psf_truth
        from cloudphot.simulate.psfvar import PSFVariation, psf_basis

        row = next(r for r in read_psf_truth(truth_path) if r["exposure_id"] == rootname)
        terms = {k: float(row[k]) for k in ("breathing", "jitter", "jitter_angle")}
        spec = ExposureSpec("ACS", "WFC", filt, chip_shape=(2048, 4096), nchips=2)
        self.basis = psf_basis("ACS", "WFC", filt, "mismatched", PSFVariation())
        self.w = _true_weights(spec, ext, np.array([float(x0)]), np.array([float(y0)]), terms)
        self.fwhm_pix = float(psf_for("ACS", "WFC", filt).fwhm_pix)

    def stamp(self, dx: float, dy: float, radius: int) -> np.ndarray:
        return self.basis.stamps(np.array([dx]), np.array([dy]), self.w, radius)[0]

    def photutils_model(self, radius: int, oversample: int = 4):
        from photutils.psf import ImagePSF

        size = 2 * radius + 1
        data = np.zeros((oversample * size, oversample * size))
        for by in range(oversample):
            for bx in range(oversample):
                # a star at (-bx/os, -by/os) from a pixel centre samples offsets i + bx/os
                st = self.stamp(-bx / oversample, -by / oversample, radius)
                data[by::oversample, bx::oversample] = st
        c = oversample * radius  # offset 0 at index c; keep offsets -radius..+radius
        data = data[: 2 * c + 1, : 2 * c + 1]
        return ImagePSF(data, oversampling=oversample)


def compare(
    prep_path: Path, flc: Path, truth_path: Path, size: int, mag: float, which: str
) -> dict:
    from astropy.io import fits
    from astropy.table import Table
    from photutils.psf import PSFPhotometry, SourceGrouper

    from cloudphot.photometry.preprocess import read_preprocess
    from cloudphot.photometry.psfgrid import PSFGrid
    from cloudphot.photometry.psfphot import fit_chip
    from cloudphot.psf import psf_for
    from cloudphot.simulate.field import read_truth

    extver = 1
    with fits.open(flc) as hdul:
        sci = hdul["SCI", extver].data.astype(float)
        filt = hdul[0].header.get("FILTER2") or hdul[0].header["FILTER1"]
        rootname = hdul[0].header["ROOTNAME"].lower()
    prep = {c.extver: c for c in read_preprocess(prep_path).chips}[extver]
    ny, nx = sci.shape
    y0, x0 = (ny - size) // 2, (nx - size) // 2
    box = np.s_[y0 : y0 + size, x0 : x0 + size]
    img = (sci - prep.sky)[box]
    rms = np.asarray(prep.sky_rms[box], float)
    bad = prep.rejected[box] | ~np.isfinite(img)
    _, et = read_truth(truth_path)
    on = et[(et["exposure_id"] == rootname) & (et["chip"] == extver)]
    x = np.asarray(on["x"]) - x0
    y = np.asarray(on["y"]) - y0
    m = np.asarray(on["mag"])
    library = psf_for("ACS", "WFC", filt)
    r_fit = int(np.ceil(max(3.0, 2.0 * library.fwhm_pix)))  # the engine's default radius
    if which == "true":
        psf = TruePSF(truth_path, rootname, filt, extver, x0 + size // 2, y0 + size // 2)
        model = psf.photutils_model(3 * r_fit)
    else:
        psf, model = library, library.as_photutils_model()
    inside = (x > r_fit) & (x < size - 1 - r_fit) & (y > r_fit) & (y < size - 1 - r_fit)
    pick = inside & (m < mag)
    x, y, m = x[pick], y[pick], m[pick]
    true_flux = np.asarray(on["flux_e"])[pick]
    n = len(x)
    out: dict = {"filter": filt, "exposure": rootname, "size": size, "mag": mag, "n": n}
    out["n_injected_in_box"] = int(inside.sum())
    out["fit_radius"] = r_fit
    out["psf"] = which

    t = time.process_time()
    grid = PSFGrid(psf, r_fit)
    fit = fit_chip(img, rms, bad, x, y, grid, fit_positions=True)
    out["cloudphot"] = {"cpu_s": time.process_time() - t, "flux": fit.flux.tolist()}
    t = time.process_time()
    grid = PSFGrid(psf, r_fit)
    fit = fit_chip(img, rms, bad, x, y, grid, fit_positions=False)
    out["cloudphot, fixed positions"] = {
        "cpu_s": time.process_time() - t,
        "flux": fit.flux.tolist(),
    }

    err = np.sqrt(rms**2 + np.clip(img, 0, None))
    fshape = (2 * r_fit + 1, 2 * r_fit + 1)
    init = Table({"x": x, "y": y})
    fixed = model.copy()
    fixed.x_0.fixed = fixed.y_0.fixed = True
    for label, grouper, mod in (
        ("photutils, grouped", SourceGrouper(min_separation=2 * r_fit + 1), model),
        ("photutils, ungrouped", None, model),
        # (photutils 3.0 fails a grouped fit of fixed positions: "cannot reshape array")
        ("photutils, fixed positions", None, fixed),
    ):
        phot = PSFPhotometry(
            mod,
            fshape,
            grouper=grouper,
            aperture_radius=1.5 * psf.fwhm_pix,
            group_warning_threshold=10**9,
        )
        t = time.process_time()
        res = phot(img, mask=bad, error=err, init_params=init)
        cpu = time.process_time() - t
        res.sort("id")
        groups = np.asarray(res["group_size"]) if "group_size" in res.colnames else np.ones(n)
        out[label] = {
            "cpu_s": cpu,
            "flux": np.asarray(res["flux_fit"], float).tolist(),
            "largest_group": int(groups.max()) if n else 0,
        }
    out["true_flux"] = true_flux.tolist()
    out["true_mag"] = m.tolist()
    return out


def _resid_table(c: dict) -> list[str]:
    true = np.asarray(c["true_flux"])
    mag = np.asarray(c["true_mag"])
    tools = TOOLS
    fl = {k: np.asarray(c[k]["flux"], float) for k in tools}
    both = np.all([np.isfinite(v) for v in fl.values()], axis=0)
    edges = [-np.inf, 22, 23, 24, 25, 26, np.inf]
    lines = [
        "| true mag | N | " + " | ".join(f"{k} median / scatter" for k in tools) + " |",
        "|---|---|" + "---|" * len(tools),
    ]
    for lo, hi in itertools.pairwise(edges):
        sel = both & (mag >= lo) & (mag < hi)
        if sel.sum() < 3:
            continue
        cells = []
        for k in tools:
            d = fl[k][sel] / true[sel] - 1
            med = np.median(d)
            cells.append(f"{med:+.4f} / {1.4826 * np.median(np.abs(d - med)):.4f}")
        name = f"< {hi:g}" if lo == -np.inf else f">= {lo:g}" if hi == np.inf else f"{lo:g}-{hi:g}"
        lines.append(f"| {name} | {int(sel.sum())} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prep", type=int, default=3, help="full exposures to preprocess")
    ap.add_argument("--sim-workers", type=int, default=2, help="simulate's worker processes")
    ap.add_argument("--crop", type=int, default=1024, help="photometry box (pixels, 0 = none)")
    ap.add_argument("--compare-size", type=int, default=400)
    ap.add_argument("--compare-mag", type=float, default=26.0)
    ap.add_argument(
        "--compare-psf",
        choices=["true", "library"],
        default="true",
        help="the PSF both fitters get: the exposure's true PSF (default) or the library's",
    )
    ap.add_argument("--skip", nargs="*", default=[], choices=["photometry", "compare"])
    a = ap.parse_args()
    from astropy.io import fits

    field = a.workdir / "field"
    rows = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    if not (field / "truth.fits").exists():
        r = measured("simulate", outdir=str(field), seed=a.seed, workers=a.sim_workers)
        rows.append(
            (
                f"simulate realistic (24 exposures, {a.sim_workers} worker processes)",
                r,
                f"{r['stars']:,} stars; peak is one process's",
            )
        )
    else:
        rows.append(("simulate realistic", None, "reused from an earlier run"))
    paths = sorted(field.glob("*_fl?.fits"))
    by_filter: dict[str, list[Path]] = {}
    for p in paths:
        h = fits.getheader(p, 0)
        f = h.get("FILTER") or (
            h["FILTER1"] if not h["FILTER1"].startswith("CLEAR") else h["FILTER2"]
        )
        by_filter.setdefault(f, []).append(p)
    order = []
    for k in range(max(len(v) for v in by_filter.values())):
        order += [v[k] for v in by_filter.values() if k < len(v)]
    prep_dir = a.workdir / "prep"
    prep_dir.mkdir(parents=True, exist_ok=True)
    preps = {}
    for p in order[: a.prep]:
        out = prep_dir / f"{p.name.split('_')[0]}_prep.fits"
        r = measured("preprocess", path=str(p), output=str(out))
        preps[p] = out
        mpix = sum(h.data.size for h in fits.open(p, memmap=True) if h.name == "SCI") / 1e6
        rows.append(
            (
                f"preprocess {p.name} ({mpix:.1f} Mpix)",
                r,
                f"Lambda: {r['peak_mib'] / LAMBDA_MEMORY_MB:.0%} of 10 GB, "
                f"{r['wall_s'] / LAMBDA_TIMEOUT_S:.0%} of 15 min",
            )
        )
    acs = [p for f in ("F475W", "F814W") for p in by_filter.get(f, [])]
    if "photometry" not in a.skip and a.crop:
        ny, nx = fits.getdata(acs[0], ("SCI", 1)).shape
        y0, x0 = (ny - a.crop) // 2, (nx - a.crop) // 2
        crops = [crop_exposure(p, a.workdir / "crop" / p.name, 1, x0, y0, a.crop) for p in acs]
        r = measured("reduce", paths=[str(p) for p in crops], workdir=str(a.workdir / "cropwd"))
        scale = (2 * nx * ny) / (a.crop * a.crop)
        gib = r["peak_mib"] * scale / 1024
        rows.append(
            (
                f"photometry of {len(crops)} ACS exposures cut to {a.crop}x{a.crop}",
                r,
                f"{r['stars']:,} stars, {r['measurements']:,} measurements; "
                f"{r['measurements'] / r['cpu_s']:,.0f} measurements per CPU-s",
            )
        )
        full_cpu_h = r["cpu_s"] * scale / 3600
        rows.append(
            (
                f"... scaled by pixels to the full field (x{scale:.0f})",
                None,
                f"~{full_cpu_h:.1f} CPU-h on one core, ~{gib:.0f} GiB if held at once: "
                f"{fargate_fit(1, gib)}",
            )
        )
    comp = None
    if "compare" not in a.skip:
        f814 = by_filter["F814W"][0]
        prep = preps.get(f814)
        if prep is None:
            prep = prep_dir / f"{f814.name.split('_')[0]}_prep.fits"
            if not prep.exists():
                measured("preprocess", path=str(f814), output=str(prep))
        comp = compare(
            prep, f814, field / "truth.fits", a.compare_size, a.compare_mag, a.compare_psf
        )

    load1 = os.getloadavg()[0]
    print(
        f"\n{started}; {platform.platform()}; nproc {os.cpu_count()}; Python "
        f"{platform.python_version()}; load average {load0:.1f} at start, {load1:.1f} at end\n"
    )
    print("| step | wall s | CPU s | peak MiB | notes |")
    print("|---|---|---|---|---|")
    for name, r, note in rows:
        if r is None:
            print(f"| {name} | | | | {note} |")
        else:
            print(
                f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mib']:,.0f} | {note} |"
            )
    for _name, r, _ in rows:
        if r and "timings" in r:
            print(
                "\nphotometry stages (s): "
                + ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
            )
    if comp is not None:
        import photutils

        print(
            f"\nPSF fitting, {comp['filter']} exposure {comp['exposure']}, "
            f"{comp['size']}x{comp['size']} pixels, {comp['n']} stars brighter than "
            f"{comp['mag']:g} mag ({comp['n_injected_in_box']} injected in the box), fit "
            f"box {2 * comp['fit_radius'] + 1} px, {comp['psf']} PSF for both, photutils "
            f"{photutils.__version__}\n"
        )
        print("| fitter | CPU s | stars per CPU-s | vs photutils grouped | largest group |")
        print("|---|---|---|---|---|")
        base = comp["n"] / comp["photutils, grouped"]["cpu_s"]
        for k in TOOLS:
            rate = comp["n"] / comp[k]["cpu_s"]
            print(
                f"| {k} | {comp[k]['cpu_s']:.2f} | {rate:,.0f} | {rate / base:.1f}x | "
                f"{comp[k].get('largest_group', '—')} |"
            )
        print("\nflux residual (fit - true) / true, median / robust scatter:\n")
        print("\n".join(_resid_table(comp)))
        (a.workdir / "compare.json").write_text(json.dumps(comp))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        res = _child(sys.argv[2], json.loads(sys.argv[3]))
        Path(sys.argv[4]).write_text(json.dumps(res))
        sys.exit(0)
    sys.exit(main())
