"""``cloudphot simulate``: write a realistic synthetic crowded field to a directory.

The lead's ``cli.py`` calls :func:`add_commands` with its subparsers; the command is a
thin shell over :func:`cloudphot.simulate.field.simulate_field`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_commands", "run_simulate"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value <= 100):
        raise argparse.ArgumentTypeError(f"crowding must be in (0, 100], got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be >= 0, got {text}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"workers must be from 1 to 256, got {text}")
    return value


def add_commands(subparsers) -> None:
    """Add the ``simulate`` command to an ``argparse`` subparsers object."""
    from .presets import PRESETS

    p = subparsers.add_parser(
        "simulate",
        help="write a synthetic crowded field (flc exposures, its manifest, truth.fits)",
        description=(
            "Simulate an M31-like crowded field: dithered multi-epoch ACS/WFC exposures "
            "with sky, noise, cosmic rays, saturation, hot pixels and Cepheids of known "
            "period, the field's manifest (manifests/<field>.json, listing the exposures) and "
            "truth.fits with the injected stars. 'cloudphot upload OUTDIR' then uploads the "
            "exposures and the manifest (not the truth), which reduces the field."
        ),
    )
    p.add_argument("outdir", metavar="OUTDIR", help="directory to write into (created)")
    p.add_argument(
        "--preset", choices=sorted(PRESETS), default="demo", help="field size (default: demo)"
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--crowding",
        type=_positive_float,
        default=1.0,
        metavar="FACTOR",
        help="multiply the preset's stellar density (default: 1)",
    )
    p.add_argument(
        "--filters",
        nargs="+",
        default=None,
        metavar="FILTER",
        help="subset of the preset's filters (default: all)",
    )
    p.add_argument(
        "--psf",
        choices=["mismatched", "matched"],
        default=None,
        help=(
            "draw stars with a PSF the engine does not know, varying over the chip and "
            "between exposures, plus CTE trails (mismatched, the default), or with the "
            "library PSF the engine fits (matched: unit tests only)"
        ),
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="processes rendering exposures at once (same pixels for any N; default 1)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Run the ``simulate`` command; print a short summary; return the exit code."""
    from .field import simulate_field
    from .presets import get_preset

    if get_preset(args.preset).n_fields > 1:
        return _run_brick(args)
    start = time.perf_counter()
    try:
        sim = simulate_field(args.outdir, **_simulation_options(args))
    except ValueError as exc:
        print(f"cloudphot simulate: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    mjd = sim.exposures_truth["mjd"]
    ceph = sim.cepheids
    print(
        f"field {sim.field_id}: {len(sim.exposures)} exposures in {args.outdir} "
        f"({elapsed:.1f} s, PSF: {sim.psf} from {sim.psf_source})"
    )
    if len(mjd):
        print(
            f"  filters {', '.join(sim.filters)}; MJD {mjd.min():.2f}-{mjd.max():.2f} "
            f"({mjd.max() - mjd.min():.0f} d)"
        )
    print(
        f"  {len(sim.truth)} stars (crowding x{sim.crowding:g}), "
        f"{len(ceph)} Cepheids with periods "
        + ", ".join(f"{p:.2f}" for p in sorted(ceph["period_d"]))
        + " d"
    )
    print(f"  truth: {sim.truth_path}")
    from ..manifests import manifest_document, manifest_key, write_manifest

    ids = [p.name.split("_")[0] for p in sim.exposures]
    manifest = write_manifest(
        Path(args.outdir) / manifest_key(sim.field_id), manifest_document(sim.field_id, ids)
    )
    print(f"  manifest: {manifest}")
    print(f"next: cloudphot upload {args.outdir}   (the exposures and the manifest)")
    return 0


def _simulation_options(args: argparse.Namespace) -> dict:
    """What one field and a brick are both simulated with, from the command line."""
    return {
        "preset": args.preset,
        "seed": args.seed,
        "crowding": args.crowding,
        "filters": args.filters,
        "psf": getattr(args, "psf", None),
        "progress": not getattr(args, "no_progress", False),
        "workers": getattr(args, "workers", 1),
    }


def _run_brick(args: argparse.Namespace) -> int:
    """A preset of many fields: one folder per field, every manifest in OUTDIR/manifests."""
    from .field import simulate_brick
    from .presets import get_preset

    start = time.perf_counter()
    try:
        fields = simulate_brick(args.outdir, **_simulation_options(args))
    except ValueError as exc:
        print(f"cloudphot simulate: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    p = get_preset(args.preset)
    n_exp = sum(len(f.exposures) for f in fields)
    stars = {int(i) for f in fields for i in f.truth["star_id"]}
    shared = sum(len(f.truth) for f in fields) - len(stars)
    print(
        f"brick {args.preset}: {len(fields)} fields ({p.grid[0]}x{p.grid[1]} pointings, "
        f"{p.overlap:.0%} overlap), {n_exp} exposures in {args.outdir} ({elapsed:.1f} s)"
    )
    print(
        f"  {len(stars)} stars on the brick, {shared} of them seen again by a neighbouring "
        f"field; fields {fields[0].field_id} .. {fields[-1].field_id} (OUTDIR/<field>/)"
    )
    print(f"  manifests: {Path(args.outdir) / 'manifests'} ({len(fields)})")
    print(f"next: cloudphot upload {args.outdir}   (every field's exposures and manifest)")
    return 0
