"""What ``cloudphot upload`` puts where: files and folders to raw-bucket keys.

A folder contributes the files the pipeline takes: calibrated exposures
(``*_flc.fits``, ``*_flt.fits``, gzipped or not) and field manifests
(``manifests/*.json``), at keys relative to the folder; anything else in it (a
simulator's ``truth.fits``, notes, HST's ``_raw``/``_spt`` files) is skipped and
named, unless every file is asked for. A file named on the command line is always
uploaded. A manifest (a ``.json`` file) is checked before it leaves the machine
and, without a prefix, goes to ``manifests/<field_id>.json`` where the pipeline
looks for it. A prefix is a folder: ``--prefix manifests`` and ``--prefix
manifests/`` both put ``M.json`` at ``manifests/M.json``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CloudphotError, ConfigError
from .manifests import MANIFEST_PREFIX, manifest_key, parse_manifest

__all__ = ["EXPOSURE_PATTERNS", "UploadPlan", "is_exposure_name", "join_key", "plan_uploads"]

#: file names of the calibrated exposures the pipeline reduces
EXPOSURE_PATTERNS = ("*_flc.fits", "*_flt.fits", "*_flc.fits.gz", "*_flt.fits.gz")


def is_exposure_name(name: str) -> bool:
    """Whether ``name`` is named like a calibrated HST exposure (flc/flt)."""
    return any(fnmatch.fnmatch(name.lower(), p) for p in EXPOSURE_PATTERNS)


def join_key(prefix: str, rel: str) -> str:
    """``prefix`` as a folder in front of ``rel`` (one ``/`` between them, none if empty)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{rel}" if prefix else rel


@dataclass
class UploadPlan:
    pairs: list[tuple[Path, str]] = field(default_factory=list)  # (file, key)
    skipped: list[Path] = field(default_factory=list)  # in folders, neither exposure nor manifest
    manifests: dict[str, str] = field(default_factory=dict)  # key -> field id


def _is_manifest_path(rel: str) -> bool:
    return rel.startswith(MANIFEST_PREFIX) and rel.endswith(".json") and rel.count("/") == 1


def plan_uploads(paths: list[Path], *, prefix: str = "", everything: bool = False) -> UploadPlan:
    """Keys for ``paths``; :class:`ConfigError` for a missing path or a bad manifest."""
    plan = UploadPlan()
    for p in paths:
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*") if f.is_file()):
                rel = f.relative_to(p).as_posix()
                if any(part.startswith(".") for part in rel.split("/")):
                    continue  # hidden files and half-written temporaries
                if everything or is_exposure_name(f.name) or _is_manifest_path(rel):
                    _add(plan, f, rel, prefix, everything)
                else:
                    plan.skipped.append(f)
        elif p.is_file():
            _add(plan, p, p.name, prefix, everything)
        elif p.exists():
            raise ConfigError(f"{p}: not a file or a folder")
        else:
            hint = ""
            if "*" in str(p) or "?" in str(p):
                hint = " (the shell found no file matching this pattern)"
            raise ConfigError(f"{p}: no such file or folder{hint}")
    return plan


def _add(plan: UploadPlan, path: Path, rel: str, prefix: str, everything: bool) -> None:
    key = join_key(prefix, rel)
    if path.name.lower().endswith(".json"):
        try:
            doc = parse_manifest(path.read_bytes(), str(path))
        except CloudphotError as exc:
            if everything:
                plan.pairs.append((path, key))
                return
            raise ConfigError(
                f"nothing uploaded: {exc} (a .json file in the raw bucket is a field manifest; "
                "--all uploads it anyway)"
            ) from None
        fid = doc["field_id"]
        if not prefix and not _is_manifest_path(rel):
            key = manifest_key(fid)  # where check_field looks for it
        if _is_manifest_path(key) and key != manifest_key(fid):
            raise ConfigError(
                f"nothing uploaded: {path} is the manifest of field {fid!r}, so it belongs at "
                f"{manifest_key(fid)}, not {key}: upload it without --prefix (a .json file "
                f"goes to {manifest_key(fid)} by itself), or name it {fid}.json"
            )
        plan.manifests[key] = fid
    plan.pairs.append((path, key))
