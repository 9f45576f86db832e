"""Run DOLPHOT on a field: per-image preprocessing, then simultaneous photometry.

The standard DOLPHOT recipe for HST flc/flt/drz images (DOLPHOT ACS and WFC3
module manuals), which PHAT ran on every field:

1. ``acsmask <img>.fits`` / ``wfc3mask <img>.fits``: apply the DQ mask and pixel-area
   map and convert to counts, in place;
2. ``splitgroups <img>.fits``: one file per science chip, ``<img>.chip<N>.fits``;
3. ``calcsky <img>.chip<N> rin rout step siglow sighigh``: the sky image DOLPHOT starts
   from (arguments per detector in :data:`~cloudphot.dolphot.params.CALCSKY_ARGS`);
4. ``dolphot <out> -p<param>``: photometry of all chips at once, writing ``<out>``,
   ``<out>.columns``, ``<out>.info``, ...

Each step is a subprocess in its own process group with its output captured to
a log file under ``<workdir>/logs``. When ``stop_event`` is set (the worker got
SIGTERM: a Spot reclaim), the running step's whole process group is killed at
once and :class:`~cloudphot.errors.SpotInterrupted` is raised; a failing step
raises :class:`DolphotError` naming the step and quoting the end of its log, and
a step killed by SIGKILL that the runner did not send (in a container: the OOM
killer) raises :class:`~cloudphot.errors.OutOfMemory`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import (
    CloudphotError,
    ConfigError,
    DataError,
    InvalidExposure,
    OutOfMemory,
    SpotInterrupted,
)
from .params import CALCSKY_ARGS, ImageParams, write_params

__all__ = [
    "DOLPHOT_PROGRAMS",
    "DolphotError",
    "detector_of",
    "dolphot_available",
    "find_program",
    "run_dolphot",
]

#: every executable the recipe needs
DOLPHOT_PROGRAMS = ("acsmask", "wfc3mask", "splitgroups", "calcsky", "dolphot")
_MASK_PROGRAM = {"ACS/WFC": "acsmask", "WFC3/UVIS": "wfc3mask", "WFC3/IR": "wfc3mask"}
_POLL_S = 0.1
_KILL_GRACE_S = 2.0
_LOG_TAIL_LINES = 20


class DolphotError(CloudphotError):
    """A DOLPHOT step failed or timed out; carries the step, its log and the log's end."""

    def __init__(self, step: str, reason: str, log_path: Path | None = None, tail: str = ""):
        self.step, self.reason, self.log_path, self.tail = step, reason, log_path, tail
        msg = f"DOLPHOT step '{step}' {reason}"
        if log_path is not None:
            msg += f" (log {log_path})"
        if tail:
            msg += f"; last lines of its log:\n{tail}"
        super().__init__(msg)


def find_program(
    name: str, bin_dir: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Path of a DOLPHOT executable: in ``bin_dir``, else ``$DOLPHOT_BIN``, else on PATH."""
    env = os.environ if environ is None else environ
    for folder in (bin_dir, env.get("DOLPHOT_BIN")):
        if folder:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
            return None  # an explicit folder is authoritative
    found = shutil.which(name, path=env.get("PATH"))
    return Path(found) if found else None


def dolphot_available(
    bin_dir: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """True when every program of the recipe is found (``bin_dir``, ``DOLPHOT_BIN`` or PATH)."""
    return all(find_program(p, bin_dir, environ) is not None for p in DOLPHOT_PROGRAMS)


def detector_of(path: str | os.PathLike) -> str:
    """``"ACS/WFC"``, ``"WFC3/UVIS"`` or ``"WFC3/IR"`` from the primary header."""
    from astropy.io import fits

    path = Path(path)
    try:
        header = fits.getheader(path, 0)
    except (OSError, ValueError) as exc:
        raise InvalidExposure(str(path), f"cannot read the FITS header: {exc}") from exc
    instrument = str(header.get("INSTRUME", "")).strip().upper()
    detector = str(header.get("DETECTOR", "")).strip().upper()
    name = f"{instrument}/{detector}"
    if name not in CALCSKY_ARGS:
        raise InvalidExposure(
            str(path),
            f"INSTRUME/DETECTOR {name!r} is not one DOLPHOT's "
            f"ACS/WFC3 modules handle ({', '.join(CALCSKY_ARGS)})",
        )
    return name


def _tail(path: Path, n: int = _LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the step's process group, then SIGKILL what is left after a short grace."""
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _Steps:
    """Runs the recipe's subprocesses with logs, a shared deadline and the stop flag."""

    def __init__(
        self,
        workdir: Path,
        programs: dict[str, Path],
        deadline: float | None,
        stop_event: threading.Event | None,
    ):
        self.workdir, self.programs = workdir, programs
        self.deadline, self.stop_event = deadline, stop_event
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.history: list[tuple[str, list[str], Path]] = []

    def run(self, program: str, args: Sequence[str], label: str) -> None:
        self.count += 1
        step = f"{program} {label}".strip()
        safe_label = re.sub(r"[^A-Za-z0-9._-]", "_", label)
        log_path = self.logs / f"{self.count:03d}_{program}_{safe_label}.log"
        argv = [str(self.programs[program]), *map(str, args)]
        self.history.append((step, argv, log_path))
        if self.stop_event is not None and self.stop_event.is_set():
            raise SpotInterrupted(f"stop requested before DOLPHOT step '{step}'")
        with open(log_path, "wb") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                while True:
                    try:
                        proc.wait(timeout=_POLL_S)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    if self.stop_event is not None and self.stop_event.is_set():
                        _kill_group(proc)
                        raise SpotInterrupted(
                            f"stop requested during DOLPHOT step '{step}'; "
                            "its processes were killed"
                        )
                    if self.deadline is not None and time.monotonic() > self.deadline:
                        _kill_group(proc)
                        raise DolphotError(
                            step, "timed out and was killed", log_path, _tail(log_path)
                        )
            except BaseException:
                # also reached when the worker's SIGTERM handler raises in this thread
                if proc.poll() is None:
                    _kill_group(proc)
                raise
        if proc.returncode == -signal.SIGKILL:
            # nobody here killed it: in a container that is the kernel's OOM killer
            raise OutOfMemory(
                f"DOLPHOT step '{step}' was killed by SIGKILL, most likely out "
                f"of memory (log {log_path}); rerun with more memory"
            )
        if proc.returncode != 0:
            raise DolphotError(
                step, f"exited with status {proc.returncode}", log_path, _tail(log_path)
            )


def _stage(src: Path, workdir: Path, seen: set[str]) -> Path:
    """Copy an input into the work directory (DOLPHOT's mask step rewrites files in place)."""
    if not src.is_file():
        raise DataError(f"{src}: input image not found")
    if not src.name.endswith(".fits"):
        raise DataError(f"{src}: DOLPHOT inputs must be '.fits' files")
    if src.name in seen:
        raise DataError(f"{src}: two inputs are named {src.name}; DOLPHOT needs unique names")
    seen.add(src.name)
    dst = workdir / src.name
    shutil.copyfile(src, dst)
    return dst


def _chips(workdir: Path, root: str) -> list[str]:
    """Chip files ``<root>.chip<N>.fits`` written by splitgroups, as DOLPHOT names (no .fits)."""
    found = []
    for path in workdir.glob(f"{root}.chip*.fits"):
        m = re.fullmatch(re.escape(root) + r"\.chip(\d+)\.fits", path.name)
        if m:
            found.append((int(m.group(1)), path.name[: -len(".fits")]))
    return [name for _, name in sorted(found)]


def run_dolphot(
    images: Sequence[str | os.PathLike],
    workdir: str | os.PathLike,
    *,
    reference: str | os.PathLike | None = None,
    options: Mapping[str, Any] | None = None,
    dolphot_bin_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
    stop_event: threading.Event | None = None,
    output_name: str = "field.phot",
    checkpoint=None,
) -> Path:
    """Preprocess each image and run DOLPHOT on all of them; return the photometry file.

    Parameters
    ----------
    images : sequence of path
        Calibrated ACS/WFC, WFC3/UVIS or WFC3/IR ``*_flc.fits``/``*_flt.fits``; copied
        into ``workdir`` first (the originals are not modified).
    workdir : path
        Scratch directory (created); DOLPHOT runs with it as working directory.
    reference : path, optional
        A drizzled image to align to and find stars on (``img0``); default: none,
        DOLPHOT uses the first image.
    options : mapping, optional
        Global DOLPHOT keywords overriding the PHAT defaults
        (:data:`~cloudphot.dolphot.params.GLOBAL_DEFAULTS`).
    dolphot_bin_dir : path, optional
        Folder of the DOLPHOT executables; default ``$DOLPHOT_BIN``, else PATH.
    timeout : float, optional
        Seconds for the whole run; a step still running then is killed and
        :class:`DolphotError` raised.
    stop_event : threading.Event, optional
        Polled every 0.1 s; when set the running step is killed and
        :class:`~cloudphot.errors.SpotInterrupted` raised.
    output_name : str
        DOLPHOT's output name; ``<workdir>/<output_name>`` is returned, its legend
        is ``<output_name>.columns``.
    checkpoint : cloudphot.checkpoints.Checkpoints, optional
        Saves each image's prepared chips and sky files (``prep-<image>``) and
        DOLPHOT's output files (``dolphot``) as they are finished, and restores
        those of an interrupted run instead of redoing them.
    """
    if not images:
        raise DataError("run_dolphot needs at least one image")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    programs = {p: find_program(p, dolphot_bin_dir) for p in DOLPHOT_PROGRAMS}
    missing = [p for p, path in programs.items() if path is None]
    if missing:
        where = dolphot_bin_dir or os.environ.get("DOLPHOT_BIN") or "PATH"
        raise ConfigError(
            f"DOLPHOT programs not found in {where}: {', '.join(missing)}; "
            "install DOLPHOT 2.0 with its ACS and WFC3 modules or set DOLPHOT_BIN"
        )
    if checkpoint is not None and checkpoint.restore_files("dolphot", workdir):
        return workdir / output_name  # finished before the interruption
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    steps = _Steps(workdir, programs, deadline, stop_event)  # type: ignore[arg-type]

    seen: set[str] = set()
    staged_ref = _stage(Path(reference), workdir, seen) if reference is not None else None
    staged = [_stage(Path(p), workdir, seen) for p in images]
    detectors = {p: detector_of(p) for p in ([staged_ref] if staged_ref else []) + staged}

    def prepare(path: Path) -> list[str]:
        det = detectors[path]
        root = path.name[: -len(".fits")]
        if checkpoint is not None and checkpoint.restore_files(f"prep-{root}", workdir):
            chips = _chips(workdir, root)
            if chips:
                return chips
        steps.run(_MASK_PROGRAM[det], [path.name], path.name)
        steps.run("splitgroups", [path.name], path.name)
        chips = _chips(workdir, root)
        if not chips:
            raise DolphotError(
                f"splitgroups {path.name}",
                f"wrote no {root}.chip<N>.fits files",
                steps.history[-1][2],
                _tail(steps.history[-1][2]),
            )
        for chip in chips:
            steps.run("calcsky", [chip, *CALCSKY_ARGS[det]], chip)
        if checkpoint is not None:  # the chips and their sky images (<chip>.sky.fits)
            checkpoint.save_files(f"prep-{root}", sorted(workdir.glob(f"{root}.chip*.fits")))
        return chips

    ref_params = None
    if staged_ref is not None:
        ref_chips = prepare(staged_ref)
        if len(ref_chips) != 1:
            raise DataError(
                f"{reference}: a DOLPHOT reference must be a single image, "
                f"splitgroups gave {len(ref_chips)} chips"
            )
        ref_params = ImageParams(ref_chips[0], detectors[staged_ref])
    image_params: list[ImageParams] = []
    for path in staged:
        for chip in prepare(path):
            image_params.append(ImageParams(chip, detectors[path]))

    param_path = write_params(workdir / "dolphot.param", image_params, ref_params, options or {})
    steps.run("dolphot", [output_name, f"-p{param_path.name}"], output_name)
    out = workdir / output_name
    for expected in (out, out.with_name(out.name + ".columns")):
        if not expected.is_file():
            log = steps.history[-1][2]
            raise DolphotError(
                f"dolphot {output_name}",
                f"finished without writing {expected.name}",
                log,
                _tail(log),
            )
    if checkpoint is not None:  # <out>, <out>.columns, .info, .apcor, .psfs, .warnings
        checkpoint.save_files("dolphot", sorted(workdir.glob(f"{output_name}*")))
    return out
