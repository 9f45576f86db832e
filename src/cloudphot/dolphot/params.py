"""DOLPHOT 2.0 parameter files: write them with PHAT's choices, read them back.

A parameter file is ``key = value  #comment`` lines. Per-image keys are
``img<N>_<key>`` (N = 0 for the reference image, 1..Nimg for the images) or
``img_<key>`` for all images. DOLPHOT matches keys case-insensitively (the real
PHAT file writes ``Rchi`` and ``Rsky1``).

Defaults
--------
The tables below are cloudphot's own, written from reading these sources:

- the parameter file of a real PHAT run (M31 brick 22 field 06, WFC3/IR F160W
  ``ibfe06dqq``; ``shared/data/dolphot/params/12076_M31-B22-F06-IR_ibfe06dqq.param``),
  for the global photometry choices (FitSky=3, SkipSky=2, SecondPass, Force1=1,
  Align=2, RCombine=1.415, SigPSF=3, ...);
- DOLPHOT 2.0's default ``dolphot.param`` template
  (``shared/data/dolphot/params/dolphot2.0_default_dolphot.param``) for keys the
  PHAT file leaves to the default (EPSF, PSFStep, PSFsol, Zero, ...);
- the per-detector aperture/sky/PSF radii: ACS/WFC and WFC3/UVIS RAper=3, RChi=2,
  RSky=15 35, RPSF=10 as in the ACS run file
  (``shared/data/dolphot/params/j9ec41agq_flc_run_dolphot.param``); WFC3/IR RAper=5,
  RChi=1.5, RSky=8 20, RPSF=10 and apsky=15 25 from the PHAT IR file; aprad=20 from
  the DOLPHOT template.
  CTE corrections are off because the inputs are ``flc`` (already CTE-corrected).
- ``calcsky`` arguments per detector from the DOLPHOT ACS and WFC3 module manuals
  (ACS/WFC and UVIS ``15 35 4 2.25 2.00``, IR ``10 25 2 2.25 2.00``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

__all__ = [
    "CALCSKY_ARGS",
    "DETECTOR_IMAGE_DEFAULTS",
    "GLOBAL_DEFAULTS",
    "ImageParams",
    "read_params",
    "write_params",
]

Scalar = int | float | str

#: global keywords (PHAT run file, then DOLPHOT 2.0 template for the rest)
GLOBAL_DEFAULTS: dict[str, Any] = {
    # from the PHAT run file 12076_M31-B22-F06-IR_ibfe06dqq.param
    "PSFPhot": 1,
    "PSFPhotIt": 1,
    "FitSky": 3,
    "SkipSky": 2,
    "SkySig": 2.25,
    "SecondPass": 25,
    "SearchMode": 1,
    "SigFind": 3.0,
    "SigFindMult": 0.85,
    "SigFinal": 3.5,
    "MaxIT": 25,
    "NoiseMult": 0.10,
    "FSat": 0.999,
    "FlagMask": 4,
    "ApCor": 1,
    "Force1": 1,
    "Align": 2,
    "Rotate": 1,
    "RCentroid": 1,
    "PosStep": 0.1,
    "dPosMax": 2.5,
    "RCombine": 1.415,
    "SigPSF": 3.0,
    "PSFres": 1,
    "psfoff": 0.0,
    # DOLPHOT 2.0 default template values for keys the PHAT file does not set
    "Zero": 25.0,
    "PSFStep": 0.25,
    "EPSF": 1,
    "PSFsol": 1,
    "UseWCS": 0,
    "AlignIter": 1,
    "SubResRef": 1,
    "SubPixel": 1,
    "MinS": 1.0,
    "MaxS": 9.0,
    "MaxE": 0.5,
    "CombineChi": 0,
    "ForceSameMag": 0,
    "InterpPSFlib": 1,
    # HST modules (flc inputs are already CTE-corrected by the pipeline). The modules
    # themselves are switched on at build time (Makefile USEACS/USEWFC3) and per image
    # by the header cards acsmask/wfc3mask write; the PHAT file's "UseWFC3 = 1" is not a
    # keyword of the DOLPHOT parameter parser we read, so it is not written.
    "ACSuseCTE": 0,
    "WFC3useCTE": 0,
    "ACSpsfType": 0,
    "WFC3UVISpsfType": 0,
    "WFC3IRpsfType": 0,
}

#: per-image keys by detector ("ACS/WFC", "WFC3/UVIS", "WFC3/IR")
DETECTOR_IMAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ACS/WFC": {
        "RAper": 3,
        "RChi": 2.0,
        "RSky": (15, 35),
        "RPSF": 10,
        "aprad": 20,
        "apsky": (15, 25),
    },
    "WFC3/UVIS": {
        "RAper": 3,
        "RChi": 2.0,
        "RSky": (15, 35),
        "RPSF": 10,
        "aprad": 20,
        "apsky": (15, 25),
    },
    "WFC3/IR": {
        "RAper": 5,
        "RChi": 1.5,
        "RSky": (8, 20),
        "RPSF": 10,
        "aprad": 20,
        "apsky": (15, 25),
    },
}

#: calcsky arguments (rin rout step sigma_low sigma_high) of the DOLPHOT module manuals,
#: spelled as the manuals and the common recipes write them
CALCSKY_ARGS: dict[str, tuple[str, ...]] = {
    "ACS/WFC": ("15", "35", "4", "2.25", "2.00"),
    "WFC3/UVIS": ("15", "35", "4", "2.25", "2.00"),
    "WFC3/IR": ("10", "25", "2", "2.25", "2.00"),
}

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_IMG_KEY = re.compile(r"^img(\d*)_(\w+)$", re.IGNORECASE)


@dataclass(frozen=True)
class ImageParams:
    """One DOLPHOT image: its file name (without ``.fits``) and its per-image keys.

    ``detector`` picks the per-image defaults (``DETECTOR_IMAGE_DEFAULTS``);
    ``keys`` override them (``{"RAper": 4}``), and ``None`` drops a key.
    """

    file: str
    detector: str | None = None
    shift: tuple[float, float] = (0.0, 0.0)
    xform: tuple[float, float, float] = (1.0, 0.0, 0.0)
    keys: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        if self.detector is not None and self.detector not in DETECTOR_IMAGE_DEFAULTS:
            raise DataError(
                f"{self.file}: unknown detector {self.detector!r}; known: "
                f"{', '.join(DETECTOR_IMAGE_DEFAULTS)}"
            )
        out: dict[str, Any] = {"file": self.file, "shift": self.shift, "xform": self.xform}
        out.update(DETECTOR_IMAGE_DEFAULTS.get(self.detector or "", {}))
        out.update(self.keys)
        return {k: v for k, v in out.items() if v is not None}


def _format(key: str, value: Any) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (list, tuple)):
        parts = [_format(key, v) for v in value]
        return " ".join(parts)
    if isinstance(value, float):
        return repr(value) if value != int(value) else f"{value:.1f}"
    if isinstance(value, (int, str)):
        text = str(value)
        if any(c in text for c in "\n\r#="):
            raise DataError(
                f"DOLPHOT parameter {key}: value {text!r} contains a newline, '#' or '='"
            )
        return text
    raise DataError(
        f"DOLPHOT parameter {key}: unsupported value {value!r} "
        f"({type(value).__name__}); use numbers, strings or lists of them"
    )


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise DataError(
            f"DOLPHOT parameter name {key!r} is not a keyword "
            "(letters, digits, '_'; starting with a letter)"
        )
    if _IMG_KEY.match(key):
        raise DataError(
            f"DOLPHOT parameter {key!r}: give per-image keys through ImageParams, not options"
        )
    return key


def write_params(
    path: str | Path,
    images: Sequence[ImageParams],
    reference: str | ImageParams | None,
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Write a DOLPHOT 2.0 parameter file and return its path.

    Parameters
    ----------
    path : path
        File to write (replaced).
    images : sequence of ImageParams
        ``img1`` ... ``imgN`` in order; at least one.
    reference : str, ImageParams or None
        The reference image (``img0``, file name without ``.fits``); a plain name
        takes the per-image defaults of the first image's detector. None for no
        reference, in which case DOLPHOT aligns to the first image.
    options : mapping
        Global keywords overriding :data:`GLOBAL_DEFAULTS` (matched
        case-insensitively); a value of None removes the keyword.
    """
    if not images:
        raise DataError("DOLPHOT parameter file needs at least one image")
    merged: dict[str, tuple[str, Any]] = {k.lower(): (k, v) for k, v in GLOBAL_DEFAULTS.items()}
    for key, value in (options or {}).items():
        _check_key(key)
        lk = key.lower()
        if value is None:
            merged.pop(lk, None)
        else:
            merged[lk] = (merged.get(lk, (key, None))[0], value)

    lines = ["# DOLPHOT 2.0 parameter file written by cloudphot", f"Nimg = {len(images)}"]
    if reference is not None:
        if not isinstance(reference, ImageParams):  # a name: the first image's detector
            reference = ImageParams(
                str(reference), next((im.detector for im in images if im.detector), None)
            )
        for k, v in reference.resolved().items():
            if k not in ("shift", "xform"):  # the reference defines the frame
                _check_key(k)
                lines.append(f"img0_{k} = {_format(k, v)}")
    for n, image in enumerate(images, start=1):
        if not isinstance(image, ImageParams):
            raise DataError(f"image {n}: expected ImageParams, got {type(image).__name__}")
        for k, v in image.resolved().items():
            _check_key(k)
            lines.append(f"img{n}_{k} = {_format(k, v)}")
    for key, value in merged.values():
        lines.append(f"{key} = {_format(key, value)}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _parse_value(text: str) -> Any:
    tokens = text.split()
    if not tokens:
        return ""
    values: list[Scalar] = []
    for tok in tokens:
        try:
            values.append(int(tok))
        except ValueError:
            try:
                values.append(float(tok))
            except ValueError:
                values.append(tok)
    if len(values) == 1:
        return values[0]
    if all(isinstance(v, (int, float)) for v in values):
        return values
    return text.strip()  # e.g. "G+L", a section string


def read_params(path: str | Path) -> dict[str, Any]:
    """Parse a DOLPHOT parameter file.

    Returns
    -------
    dict
        Global keywords as written (``{"Nimg": 1, "FitSky": 3, ...}``; numbers
        become int/float, several numbers a list, an empty value ``""``), plus
        ``"images"``: ``{N: {key: value}}`` for the ``img<N>_`` keys (N=0 is the
        reference) and ``"all_images"``: the ``img_`` keys.

    Raises
    ------
    DataError
        A line that is neither a comment nor ``key = value``, a malformed key,
        or a keyword given twice (file and line named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: parameter file not found") from exc
    result: dict[str, Any] = {}
    images: dict[int, dict[str, Any]] = {}
    all_images: dict[str, Any] = {}
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        key, eq, value = body.partition("=")
        key = key.strip()
        if not eq:
            raise DataError(f"{path}:{lineno}: expected 'key = value', got {line.strip()!r}")
        if not _KEY.match(key):
            raise DataError(f"{path}:{lineno}: {key!r} is not a parameter name")
        lk = key.lower()
        if lk in first_seen:
            raise DataError(
                f"{path}:{lineno}: {key} is set again (first set on line {first_seen[lk]})"
            )
        first_seen[lk] = lineno
        parsed = _parse_value(value)
        m = _IMG_KEY.match(key)
        if m:
            sub = m.group(2)
            if m.group(1) == "":
                all_images[sub] = parsed
            else:
                images.setdefault(int(m.group(1)), {})[sub] = parsed
        else:
            result[key] = parsed
    result["images"] = images
    result["all_images"] = all_images
    return result
