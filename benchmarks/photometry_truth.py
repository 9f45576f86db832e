"""The built-in engine against truth on a mismatched-PSF field: learned PSF vs library PSF.

    python benchmarks/photometry_truth.py [--preset tiny|demo] [--seed N] [--psf mismatched]

One run, the same simulated images (``cloudphot.simulate.simulate_field``, by default
``--psf mismatched``: every star drawn with a PSF the engine does not know), reduced
twice by ``reduce_field``, interleaved in the same process:

default
    the default engine: each exposure chip's PSF solved from its bright isolated stars
    (``cloudphot.photometry.psfsolve``) after the first recentering pass, detection on
    all filters;
peer (``--peer NAME=VALUE[,NAME=VALUE...]``)
    the same engine with tunables changed: by default ``psf_from_data=False`` (the
    library PSF unchanged: what a matched-PSF-only engine does on data it did not
    draw); ``detect_all_filters=False`` detects on the deepest filter alone;
    ``before`` is the engine before issue 16 items 3-5 (deepest-filter detection,
    the first sky, statistical errors with a 0.005 mag floor).

Both catalogs are scored by ``cloudphot.verify.score_catalog`` (the scorer a DOLPHOT
catalog would go through too): per filter and 1-mag bin of the true magnitude,
completeness (one-to-one match within 1 pixel), median and robust scatter of the gst
stars' measured - true magnitude, error calibration 1.4826 MAD((dmag - median)/err),
false-detection fraction (gst detections with no injected star within 1 pixel, in
bins of measured magnitude), and the CPU seconds of each reduction. Below the table:
each filter's 50 % completeness limit and the largest |median dmag| brighter than it
(issue 16's target for item 4: <= 0.02 mag).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _fmt(v, spec=".3f"):
    return "—" if v is None or not np.isfinite(v) else format(v, spec)


def depth_summary(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per filter: (faintest bin edge above 50 % completeness, max |bias| brighter)."""
    out = {}
    for f in sorted({r["filter"] for r in rows}):
        rs = [r for r in rows if r["filter"] == f and r["n_true"] >= 10]
        limit, worst = float("nan"), 0.0
        for r in rs:
            if not r["completeness"] >= 0.5:
                break
            limit = r["hi"]
            if r["n_dmag"] >= 5:
                worst = max(worst, abs(r["bias"]))
        out[f] = (limit, worst)
    return out


#: the engine before issue 16 items 3-5 (detection on the deepest filter, the first sky,
#: statistical errors with a 0.005 mag floor): ``--peer before``
BEFORE = (
    "detect_all_filters=False,sky_from_residuals=False,error_from_repeatability=False,"
    "error_common_fraction=0,error_floor_mag=0.005"
)


def _peer(setting: str):
    """``NAME=VALUE[,NAME=VALUE...]`` (or ``before``) -> (label, PhotometryOptions with
    those tunables changed)."""
    import ast

    from cloudphot.photometry import PhotometryOptions

    label = setting
    if setting == "before":
        setting = BEFORE
    changes = {}
    for item in setting.split(","):
        name, _, value = item.partition("=")
        if not value or name not in PhotometryOptions().as_dict():
            raise SystemExit(
                f"--peer wants NAME=VALUE[,NAME=VALUE] with NAME a PhotometryOptions field: "
                f"{item!r}"
            )
        try:
            changes[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            changes[name] = value
    if changes == {"psf_from_data": False}:
        label = "library PSF"
    return label, replace(PhotometryOptions(), **changes)


def run(
    preset: str,
    seed: int,
    psf: str,
    outdir: Path,
    peer: str = "psf_from_data=False",
    engine: str = "",
) -> str:
    from cloudphot.photometry import PhotometryOptions, reduce_field
    from cloudphot.simulate.field import simulate_field
    from cloudphot.verify import score_catalog

    sim = simulate_field(outdir, preset=preset, seed=seed, psf=psf)
    peer_label, peer_opt = _peer(peer)
    engine_opt = _peer(engine)[1] if engine else PhotometryOptions()
    configs = {engine or "default": engine_opt, peer_label: peer_opt}
    scored, cpu = {}, {}
    filters = None
    for name, opt in configs.items():
        t = time.process_time()
        res = reduce_field(sim.exposures, options=opt)
        cpu[name] = time.process_time() - t
        filters = res.filters
        scored[name] = score_catalog(res.catalog, sim.truth, sim.exposures_truth, filters)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    names = list(configs)
    lines = [
        f"preset {preset}, seed {seed}, psf {psf}; load averages {load}",
        "CPU seconds: " + ", ".join(f"{n} {cpu[n]:.0f}" for n in names),
        "",
        "| filter | mag | n | completeness | median dmag | scatter | err calib | false frac |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(scored[names[0]]):
        if r["n_true"] == 0:
            continue
        cells = [
            " / ".join(_fmt(scored[n][k][key], spec) for n in names)
            for key, spec in (
                ("completeness", ".3f"),
                ("bias", "+.3f"),
                ("scatter", ".3f"),
                ("err_calib", ".2f"),
                ("false_frac", ".3f"),
            )
        ]
        lo = "<21" if r["lo"] < 21 else f"{r['lo']:.0f}-{r['hi']:.0f}"
        lines.append(f"| {r['filter']} | {lo} | {r['n_true']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("(each cell: " + " / ".join(names) + ")")
    for n in names:
        for f in filters or []:
            rs = [r for r in scored[n] if r["filter"] == f]
            det = sum(r["n_det"] for r in rs)
            false = sum(r["n_false"] for r in rs)
            found = sum(r["completeness"] * r["n_true"] for r in rs if r["n_true"])
            lines.append(
                f"{n}: {f} {found:.0f} injected stars recovered as gst, "
                f"{det} gst detections, {false} unmatched ({false / max(det, 1):.3f})"
            )
        for f, (limit, worst) in depth_summary(scored[n]).items():
            lines.append(
                f"{n}: {f} 50 % completeness to {_fmt(limit, '.0f')} mag, "
                f"max |median dmag| brighter {worst:.3f}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="demo")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--psf", default="mismatched", choices=["mismatched", "matched"])
    p.add_argument("--outdir", type=Path, default=None)
    p.add_argument(
        "--peer",
        default="psf_from_data=False",
        help="the engine compared with the default: tunables changed, NAME=VALUE[,...] "
        "(default psf_from_data=False, the library PSF; detect_all_filters=False, "
        "detection on the deepest filter alone; 'before': the engine before issue 16 "
        "items 3-5)",
    )
    p.add_argument(
        "--set",
        default="",
        help="tunables of the engine under test, NAME=VALUE[,...] (default: the defaults; "
        "e.g. detect_all_filters=True)",
    )
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="phot-truth-") as tmp:
        print(run(a.preset, a.seed, a.psf, a.outdir or Path(tmp), a.peer, a.set))
    return 0


if __name__ == "__main__":
    sys.exit(main())
