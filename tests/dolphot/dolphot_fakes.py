"""Fakes for the DOLPHOT tests: a documented-layout .phot writer and fake DOLPHOT programs.

Imported by conftest.py and by the tests (the module name is unique on purpose).

Real DOLPHOT cannot be installed here, so the runner is tested against small
shell scripts that record their argv (one line per call in ``calls.log``) and
write the files the real programs write, in the real naming scheme.
"""

from __future__ import annotations

import os
import stat
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# per-image block of DOLPHOT 2.0 with an HST module (ACSoutstarimg & dolphot.c order)
IMAGE_QUANTITIES = [
    "Measured counts",
    "Measured sky level",
    "Normalized count rate",
    "Normalized count rate uncertainty",
    "Instrumental VEGAMAG magnitude",
    "Transformed UBVRI magnitude",
    "Magnitude uncertainty",
    "Chi",
    "Signal-to-noise",
    "Sharpness",
    "Roundness",
    "Crowding",
    "Photometry quality flag",
]
FILTER_QUANTITIES = ["Total counts", "Total sky level"] + IMAGE_QUANTITIES[2:]
GLOBAL_LEGEND = [
    "Extension (zero for base image)",
    "Chip (for three-dimensional FITS image)",
    "Object X position on reference image (or first image, if no reference)",
    "Object Y position on reference image (or first image, if no reference)",
    "Chi for fit",
    "Signal-to-noise",
    "Object sharpness",
    "Object roundness",
    "Direction of major axis (if not round)",
    "Crowding",
    "Object type (1=bright star, 2=faint, 3=elongated, 4=hot pixel, 5=extended)",
]


@dataclass
class FakePhot:
    phot: Path
    columns: Path
    legend: list[str]
    data: np.ndarray  # (nstar, ncol), exactly what was written


def write_fake_phot(
    path: Path, images: list[tuple[str, str, float]], nstar: int = 5, seed: int = 1
) -> FakePhot:
    """Write ``path`` and ``path.columns`` in DOLPHOT's layout.

    ``images`` are (dolphot image name, filter label like "ACS_F814W", exptime). A
    combined "Total ..." block is written for every filter with more than one image,
    before the per-image blocks, as DOLPHOT does. Values are distinct per column so a
    wrong mapping cannot pass.
    """
    rng = np.random.default_rng(seed)
    legend = list(GLOBAL_LEGEND)
    labels: list[str] = []
    for _, label, _ in images:
        if label not in labels:
            labels.append(label)
    for label in labels:
        if sum(1 for _, lb, _ in images if lb == label) > 1:
            legend += [f"{q}, {label}" for q in FILTER_QUANTITIES]
    for name, label, exptime in images:
        legend += [f"{q}, {name} ({label}, {exptime:.1f} sec)" for q in IMAGE_QUANTITIES]
    ncol = len(legend)
    data = np.round(rng.uniform(0.01, 0.99, size=(nstar, ncol)) + np.arange(ncol) * 1000, 3)
    for j, text in enumerate(legend):
        if text.startswith("Extension"):
            data[:, j] = 0
        elif text.startswith(("Chip", "Object type")):
            data[:, j] = 1
        elif text.startswith("Photometry quality flag"):
            data[:, j] = np.arange(nstar) % 3
        elif text.startswith(("Object X", "Object Y")):
            data[:, j] = np.round(rng.uniform(20, 80, nstar), 2)
        elif text.startswith("Instrumental VEGAMAG"):
            data[:, j] = np.round(rng.uniform(18, 27, nstar), 3)
        elif text.startswith("Signal-to-noise"):
            data[:, j] = np.round(rng.uniform(2, 50, nstar), 1)
        elif text.startswith(("Sharpness", "Object sharpness")):
            data[:, j] = np.round(rng.uniform(-0.5, 0.5, nstar), 3)
        elif text.startswith("Crowding"):
            data[:, j] = np.round(rng.uniform(0, 2, nstar), 3)
    data[0, [j for j, t in enumerate(legend) if t.startswith("Instrumental VEGAMAG")]] = 99.999
    columns = path.with_name(path.name + ".columns")
    columns.write_text("".join(f"{i}. {t}\n" for i, t in enumerate(legend, start=1)))
    lines = []
    for row in data:
        lines.append(
            " ".join(
                f"{int(v)}"
                if legend[j].startswith(
                    ("Extension", "Chip", "Object type", "Photometry quality flag")
                )
                else f"{v:.3f}"
                for j, v in enumerate(row)
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return FakePhot(path, columns, legend, data)


# ------------------------------------------------------------------ fake DOLPHOT programs

_COMMON = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""

_PROGRAMS = {
    "acsmask": _COMMON + 'test -f "$1" || {{ echo "acsmask: cannot open $1"; exit 1; }}\n'
    'echo "masked $1"\n',
    "wfc3mask": _COMMON + 'test -f "$1" || {{ echo "wfc3mask: cannot open $1"; exit 1; }}\n'
    'echo "masked $1"\n',
    # one chip file per SCI extension (counted in the FITS header bytes)
    "splitgroups": _COMMON
    + textwrap.dedent("""\
        root="${{1%.fits}}"
        n=$(grep -a -o "EXTNAME = 'SCI" "$1" | wc -l)
        i=1; while [ "$i" -le "$n" ]; do cp "$1" "$root.chip$i.fits"; i=$((i+1)); done
        echo "split $1 into $n chips"
        """),
    "calcsky": _COMMON
    + textwrap.dedent("""\
        test -f "$1.fits" || {{ echo "calcsky: no $1.fits"; exit 1; }}
        cp "$1.fits" "$1.sky.fits"
        """),
    # writes <out> and <out>.columns for the images named in the parameter file
    "dolphot": _COMMON
    + textwrap.dedent("""\
        out="$1"; param="${{2#-p}}"
        echo "Reading parameter file $param"
        if [ -n "$FAKE_DOLPHOT_PIDFILE" ]; then echo $$ > "$FAKE_DOLPHOT_PIDFILE"; fi
        if [ -n "$FAKE_DOLPHOT_SLEEP" ]; then sleep "$FAKE_DOLPHOT_SLEEP"; fi
        if [ -n "$FAKE_DOLPHOT_OOM" ]; then echo "Allocating"; kill -9 $$; fi
        if [ -n "$FAKE_DOLPHOT_FAIL" ]; then
            echo "Aligning images"; echo "ERROR: $FAKE_DOLPHOT_FAIL"; exit 2
        fi
        n=0; : > "$out.columns"
        for q in "Extension (zero for base image)" "Chip (for three-dimensional FITS image)" \\
                 "Object X position on reference image" "Object Y position on reference image" \\
                 "Chi for fit" "Signal-to-noise" "Object sharpness" "Object roundness" \\
                 "Direction of major axis (if not round)" "Crowding" "Object type (1=bright star)"; do
            n=$((n+1)); echo "$n. $q" >> "$out.columns"
        done
        row="0 1 50.50 40.50 1.10 30.0 0.010 0.020 10 0.050 1"
        nimg=$(grep -c '^img[1-9][0-9]*_file = ' "$param")
        if [ "$nimg" -gt 1 ]; then   # DOLPHOT's combined block for a filter with >1 image
            for q in "Total counts" "Total sky level" "Normalized count rate" \\
                     "Normalized count rate uncertainty" "Instrumental VEGAMAG magnitude" \\
                     "Transformed UBVRI magnitude" "Magnitude uncertainty" "Chi" \\
                     "Signal-to-noise" "Sharpness" "Roundness" "Crowding" \\
                     "Photometry quality flag"; do
                n=$((n+1)); echo "$n. $q, ACS_F814W" >> "$out.columns"
            done
            row="$row 5000.0 10.00 5.00e-09 1.00e-10 20.750 20.700 0.015 1.05 60.0 0.015 0.030 0.040 0"
        fi
        for img in $(sed -n 's/^img[1-9][0-9]*_file = //p' "$param"); do
            for q in "Measured counts" "Measured sky level" "Normalized count rate" \\
                     "Normalized count rate uncertainty" "Instrumental VEGAMAG magnitude" \\
                     "Transformed UBVRI magnitude" "Magnitude uncertainty" "Chi" \\
                     "Signal-to-noise" "Sharpness" "Roundness" "Crowding" \\
                     "Photometry quality flag"; do
                n=$((n+1)); echo "$n. $q, $img (ACS_F814W, 100.0 sec)" >> "$out.columns"
            done
            row="$row 5000.0 10.00 5.00e-09 1.00e-10 20.750 20.700 0.022 1.05 45.0 0.015 0.030 0.040 0"
        done
        echo "$row" > "$out"
        echo "$row" | sed 's/50.50 40.50/60.50 30.50/' >> "$out"
        echo "Done"
        """),
}


@dataclass
class FakeDolphot:
    bin_dir: Path
    log: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def make_fake_dolphot(root: Path, omit: tuple[str, ...] = ()) -> FakeDolphot:
    bin_dir = root / "fakebin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = root / "calls.log"
    for name, script in _PROGRAMS.items():
        if name in omit:
            continue
        path = bin_dir / name
        path.write_text(script.format(log=log))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return FakeDolphot(bin_dir, log)


def write_hst_image(
    path: Path,
    instrument: str,
    detector: str,
    *,
    filt: str = "F814W",
    crval=(10.68, 41.27),
    shape=(100, 100),
    rootname: str | None = None,
    nchips: int | None = None,
) -> Path:
    """A tiny calibrated-exposure lookalike: primary header + SCI extensions with a TAN WCS."""
    from astropy.io import fits

    nchips = nchips or (1 if detector == "IR" else 2)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["INSTRUME"] = instrument
    h["DETECTOR"] = detector
    h["ROOTNAME"] = rootname or path.name.split("_")[0]
    if instrument == "ACS":
        h["FILTER1"] = "CLEAR1L"
        h["FILTER2"] = filt
    else:
        h["FILTER"] = filt
    h["EXPTIME"] = 100.0
    h["EXPSTART"] = 56000.0
    h["EXPEND"] = 56000.002
    hdus = [primary]
    for chip in range(1, nchips + 1):
        sci = fits.ImageHDU(np.zeros(shape, dtype=np.float32), name="SCI", ver=chip)
        s = sci.header
        s["CTYPE1"], s["CTYPE2"] = "RA---TAN", "DEC--TAN"
        s["CRPIX1"], s["CRPIX2"] = shape[1] / 2, shape[0] / 2 + (chip - 1) * shape[0]
        s["CRVAL1"], s["CRVAL2"] = crval
        s["CD1_1"], s["CD1_2"], s["CD2_1"], s["CD2_2"] = -1.4e-5, 0.0, 0.0, 1.4e-5
        hdus.append(sci)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def src_env() -> dict[str, str]:
    """Environment for subprocesses importing cloudphot from this checkout."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
