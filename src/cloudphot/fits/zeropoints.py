"""Photometric zeropoints of HST exposures from their header keywords.

HST calibration writes the inverse sensitivity ``PHOTFLAM`` (erg s-1 cm-2 A-1 per
e-/s) and the pivot wavelength ``PHOTPLAM`` (Angstrom). The STMAG and ABMAG
zeropoints follow from them exactly; the VEGAMAG zeropoint needs the spectrum of
Vega, so it is computed here as ``AB - (AB - Vega)`` with a small table of
published per-filter ``AB - Vega`` offsets.

Sources of the offsets (AB zeropoint minus Vega zeropoint of the same table,
rounded to 0.01 mag; later recalibrations move them by <~0.02 mag, which is why a
fixed table is good enough for catalog zeropoints):

- ACS/WFC: Sirianni et al. 2005, PASP 117, 1049, Table 10 (ABMAG and VEGAMAG
  zeropoints); current values: STScI ACS zeropoint calculator,
  https://acszeropoints.stsci.edu/
- WFC3/UVIS and WFC3/IR: STScI WFC3 photometric zeropoint tables (infinite
  aperture, data after 2012-03-06), https://www.stsci.edu/hst/wfc3/ir_phot_zpt and
  the UVIS equivalent; see also Calamida et al. 2022 (WFC3 ISR 2022-04, AJ 164, 32)
  for the 2020 recalibration.
"""

from __future__ import annotations

import math
from typing import TypedDict

__all__ = [
    "AB_MINUS_VEGA",
    "ab_minus_vega",
    "zeropoints",
    "zpt_ab",
    "zpt_st",
]

#: (instrument, detector, filter) -> AB - Vega offset (mag) of the filter.
AB_MINUS_VEGA: dict[tuple[str, str, str], float] = {
    # ACS/WFC (Sirianni et al. 2005 Table 10)
    ("ACS", "WFC", "F435W"): -0.11,
    ("ACS", "WFC", "F475W"): -0.10,
    ("ACS", "WFC", "F555W"): -0.01,
    ("ACS", "WFC", "F606W"): 0.09,
    ("ACS", "WFC", "F625W"): 0.17,
    ("ACS", "WFC", "F658N"): 0.38,
    ("ACS", "WFC", "F775W"): 0.40,
    ("ACS", "WFC", "F814W"): 0.42,
    ("ACS", "WFC", "F850LP"): 0.54,
    # WFC3/UVIS (STScI WFC3 UVIS zeropoint table, 2012)
    ("WFC3", "UVIS", "F275W"): 1.50,
    ("WFC3", "UVIS", "F336W"): 1.18,
    ("WFC3", "UVIS", "F438W"): -0.14,
    ("WFC3", "UVIS", "F475W"): -0.11,
    ("WFC3", "UVIS", "F555W"): -0.03,
    ("WFC3", "UVIS", "F606W"): 0.08,
    ("WFC3", "UVIS", "F814W"): 0.42,
    # WFC3/IR (STScI WFC3 IR zeropoint table, 2012)
    ("WFC3", "IR", "F105W"): 0.65,
    ("WFC3", "IR", "F110W"): 0.76,
    ("WFC3", "IR", "F125W"): 0.90,
    ("WFC3", "IR", "F140W"): 1.08,
    ("WFC3", "IR", "F160W"): 1.25,
}


def _check(photflam: float, name: str = "PHOTFLAM") -> float:
    value = float(photflam)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {photflam!r}")
    return value


def zpt_st(photflam: float) -> float:
    """STMAG zeropoint (mag for 1 e-/s): ``-2.5 log10(PHOTFLAM) - 21.10``."""
    return -2.5 * math.log10(_check(photflam)) - 21.10


def zpt_ab(photflam: float, photplam: float) -> float:
    """ABMAG zeropoint (mag for 1 e-/s).

    ``-2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408``, PHOTPLAM in Angstrom.
    """
    return (
        -2.5 * math.log10(_check(photflam)) - 5.0 * math.log10(_check(photplam, "PHOTPLAM")) - 2.408
    )


def ab_minus_vega(instrument: str, detector: str, filter: str) -> float | None:
    """Published ``AB - Vega`` offset (mag) of a filter, or None when not tabulated."""
    key = (instrument.strip().upper(), detector.strip().upper(), filter.strip().upper())
    return AB_MINUS_VEGA.get(key)


class Zeropoints(TypedDict):
    zpt_st: float
    zpt_ab: float | None
    zpt_vega: float | None


def zeropoints(
    instrument: str, detector: str, filter: str, photflam: float, photplam: float | None
) -> Zeropoints:
    """ST, AB and Vega zeropoints (mag for 1 e-/s) of one chip.

    Returns ``{"zpt_st", "zpt_ab", "zpt_vega"}``; ``zpt_ab`` is None without PHOTPLAM
    and ``zpt_vega`` is None when AB is unknown or the filter has no tabulated offset.
    """
    st = zpt_st(photflam)
    ab = zpt_ab(photflam, photplam) if photplam is not None else None
    offset = ab_minus_vega(instrument, detector, filter)
    vega = ab - offset if (ab is not None and offset is not None) else None
    return Zeropoints(zpt_st=st, zpt_ab=ab, zpt_vega=vega)
