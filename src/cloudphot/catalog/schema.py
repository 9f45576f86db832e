"""Columns of ``phot_mod`` (objects) and ``phot_meas`` (measurements), each documented.

``phot_mod`` follows Astro Data Lab's ``phat_v2.phot_mod`` column names and order
(88 columns, transcribed from /work/shared/data/phat/datalab_phat_v2_schema.txt,
itself copied from the output cells of astro-datalab/notebooks-latest
``M31WithPhat.ipynb``), so users' existing queries run unchanged. cloudphot adds
four columns after Data Lab's last one (``objid``): ``field_id``, ``nmeas``,
``nfields`` and the HATS spatial index ``_healpix_29``.

Data Lab's ``phot_meas`` column list is not public in a form we could recover, so
its columns follow cloudphot's measurement product (:mod:`cloudphot.products`)
with the same per-filter names as ``phot_mod`` where they overlap (``vega``,
``err``, ``snr``, ...), plus provenance (exposure, job, pipeline version, options).

Each entry is ``name -> (arrow type, unit, meaning)``; :func:`arrow_schema`
builds the Parquet schema from it and ``docs/catalog-columns.md`` is generated
from it (:func:`markdown`), so documentation and data cannot drift.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "COLOR_COLUMNS",
    "DATALAB_PHOT_MOD_COLUMNS",
    "DERIVED_TABLES",
    "IR_FILTERS",
    "PHAT_FILTERS",
    "PHOT_MEAS",
    "PHOT_MOD",
    "PHOT_PM",
    "PHOT_SRC",
    "PHOT_VAR",
    "PHOT_VISIT",
    "arrow_schema",
    "markdown",
]

#: filter order of Data Lab's per-filter blocks
PHAT_FILTERS = ["F110W", "F160W", "F275W", "F336W", "F475W", "F814W"]
IR_FILTERS = {"F110W", "F160W"}

#: Data Lab phat_v2.phot_mod, in table order (88 names; see module docstring for the source)
DATALAB_PHOT_MOD_COLUMNS = (
    "ra dec htm9 pix256 pix4096 random_id x y ir_x ir_y "
    + " ".join(
        f"{f.lower()}_{c}"
        for f in PHAT_FILTERS
        for c in ("rate", "raterr", "vega", "err", "chi", "snr", "sharp", "round", "crowd")
    )
    + " f814w_f475w f475w_f336w f336w_f275w f275w_f160w f160w_f110w"
    + " "
    + " ".join(f"{f.lower()}_flag" for f in PHAT_FILTERS)
    + " f275w_gst f336w_gst f475w_gst f814w_gst f110w_gst f160w_gst"
    + " inside_ir inside_brick inside_chipgap inside_other_chipgap field brick objid"
).split()

#: colour column -> (bluer filter, redder filter); value = bluer_vega - redder_vega
COLOR_COLUMNS = {
    "f814w_f475w": ("F475W", "F814W"),
    "f475w_f336w": ("F336W", "F475W"),
    "f336w_f275w": ("F275W", "F336W"),
    "f275w_f160w": ("F275W", "F160W"),
    "f160w_f110w": ("F110W", "F160W"),
}

_F4, _F8, _I2, _I4, _I8 = pa.float32(), pa.float64(), pa.int16(), pa.int32(), pa.int64()
_B, _S = pa.bool_(), pa.string()

_PER_FILTER = {
    "rate": (_F4, "ct/s", "error-weighted mean count rate over all measurements in {F}"),
    "raterr": (_F4, "ct/s", "uncertainty of {f}_rate (inverse-variance combination)"),
    "vega": (_F4, "mag", "Vega magnitude in {F} from {f}_rate (99.999 when not detected)"),
    "err": (_F4, "mag", "uncertainty of {f}_vega (9.999 when not detected)"),
    "chi": (_F4, "", "mean PSF-fit chi in {F}"),
    "snr": (_F4, "", "signal to noise of {f}_rate ({f}_rate / {f}_raterr)"),
    "sharp": (
        _F4,
        "",
        "mean DOLPHOT sharpness in {F} (0 perfect star, >0 too sharp, <0 too broad)",
    ),
    "round": (_F4, "", "mean DOLPHOT roundness in {F} (0 round)"),
    "crowd": (
        _F4,
        "mag",
        "mean DOLPHOT crowding in {F} (mag brighter if neighbours were not subtracted)",
    ),
    "flag": (
        _I2,
        "",
        "bitwise OR of DOLPHOT flags in {F} (1 chip edge, 2 bad pixels, 4 saturated, 8 extreme)",
    ),
    "gst": (_B, "", "passes the 'gst' (good star) quality cuts in {F} in at least one field"),
}


def _phot_mod() -> dict[str, tuple[pa.DataType, str, str]]:
    cols: dict[str, tuple[pa.DataType, str, str]] = {}
    generic = {
        "ra": (_F8, "deg", "right ascension (ICRS), error-weighted mean over fields"),
        "dec": (_F8, "deg", "declination (ICRS), error-weighted mean over fields"),
        "htm9": (_I8, "", "HTM level-9 trixel id of (ra, dec)"),
        "pix256": (_I8, "", "HEALPix index, NSIDE 256, RING scheme, of (ra, dec)"),
        "pix4096": (_I8, "", "HEALPix index, NSIDE 4096, NESTED scheme, of (ra, dec)"),
        "random_id": (
            _F8,
            "",
            "deterministic pseudo-random number in [0, 100) for random subsamples",
        ),
        "x": (
            _F8,
            "pix",
            "x on the reference image of the first field that measured the object (0-based)",
        ),
        "y": (
            _F8,
            "pix",
            "y on the reference image of the first field that measured the object (0-based)",
        ),
        "ir_x": (
            _F8,
            "pix",
            "x on the IR reference image (NaN: cloudphot uses one reference per field)",
        ),
        "ir_y": (
            _F8,
            "pix",
            "y on the IR reference image (NaN: cloudphot uses one reference per field)",
        ),
        "inside_ir": (_B, "", "the object has at least one IR (F110W/F160W) measurement"),
        "inside_brick": (
            _B,
            "",
            "the object lies inside a reduced field (always true for merged objects)",
        ),
        "inside_chipgap": (
            _B,
            "",
            "the object lies in a chip gap of its first field (false: not tracked)",
        ),
        "inside_other_chipgap": (
            _B,
            "",
            "the object lies in a chip gap of another field (false: not tracked)",
        ),
        "field": (
            _I2,
            "",
            "PHAT field number within the brick, parsed from field_id 'bBB_fFF' (0 otherwise)",
        ),
        "brick": (_I2, "", "PHAT brick number, parsed from field_id 'bBB_fFF' (0 otherwise)"),
        "objid": (
            _I8,
            "",
            "global object id: pix4096 of the first position << 35 | serial (Gaia style)",
        ),
    }
    for name in DATALAB_PHOT_MOD_COLUMNS:
        if name in generic:
            cols[name] = generic[name]
            continue
        if name in COLOR_COLUMNS:
            blue, red = COLOR_COLUMNS[name]
            cols[name] = (
                _F4,
                "mag",
                f"colour {blue} - {red} (Vega; 99.999 when either is missing)",
            )
            continue
        f, _, kind = name.partition("_")
        typ, unit, text = _PER_FILTER[kind]
        cols[name] = (typ, unit, text.format(F=f.upper(), f=f))
    assert list(cols) == DATALAB_PHOT_MOD_COLUMNS and len(cols) == 88
    cols["field_id"] = (_S, "", "cloudphot field that first measured the object")
    cols["nmeas"] = (_I4, "", "number of single-exposure measurements (rows in phot_meas)")
    cols["nfields"] = (_I2, "", "number of fields whose catalogs were merged into this object")
    cols["_healpix_29"] = (
        _I8,
        "",
        "HEALPix order 29 NESTED index of (ra, dec): HATS spatial index",
    )
    return cols


PHOT_MOD = _phot_mod()

PHOT_MEAS: dict[str, tuple[pa.DataType, str, str]] = {
    "objid": (_I8, "", "object id in phot_mod"),
    "ra": (_F8, "deg", "right ascension (ICRS) of this measurement"),
    "dec": (_F8, "deg", "declination (ICRS) of this measurement"),
    "mjd": (_F8, "d", "exposure mid-time, Modified Julian Date (UTC)"),
    "filter": (_S, "", "filter name, e.g. F814W"),
    "rate": (_F4, "ct/s", "count rate"),
    "raterr": (_F4, "ct/s", "count-rate uncertainty"),
    "vega": (_F4, "mag", "Vega magnitude (99.999 when rate <= 0)"),
    "err": (_F4, "mag", "magnitude uncertainty"),
    "chi": (_F4, "", "PSF-fit chi"),
    "snr": (_F4, "", "signal to noise"),
    "sharp": (_F4, "", "DOLPHOT sharpness (0 perfect star)"),
    "round": (_F4, "", "DOLPHOT roundness (0 round)"),
    "crowd": (_F4, "mag", "DOLPHOT crowding"),
    "flag": (_I2, "", "DOLPHOT flags (1 chip edge, 2 bad pixels, 4 saturated, 8 extreme)"),
    "exptime": (_F4, "s", "exposure time"),
    "image": (_S, "", "image file name, e.g. j9ec41aiq_flc.fits"),
    "exposure_id": (_S, "", "exposure rootname"),
    "visit_id": (
        _S,
        "",
        "HST visit: program + visit of the rootname ('ipppssoot' -> 'pppss'); "
        "the exposure id itself when it is not a 9-character rootname",
    ),
    "brick": (_I2, "", "PHAT brick number parsed from field_id (0 otherwise)"),
    "field": (_I2, "", "PHAT field number parsed from field_id (0 otherwise)"),
    "field_id": (_S, "", "cloudphot field the measurement belongs to"),
    "star_id": (_I8, "", "star number in the field catalog"),
    "chip": (_I2, "", "science extension (EXTVER) the star was measured on"),
    "x": (_F8, "pix", "x on the chip (0-based)"),
    "y": (_F8, "pix", "y on the chip (0-based)"),
    "job_id": (_S, "", "provenance: id of the job that measured the field"),
    "pipeline_version": (_S, "", "provenance: cloudphot version that measured the field"),
    "task_options": (_S, "", "provenance: the photometry task options (JSON)"),
    "pix4096": (_I8, "", "HEALPix NSIDE 4096 NESTED index of this measurement's (ra, dec)"),
    "_healpix_29": (_I8, "", "HEALPix order 29 NESTED index of (ra, dec): HATS spatial index"),
}

_VISIT_AXIS = "per axis, 1 sigma"

PHOT_VISIT: dict[str, tuple[pa.DataType, str, str]] = {
    "objid": (_I8, "", "object id in phot_mod"),
    "ra": (_F8, "deg", "right ascension (ICRS) in the visit, S/N^2-weighted, frame-tied"),
    "dec": (_F8, "deg", "declination (ICRS) in the visit, S/N^2-weighted, frame-tied"),
    "pos_err": (_F4, "mas", f"uncertainty of the visit's position ({_VISIT_AXIS})"),
    "filter": (_S, "", "filter name, e.g. F814W"),
    "visit_id": (_S, "", "HST visit (program + visit of the rootnames, 'pppss')"),
    "field_id": (_S, "", "cloudphot field the visit was measured in"),
    "nexp": (_I4, "", "number of exposures (rows in phot_meas) combined"),
    "mjd": (_F8, "d", "mean exposure mid-time of the visit, MJD (UTC)"),
    "mjd_min": (_F8, "d", "first exposure mid-time of the visit, MJD (UTC)"),
    "mjd_max": (_F8, "d", "last exposure mid-time of the visit, MJD (UTC)"),
    "rate": (_F4, "ct/s", "inverse-variance mean count rate of the visit's exposures"),
    "raterr": (_F4, "ct/s", "uncertainty of rate"),
    "vega": (_F4, "mag", "inverse-variance mean Vega magnitude (99.999 when not detected)"),
    "err": (_F4, "mag", "uncertainty of vega (9.999 when not detected)"),
    "snr": (_F4, "", "signal to noise of rate (rate / raterr)"),
    "chi": (_F4, "", "mean PSF-fit chi"),
    "sharp": (_F4, "", "mean DOLPHOT sharpness"),
    "round": (_F4, "", "mean DOLPHOT roundness"),
    "crowd": (_F4, "mag", "mean DOLPHOT crowding"),
    "flag": (_I2, "", "bitwise OR of the exposures' DOLPHOT flags"),
    "tie_dra": (_F4, "mas", "frame-tie correction applied to ra (times cos dec)"),
    "tie_ddec": (_F4, "mas", "frame-tie correction applied to dec"),
    "tie_nstar": (_I4, "", "bright stars (S/N >= 20) the visit's frame tie used; 0: not tied"),
    "tie_rms": (_F4, "mas", "rms residual of those stars after the tie (per axis)"),
    "pix4096": (_I8, "", "HEALPix NSIDE 4096 NESTED index of (ra, dec)"),
    "_healpix_29": (_I8, "", "HEALPix order 29 NESTED index of (ra, dec): HATS spatial index"),
}

PHOT_VAR: dict[str, tuple[pa.DataType, str, str]] = {
    "objid": (_I8, "", "object id in phot_mod"),
    "ra": (_F8, "deg", "right ascension (ICRS) of the object (phot_mod)"),
    "dec": (_F8, "deg", "declination (ICRS) of the object (phot_mod)"),
    "filter": (_S, "", "filter name, e.g. F814W"),
    "var_nepoch": (_I4, "", "usable single-exposure measurements (detected, flag <= 1)"),
    "var_nvisit": (_I4, "", "distinct visits among them"),
    "var_mjd_span": (_F8, "d", "time between the first and last of them"),
    "var_mean": (_F4, "mag", "inverse-variance mean Vega magnitude of them"),
    "var_chi2": (
        _F4,
        "",
        "reduced chi^2 of them against a constant (var_mean), errors combined with the "
        "filter's repeatability floor; ~1 if constant",
    ),
    "var_iqr": (_F4, "mag", "inter-quartile range of their magnitudes (robust to outliers)"),
    "var_iqr_norm": (
        _F4,
        "",
        "var_iqr / (1.349 x median err with the floor): a robust variability index, ~1 if constant",
    ),
    "var_amp": (_F4, "mag", "peak-to-peak range of their magnitudes"),
    "var_period": (
        _F4,
        "d",
        "Lomb-Scargle best period, 1-100 d (NULL unless var_nepoch >= 10 and var_chi2 >= 3)",
    ),
    "var_period_power": (_F4, "", "Lomb-Scargle power at var_period (0-1)"),
    "pix4096": (_I8, "", "HEALPix NSIDE 4096 NESTED index of (ra, dec)"),
    "_healpix_29": (_I8, "", "HEALPix order 29 NESTED index of (ra, dec): HATS spatial index"),
}

PHOT_PM: dict[str, tuple[pa.DataType, str, str]] = {
    "objid": (_I8, "", "object id in phot_mod"),
    "ra": (_F8, "deg", "right ascension (ICRS) at pm_ref_epoch from the fit"),
    "dec": (_F8, "deg", "declination (ICRS) at pm_ref_epoch from the fit"),
    "pm_ra_cosdec": (_F4, "mas/yr", "proper motion in right ascension times cos(dec)"),
    "pm_ra_cosdec_err": (_F4, "mas/yr", "uncertainty of pm_ra_cosdec (1 sigma)"),
    "pm_dec": (_F4, "mas/yr", "proper motion in declination"),
    "pm_dec_err": (_F4, "mas/yr", "uncertainty of pm_dec (1 sigma)"),
    "pm_ref_epoch": (_F8, "d", "reference epoch of ra, dec: the fit's weighted mean MJD"),
    "pm_nvisit": (_I4, "", "frame-tied phot_visit rows (visits x filters) fitted"),
    "pm_baseline": (_F8, "d", "time between the first and last of them"),
    "pm_chi2": (
        _F4,
        "",
        "reduced chi^2 of the linear-motion fit (both axes); the errors are scaled by "
        "its square root when it exceeds 1",
    ),
    "pix4096": (_I8, "", "HEALPix NSIDE 4096 NESTED index of (ra, dec)"),
    "_healpix_29": (_I8, "", "HEALPix order 29 NESTED index of (ra, dec): HATS spatial index"),
}

#: the tables derived from phot_meas at each build (see :mod:`.visits`)
DERIVED_TABLES = {"phot_visit": PHOT_VISIT, "phot_var": PHOT_VAR, "phot_pm": PHOT_PM}
_DERIVED_TITLES = {
    "phot_visit": "one row per object per visit per filter",
    "phot_var": "variability: one row per object per filter",
    "phot_pm": "proper motions: one row per object measured in visits far enough apart",
}

#: internal per-field contributions, kept so incremental builds can re-average objects
PHOT_SRC_EXTRA: dict[str, tuple[pa.DataType, str, str]] = {
    "objid": (_I8, "", "object this field row was merged into"),
}
PHOT_SRC = PHOT_SRC_EXTRA  # the rest are the field-catalog columns, stored as read


def arrow_schema(columns: dict[str, tuple[pa.DataType, str, str]]) -> pa.Schema:
    """Parquet/Arrow schema with each column's unit and meaning as field metadata."""
    return pa.schema(
        [pa.field(n, t, metadata={"unit": u, "description": d}) for n, (t, u, d) in columns.items()]
    )


def markdown() -> str:
    """The column reference (docs/catalog-columns.md)."""
    out = [
        "# Catalog columns",
        "",
        "Generated from `src/cloudphot/catalog/schema.py` (`python -m cloudphot.catalog.schema`).",
        "",
        "## phot_mod (one row per object)",
        "",
        "Columns 1-88 follow Astro Data Lab `phat_v2.phot_mod` names and order.",
        "",
        "| # | column | type | unit | meaning |",
        "|---|---|---|---|---|",
    ]
    for i, (n, (t, u, d)) in enumerate(PHOT_MOD.items(), 1):
        out.append(f"| {i} | `{n}` | {t} | {u} | {d} |")
    out += [
        "",
        "## phot_meas (one row per object per exposure)",
        "",
        "| # | column | type | unit | meaning |",
        "|---|---|---|---|---|",
    ]
    for i, (n, (t, u, d)) in enumerate(PHOT_MEAS.items(), 1):
        out.append(f"| {i} | `{n}` | {t} | {u} | {d} |")
    for table, cols in DERIVED_TABLES.items():
        out += [
            "",
            f"## {table} ({_DERIVED_TITLES[table]})",
            "",
            "| # | column | type | unit | meaning |",
            "|---|---|---|---|---|",
        ]
        for i, (n, (t, u, d)) in enumerate(cols.items(), 1):
            out.append(f"| {i} | `{n}` | {t} | {u} | {d} |")
    out += [
        "",
        "## Conventions",
        "",
        "- Magnitudes are Vega; 99.999 (mag) and 9.999 (err) mean no detection; other "
        "per-filter columns are NULL where a filter was never observed.",
        "- `ct/s` is counts per second (electrons per second for HST flc/flt images).",
        "- Averages over fields: magnitudes weighted by 1/err^2, rates by 1/raterr^2, "
        "positions by the summed S/N^2 of the field rows; chi/sharp/round/crowd weighted by "
        "measurement count; flags OR-ed; gst true if true in any field.",
        "- `objid` = pix4096 (NESTED, first position) << 35 | serial, as Gaia's source_id; "
        "stable across catalog versions.",
        "- Spatial columns: `htm9` (HTM level 9), `pix256` (HEALPix NSIDE 256 RING), "
        "`pix4096` (NSIDE 4096 NESTED), `_healpix_29` (order 29 NESTED, the HATS index; "
        "`pix4096 = _healpix_29 >> 34`).",
        "- Visits: `visit_id` is the program + visit of the HST rootname `ipppssoot` "
        "(`pppss`); an exposure id that is not a 9-character rootname is its own visit. "
        "phot_visit positions are tied per (field, visit, filter) to the phot_mod positions "
        "of its stars with S/N >= 20 (clipped S/N^2-weighted mean shift); `pos_err` uses "
        "the noise those stars show, c / (S/N). phot_pm fits the tied positions of every "
        "filter against time where they span the build's `pm_min_baseline_days` "
        "(default 180). phot_visit, phot_pm and phot_var are recomputed from the whole "
        "version at every build.",
        "- Storage: HATS catalogs "
        "`catalogs/<survey>/vNNNN/{phot_mod,phot_meas,phot_visit,phot_pm,phot_var}/` in the "
        "products bucket, Parquet sorted by `_healpix_29` in row groups of 20,000 rows.",
        "- Queries: `q3c_radial_query`, `q3c_dist`, `q3c_join`, ADQL "
        "`CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', ra0, dec0, r)) = 1` and "
        "`DISTANCE(POINT, POINT)` work as in Q3C/ADQL (degrees).",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")
