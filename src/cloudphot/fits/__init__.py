"""FITS handling of uploaded exposures: structural pre-check, validation and metadata, zeropoints.

Submodules: ``header_scan`` (plain-Python pre-check, imports no FITS library),
``exposure`` (:func:`read_exposure`), ``zeropoints``. The names below are loaded
lazily, so ``import cloudphot.fits.header_scan`` stays free of astropy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ExposureMetadata", "HduInfo", "read_exposure", "scan_fits"]

_LAZY = {
    "ExposureMetadata": "exposure",
    "read_exposure": "exposure",
    "HduInfo": "header_scan",
    "scan_fits": "header_scan",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
