"""The built-in photometry engine: masks, cosmics, sky, alignment, reference image,
detection, simultaneous PSF photometry, quality metrics, combination and culling.

The one entry point of the pipeline is :func:`reduce_field`; :func:`preprocess_exposure`
is the per-exposure step (run separately, e.g. in a Map of Lambda steps).
"""

from __future__ import annotations

from .field import FieldReduction, reduce_field
from .options import PhotometryOptions
from .preprocess import PreprocessResult, preprocess_exposure, read_preprocess

__all__ = [
    "FieldReduction",
    "PhotometryOptions",
    "PreprocessResult",
    "preprocess_exposure",
    "read_preprocess",
    "reduce_field",
]
