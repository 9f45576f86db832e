"""Recovered versus injected: how good is a field catalog, measured against the truth.

Used by ``cloudphot demo``, the science tests and the accuracy benchmark, so they
all report the same numbers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

__all__ = ["FieldAccuracy", "FilterAccuracy", "compare_to_truth", "match_catalog"]

PIXEL_SCALE_ARCSEC = 0.05  # ACS/WFC; positions errors are reported in these pixels


@dataclass
class FilterAccuracy:
    filter: str
    n_st: int
    n_gst: int
    n_bright: int  # gst stars with S/N > 50 matched to a constant star
    median_abs_dmag: float  # bright stars, mag
    median_dmag: float  # bright stars (bias), mag
    robust_scatter: float  # 1.4826 * MAD of dmag, bright stars


@dataclass
class FieldAccuracy:
    field_id: str
    n_catalog: int
    n_truth: int
    n_matched: int
    median_position_error_pix: float  # bright gst stars, after removing the frame offset
    frame_offset_pix: tuple[float, float] = (float("nan"), float("nan"))
    median_absolute_position_error_pix: float = float("nan")  # including the frame offset
    filters: list[FilterAccuracy] = field(default_factory=list)
    cepheids: list[dict] = field(default_factory=list)  # per variable: measured / covering

    @property
    def cepheids_complete(self) -> bool:
        return all(c["n_measured"] >= c["n_covering"] for c in self.cepheids)


def match_catalog(
    catalog: Table, truth: Table, radius_arcsec: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest truth star of each catalog star within ``radius_arcsec``.

    Returns (catalog indices, truth indices) of the matched pairs, each truth star
    used at most once (the closest catalog star wins).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if len(catalog) == 0 or len(truth) == 0:
        return np.array([], int), np.array([], int)
    c = SkyCoord(np.asarray(catalog["ra"]) * u.deg, np.asarray(catalog["dec"]) * u.deg)
    t = SkyCoord(np.asarray(truth["ra"]) * u.deg, np.asarray(truth["dec"]) * u.deg)
    idx, sep, _ = c.match_to_catalog_sky(t)
    ok = sep.arcsec < radius_arcsec
    ci, ti, d = np.nonzero(ok)[0], idx[ok], sep.arcsec[ok]
    order = np.argsort(d)
    _, first = np.unique(ti[order], return_index=True)
    keep = order[first]
    return ci[keep], ti[keep]


def compare_to_truth(
    catalog: Table,
    measurements: Table,
    truth: Table,
    exposures_truth: Table,
    filters: list[str],
    *,
    field_id: str = "",
    snr_bright: float = 50.0,
) -> FieldAccuracy:
    ci, ti = match_catalog(catalog, truth)
    variable = (
        np.asarray(truth["is_variable"], bool)[ti]
        if "is_variable" in truth.colnames
        else np.zeros(len(ti), bool)
    )
    dra = (np.asarray(catalog["ra"])[ci] - np.asarray(truth["ra"])[ti]) * np.cos(
        np.radians(np.asarray(truth["dec"])[ti])
    )
    ddec = np.asarray(catalog["dec"])[ci] - np.asarray(truth["dec"])[ti]
    pos_pix = np.hypot(dra, ddec) * 3600 / PIXEL_SCALE_ARCSEC

    bright_any = np.zeros(len(ci), bool)
    out = FieldAccuracy(
        field_id=field_id,
        n_catalog=len(catalog),
        n_truth=len(truth),
        n_matched=len(ci),
        median_position_error_pix=float("nan"),
    )
    for f in filters:
        p = f.lower()
        gst = np.asarray(catalog[f"{p}_gst"], bool)
        st = np.asarray(catalog[f"{p}_st"], bool)
        snr = np.asarray(catalog[f"{p}_snr"], float)
        bright = gst[ci] & (snr[ci] > snr_bright) & ~variable
        bright_any |= bright
        dmag = (
            np.asarray(catalog[f"{p}_vega"], float)[ci] - np.asarray(truth[f"{p}_vega"], float)[ti]
        )
        d = dmag[bright]
        mad = float(np.median(np.abs(d - np.median(d)))) if d.size else float("nan")
        out.filters.append(
            FilterAccuracy(
                filter=f,
                n_st=int(st.sum()),
                n_gst=int(gst.sum()),
                n_bright=int(bright.sum()),
                median_abs_dmag=float(np.median(np.abs(d))) if d.size else float("nan"),
                median_dmag=float(np.median(d)) if d.size else float("nan"),
                robust_scatter=1.4826 * mad,
            )
        )
    if bright_any.any():
        # The catalog frame is tied to the header WCS of the reference exposure, whose
        # pointing error (unknown without an external astrometric reference such as
        # Gaia) shifts every position alike. Report that common offset separately
        # from the measurement precision.
        scale = 3600 / PIXEL_SCALE_ARCSEC
        off_x = float(np.median(dra[bright_any])) * scale
        off_y = float(np.median(ddec[bright_any])) * scale
        resid = np.hypot(dra[bright_any] * scale - off_x, ddec[bright_any] * scale - off_y)
        out.frame_offset_pix = (off_x, off_y)
        out.median_position_error_pix = float(np.median(resid))
        out.median_absolute_position_error_pix = float(np.median(pos_pix[bright_any]))

    # Cepheids: measured in every exposure whose chip covers them?
    if "is_variable" in truth.colnames and len(exposures_truth):
        star_of_truth = {
            int(truth["star_id"][t]): int(catalog["star_id"][c]) for c, t in zip(ci, ti)
        }
        meas_count = {}
        for sid, exp in zip(
            np.asarray(measurements["star_id"]), np.asarray(measurements["exposure_id"])
        ):
            meas_count.setdefault(int(sid), set()).add(str(exp))
        for row in truth[np.asarray(truth["is_variable"], bool)]:
            tid = int(row["star_id"])
            covering = {
                str(e)
                for e in exposures_truth["exposure_id"][
                    np.asarray(exposures_truth["star_id"]) == tid
                ]
            }
            sid = star_of_truth.get(tid)
            measured = meas_count.get(sid, set()) if sid is not None else set()
            out.cepheids.append(
                {
                    "star_id": tid,
                    "period_d": float(row["period_d"]),
                    "detected": sid is not None,
                    "objid_in_field": sid,
                    "n_covering": len(covering),
                    "n_measured": len(measured & covering),
                }
            )
    return out
