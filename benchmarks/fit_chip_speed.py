"""CPU of one chip's simultaneous PSF fit (``photometry.psfphot.fit_chip``).

    python benchmarks/fit_chip_speed.py [--stars 2500] [--size 512] [--src PATH ...]

A synthetic crowded chip (library F814W PSF, stars of 100-30,000 e-, sky noise 6 e-),
one fluxes-only fit and one fluxes+positions fit, best of 5, CPU seconds. ``--src`` runs
the same in a subprocess per source tree given (e.g. another checkout's ``src``), so an
engine change is timed against the previous engine on the same chip, interleaved.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np


def measure(stars: int, size: int) -> tuple[float, float]:
    from cloudphot.photometry.psfgrid import PSFGrid
    from cloudphot.photometry.psfphot import fit_chip
    from cloudphot.psf import psf_for

    rng = np.random.default_rng(1)
    g = PSFGrid(psf_for("ACS", "WFC", "F814W"), 5)
    x, y = rng.uniform(0, size, stars), rng.uniform(0, size, stars)
    f = 10 ** rng.uniform(2, 4.5, stars)
    ix, iy, P, *_ = g.stamps(x, y)
    r = g.radius
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    X, Y = ix[:, None, None] + xx, iy[:, None, None] + yy
    ok = (X >= 0) & (X < size) & (Y >= 0) & (Y < size)
    img = rng.normal(0.0, 6.0, (size, size))
    np.add.at(img, (Y[ok], X[ok]), (f[:, None, None] * P)[ok])
    bad = np.zeros(img.shape, bool)
    rms = np.full(img.shape, 6.0)
    best = np.inf
    for _ in range(5):
        t = time.process_time()
        a = fit_chip(img, rms, bad, x, y, g)
        fit_chip(img, rms, bad, x, y, g, fit_positions=True)
        best = min(best, time.process_time() - t)
    return best, float(np.nansum(a.flux))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stars", type=int, default=2500)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--src", nargs="*", default=[])
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one or not a.src:
        cpu, total = measure(a.stars, a.size)
        print(f"{cpu:.3f} {total:.6e}")
        return 0
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{a.stars} stars on {a.size}x{a.size}; load {load}")
    print("| source | CPU s (flux fit + flux/position fit, best of 5) | flux sum |")
    print("|---|---|---|")
    for src in a.src * 2:  # interleaved, twice
        env = {**os.environ, "PYTHONPATH": src}
        cmd = [sys.executable, __file__, "--one", "--stars", str(a.stars), "--size", str(a.size)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        cpu, total = out.stdout.split()[-2:]
        print(f"| {src} | {cpu} | {total} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
