"""The built-in photometry engine: masks, cosmics, sky, alignment, reference image,
detection, simultaneous PSF photometry, quality metrics, combination and culling.

The one entry point of the pipeline is :func:`reduce_field`; :func:`preprocess_exposure`
is the per-exposure step (run separately, e.g. in a Map of Lambda steps).

Names are imported on first use (PEP 562): ``cloudphot.photometry.options`` alone is
needed to check a job's options (``cloudphot replay --set``), and the engine's imports
(astropy, photutils, scipy) cost seconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .field import FieldReduction, reduce_field
    from .options import PhotometryOptions
    from .preprocess import PreprocessResult, preprocess_exposure, read_preprocess

_WHERE = {
    "FieldReduction": "field",
    "reduce_field": "field",
    "PhotometryOptions": "options",
    "PreprocessResult": "preprocess",
    "preprocess_exposure": "preprocess",
    "read_preprocess": "preprocess",
}

__all__ = [
    "FieldReduction",
    "PhotometryOptions",
    "PreprocessResult",
    "preprocess_exposure",
    "read_preprocess",
    "reduce_field",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
