"""Bad-pixel and saturation masks from HST data-quality (DQ) arrays.

DQ bits of calibrated ACS/WFC, WFC3/UVIS (``flc``/``flt``) and WFC3/IR (``flt``)
images (ACS Data Handbook table "Data quality flags"; WFC3 Data Handbook
section 2.2.3):

=====  ==========================================  ==========================  =========
bit    ACS/WFC, WFC3/UVIS                          WFC3/IR                     treated
=====  ==========================================  ==========================  =========
1      Reed-Solomon decoding error                 same                        bad
2      data replaced by fill value                 same                        bad
4      bad detector pixel                          same                        bad
8      masked by aperture feature / unused         deviant zero read           bad
16     hot pixel                                   same                        bad
32     CTE tail of hot pixel                       unstable response           bad
64     warm pixel                                  same                        kept
128    bad column / bias structure                 bad reference pixel         bad
256    full-well saturation                        same                        saturated
512    bad pixel in reference file (flat)          same                        bad
1024   charge trap                                 (spare)                     kept
2048   A-to-D saturation                           signal in zero read         saturated (CCD only)
4096   cosmic ray (AstroDrizzle)                   same                        bad
8192   cosmic ray (CR-SPLIT / up-the-ramp)         same                        bad
16384  ghost / crosstalk                           same                        kept
=====  ==========================================  ==========================  =========

Warm pixels (64) are dark-subtracted in flc/flt and usable; charge traps (1024)
and ghosts (16384) are small effects that DOLPHOT also keeps. Saturated pixels
are reported separately so that the photometry can give stars touching them
flag 4 (DOLPHOT convention) instead of silently dropping them; they are excluded
from the fit like bad pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["BAD_DQ_BITS", "SATURATED_DQ_BITS", "SATURATED_DQ_BITS_IR", "dq_masks"]

BAD_DQ_BITS: int = 1 | 2 | 4 | 8 | 16 | 32 | 128 | 512 | 4096 | 8192
"""DQ bits that make a pixel unusable (see the module table)."""

SATURATED_DQ_BITS: int = 256 | 2048
"""DQ bits meaning saturation on the CCDs (ACS/WFC, WFC3/UVIS)."""

SATURATED_DQ_BITS_IR: int = 256
"""DQ bits meaning saturation on WFC3/IR (2048 is 'signal in zero read' there)."""


def dq_masks(
    dq: NDArray[np.integer], sci: NDArray[np.floating] | None = None, *, detector: str = "WFC"
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Bad and saturated pixel masks of one chip.

    Parameters
    ----------
    dq : ndarray of int, shape (ny, nx)
        The chip's DQ array.
    sci : ndarray of float, shape (ny, nx), optional
        The science array; non-finite pixels are marked bad.
    detector : str
        ``DETECTOR`` keyword (``WFC``, ``UVIS``, ``IR``); selects the saturation bits.

    Returns
    -------
    bad, saturated : ndarray of bool, shape (ny, nx)
        ``bad`` is True for unusable pixels (including saturated ones);
        ``saturated`` is True for saturated pixels only.
    """
    dq = np.asarray(dq).astype(np.int64, copy=False)
    satbits = SATURATED_DQ_BITS_IR if detector.upper() == "IR" else SATURATED_DQ_BITS
    saturated = (dq & satbits) != 0
    bad = ((dq & BAD_DQ_BITS) != 0) | saturated
    if sci is not None:
        bad |= ~np.isfinite(sci)
    return bad, saturated
