"""PHAT-like M31 field products, generated in code (tests, demo and the benchmark).

Until the photometry engines publish real products, this writes exactly what they
will: ``fields/<field_id>/measurements.parquet`` (columns
:data:`cloudphot.products.MEASUREMENT_COLUMNS`) and ``fields/<field_id>/catalog.parquet``
(:func:`cloudphot.products.field_catalog_columns`) to the products bucket, with the
provenance (job id, pipeline version, task options) in the Parquet key-value
metadata under ``cloudphot.provenance``.

Realism, in brief: ACS/WFC-sized fields (202" square) on a grid around the M31
PHAT area (RA ~ 10.68 deg, Dec ~ 41.27 deg) overlapping by 10 %, so the catalog
build must cross-match stars seen in two fields; an RGB-like luminosity function;
photometric errors from PHAT-like 5-sigma depths per filter; 5 mas astrometric
scatter; and a small fraction of Cepheid-like variables (saw-tooth light curves,
log-uniform periods) whose periods are the truth that light-curve tests check.

Memory stays bounded for the 10M-object benchmark: stars are generated per sky
tile from a seed derived from the tile index (so overlapping fields see the same
stars without a global star list), and each field's measurements are streamed to
Parquet exposure by exposure.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..products import FIELD_COLUMNS, MEASUREMENT_COLUMNS, PER_FILTER_COLUMNS, keys
from ..storage.objects import ObjectStore

__all__ = [
    "DEPTH_5SIG",
    "M31_DEC_DEG",
    "M31_RA_DEG",
    "PHAT_DENSITY_PER_ARCSEC2",
    "ZEROPOINTS",
    "FieldSpec",
    "SyntheticSurvey",
    "Variable",
    "make_survey",
    "write_field",
]

M31_RA_DEG = 10.68
M31_DEC_DEG = 41.27
#: PHAT: ~117M objects over ~0.5 deg^2 -> ~18 stars per arcsec^2 on average
PHAT_DENSITY_PER_ARCSEC2 = 18.0
FIELD_SIZE_ARCSEC = 202.0
TILE_ARCSEC = 50.0
#: Vega zero points (mag for 1 e-/s), roughly the ACS/WFC3 values
ZEROPOINTS = {
    "F275W": 22.65,
    "F336W": 23.46,
    "F475W": 26.15,
    "F814W": 25.52,
    "F110W": 26.06,
    "F160W": 24.69,
}
#: PHAT-like single-exposure 5-sigma depths (mag)
DEPTH_5SIG = {
    "F275W": 24.6,
    "F336W": 24.4,
    "F475W": 27.0,
    "F814W": 26.2,
    "F110W": 25.0,
    "F160W": 24.0,
}
_INSTRUMENT = {"F275W": "i", "F336W": "i", "F110W": "i", "F160W": "i", "F475W": "j", "F814W": "j"}


@dataclass(frozen=True)
class FieldSpec:
    field_id: str
    ra_deg: float
    dec_deg: float
    size_arcsec: float = FIELD_SIZE_ARCSEC


@dataclass(frozen=True)
class Variable:
    """A simulated Cepheid: its true position and period (the light-curve test's truth)."""

    true_id: int
    ra_deg: float
    dec_deg: float
    period_d: float


@dataclass
class SyntheticSurvey:
    fields: list[FieldSpec]
    filters: list[str]
    variables: list[Variable] = field(default_factory=list)
    n_measurements: int = 0
    n_field_rows: int = 0


def _tile_stars(
    ix: int, iy: int, *, dec0: float, density: float, seed: int, cepheid_fraction: float
) -> dict[str, np.ndarray]:
    """Stars of one sky tile, reproducible from (seed, ix, iy)."""
    rng = np.random.default_rng([seed, ix + 100000, iy + 100000])
    area = TILE_ARCSEC**2
    n = rng.poisson(density * area)
    x = (ix + rng.random(n)) * TILE_ARCSEC
    y = (iy + rng.random(n)) * TILE_ARCSEC
    dec = dec0 + y / 3600.0
    ra = M31_RA_DEG + x / 3600.0 / math.cos(math.radians(dec0))
    # RGB-like luminosity function: counts rise ~ 10**(0.3 m) towards the faint end
    u = rng.random(n)
    lo, hi = 20.0, 27.5
    m814 = np.log10(10 ** (0.3 * lo) + u * (10 ** (0.3 * hi) - 10 ** (0.3 * lo))) / 0.3
    col = rng.normal(1.6, 0.5, n)  # F475W - F814W
    mags = {
        "F814W": m814,
        "F475W": m814 + col,
        "F336W": m814 + col + rng.normal(1.2, 0.6, n),
        "F275W": m814 + col + rng.normal(2.0, 0.8, n),
        "F110W": m814 - 0.7 - 0.2 * col,
        "F160W": m814 - 1.3 - 0.4 * col,
    }
    ncep = rng.binomial(n, cepheid_fraction) if n else 0
    period = np.zeros(n)
    phase0 = np.zeros(n)
    if ncep:
        idx = rng.choice(n, ncep, replace=False)
        period[idx] = np.exp(rng.uniform(np.log(3.0), np.log(40.0), ncep))
        phase0[idx] = rng.random(ncep)
        bright = 22.5 - 2.5 * np.log10(period[idx] / 3.0)  # Leavitt-law-like
        mags["F814W"][idx] = bright
        for f, off in {
            "F475W": 0.9,
            "F336W": 1.6,
            "F275W": 2.2,
            "F110W": -0.5,
            "F160W": -0.8,
        }.items():
            mags[f][idx] = bright + off
    true_id = (np.int64(ix + 50000) << 40) | (np.int64(iy + 50000) << 20) | np.arange(n)
    return {
        "ra": ra,
        "dec": dec,
        "true_id": true_id,
        "period": period,
        "phase0": phase0,
        **{f"m_{f}": m for f, m in mags.items()},
    }


def _amplitude(filt: str) -> float:
    return {"F275W": 0.9, "F336W": 0.8, "F475W": 0.7, "F814W": 0.4, "F110W": 0.3, "F160W": 0.25}[
        filt
    ]


def _cepheid_shape(phase: np.ndarray) -> np.ndarray:
    """Saw-tooth-like Cepheid curve, zero mean, peak-to-peak ~1: fast rise, slow decline."""
    return -(
        0.5 * np.sin(2 * np.pi * phase)
        + 0.2 * np.sin(4 * np.pi * phase)
        + 0.08 * np.sin(6 * np.pi * phase)
    )


def _field_stars(
    spec: FieldSpec,
    *,
    dec0: float,
    density: float,
    seed: int,
    cepheid_fraction: float,
    pinned: tuple = (),
) -> dict[str, np.ndarray]:
    cosd = math.cos(math.radians(dec0))
    half = spec.size_arcsec / 2 / 3600
    ra_lo, ra_hi = spec.ra_deg - half / cosd, spec.ra_deg + half / cosd
    dec_lo, dec_hi = spec.dec_deg - half, spec.dec_deg + half
    ix0 = math.floor((ra_lo - M31_RA_DEG) * cosd * 3600 / TILE_ARCSEC)
    ix1 = math.floor((ra_hi - M31_RA_DEG) * cosd * 3600 / TILE_ARCSEC)
    iy0 = math.floor((dec_lo - dec0) * 3600 / TILE_ARCSEC)
    iy1 = math.floor((dec_hi - dec0) * 3600 / TILE_ARCSEC)
    parts = [
        _tile_stars(
            ix, iy, dec0=dec0, density=density, seed=seed, cepheid_fraction=cepheid_fraction
        )
        for ix in range(ix0, ix1 + 1)
        for iy in range(iy0, iy1 + 1)
    ]
    if pinned:  # stars placed on purpose (e.g. where a documented query looks)
        pr = np.array([p[0] for p in pinned], float)
        pd = np.array([p[1] for p in pinned], float)
        k = len(pr)
        parts.append(
            {
                "ra": pr,
                "dec": pd,
                "true_id": -np.arange(1, k + 1, dtype=np.int64),
                "period": np.zeros(k),
                "phase0": np.zeros(k),
                "m_F814W": np.full(k, 21.0),
                "m_F475W": np.full(k, 22.5),
                "m_F336W": np.full(k, 23.5),
                "m_F275W": np.full(k, 24.0),
                "m_F110W": np.full(k, 20.2),
                "m_F160W": np.full(k, 19.5),
            }
        )
    stars = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    inside = (
        (stars["ra"] >= ra_lo)
        & (stars["ra"] < ra_hi)
        & (stars["dec"] >= dec_lo)
        & (stars["dec"] < dec_hi)
    )
    return {k: v[inside] for k, v in stars.items()}


def write_field(
    store: ObjectStore,
    bucket: str,
    spec: FieldSpec,
    *,
    filters: list[str],
    epochs_per_filter: int,
    mjd0: float = 53500.0,
    baseline_d: float = 400.0,
    density: float = PHAT_DENSITY_PER_ARCSEC2,
    seed: int = 1,
    cepheid_fraction: float = 0.002,
    dec0: float = M31_DEC_DEG - 0.5,
    job_id: str | None = None,
    tmp_dir: str | Path | None = None,
    pinned: tuple = (),
) -> tuple[list[Variable], int, int]:
    """Write one field's measurements and catalog; return (variables, n_meas, n_stars)."""
    import tempfile

    stars = _field_stars(
        spec,
        dec0=dec0,
        density=density,
        seed=seed,
        cepheid_fraction=cepheid_fraction,
        pinned=pinned,
    )
    n = len(stars["ra"])
    rng = np.random.default_rng([seed, zlib.crc32(spec.field_id.encode())])
    cosd = math.cos(math.radians(spec.dec_deg))
    scale = 0.05  # arcsec / pixel (ACS/WFC)
    xref = (stars["ra"] - spec.ra_deg) * cosd * 3600 / scale + spec.size_arcsec / scale / 2
    yref = (stars["dec"] - spec.dec_deg) * 3600 / scale + spec.size_arcsec / scale / 2
    prov = {
        "job_id": job_id or f"job-synthetic-{spec.field_id}",
        "pipeline_version": __version__,
        "task_options": json.dumps(
            {"engine": "synthetic", "seed": seed, "epochs_per_filter": epochs_per_filter},
            sort_keys=True,
        ),
    }
    meta = {b"cloudphot.provenance": json.dumps(prov).encode()}
    mschema = pa.schema(
        [pa.field(k, _arrow(v[0])) for k, v in MEASUREMENT_COLUMNS.items()], metadata=meta
    )
    sums = {
        f: {
            k: np.zeros(n)
            for k in ("w", "wr", "chi", "sharp", "round", "crowd", "cnt", "ra", "dec", "wpos")
        }
        for f in filters
    }
    flags = {f: np.zeros(n, dtype=np.int16) for f in filters}
    n_meas = 0
    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        mpath = Path(tmp) / "measurements.parquet"
        with pq.ParquetWriter(mpath, mschema, compression="zstd") as writer:
            for _fi, filt in enumerate(filters):
                # epochs spread over the baseline with a little clustering, as HST visits are
                mjds = np.sort(mjd0 + rng.uniform(0, baseline_d, epochs_per_filter))
                for e, mjd in enumerate(mjds):
                    mag = stars[f"m_{filt}"].copy()
                    var = stars["period"] > 0
                    if var.any():
                        ph = (mjd - mjd0) / stars["period"][var] + stars["phase0"][var]
                        mag[var] += _amplitude(filt) * _cepheid_shape(ph % 1.0)
                    zp = ZEROPOINTS[filt]
                    flux = 10 ** (-0.4 * (mag - zp))
                    snr_true = 5 * 10 ** (-0.4 * (mag - DEPTH_5SIG[filt]))
                    raterr = flux / snr_true
                    rate = flux + rng.normal(0, 1, n) * raterr
                    with np.errstate(invalid="ignore", divide="ignore"):
                        vega = np.where(
                            rate > 0, zp - 2.5 * np.log10(np.maximum(rate, 1e-30)), 99.999
                        )
                        err = np.where(rate > 0, 1.0857 * raterr / np.maximum(rate, 1e-30), 9.999)
                    snr = rate / raterr
                    poserr = np.clip(0.005 / np.maximum(snr_true / 50, 0.2), 0.001, 0.05) / 3600
                    ra = stars["ra"] + rng.normal(0, 1, n) * poserr / cosd
                    dec = stars["dec"] + rng.normal(0, 1, n) * poserr
                    chi = np.abs(rng.normal(1.0, 0.2, n))
                    sharp = rng.normal(0, 0.03, n)
                    rnd = np.abs(rng.normal(0, 0.1, n))
                    crowd = np.abs(rng.normal(0, 0.05, n))
                    flag = np.where(rng.random(n) < 0.01, 2, 0).astype(np.int16)
                    # ipppssoot: one visit (ss) per epoch, as HST schedules them
                    prog = zlib.crc32(f"{spec.field_id}/{filt}".encode()) % 10**3
                    root = f"{_INSTRUMENT[filt]}{prog:03d}{e % 100:02d}{e // 100:02d}q"
                    dx, dy = rng.normal(0, 2, 2)
                    x = xref + dx
                    y = yref + dy
                    chip = np.where(y < 2048, 2, 1).astype(np.int16)
                    ychip = np.where(y < 2048, y, y - 2048)
                    cols = {
                        "field_id": pa.array(np.full(n, spec.field_id)),
                        "star_id": np.arange(n, dtype=np.int64),
                        "exposure_id": pa.array(np.full(n, root)),
                        "image": pa.array(np.full(n, f"{root}_flc.fits")),
                        "chip": chip,
                        "filter": pa.array(np.full(n, filt)),
                        "mjd": np.full(n, mjd),
                        "exptime": np.full(n, 600.0, dtype=np.float32),
                        "x": x,
                        "y": ychip,
                        "ra": ra,
                        "dec": dec,
                        "rate": rate.astype(np.float32),
                        "raterr": raterr.astype(np.float32),
                        "vega": vega.astype(np.float32),
                        "err": err.astype(np.float32),
                        "chi": chi.astype(np.float32),
                        "snr": snr.astype(np.float32),
                        "sharp": sharp.astype(np.float32),
                        "round": rnd.astype(np.float32),
                        "crowd": crowd.astype(np.float32),
                        "flag": flag,
                    }
                    writer.write_table(pa.table(cols, schema=mschema))
                    n_meas += n
                    s = sums[filt]
                    w = 1 / raterr**2
                    s["w"] += w
                    s["wr"] += w * rate
                    s["chi"] += chi
                    s["sharp"] += sharp
                    s["round"] += rnd
                    s["crowd"] += crowd
                    s["cnt"] += 1
                    wp = 1 / poserr**2
                    s["ra"] += wp * ra
                    s["dec"] += wp * dec
                    s["wpos"] += wp
                    flags[filt] |= flag
        store.put_file(bucket, keys.field_measurements(spec.field_id), mpath)
        cat = _field_catalog(spec, stars, sums, flags, filters, xref, yref, epochs_per_filter)
        cpath = Path(tmp) / "catalog.parquet"
        pq.write_table(cat.replace_schema_metadata(meta), cpath, compression="zstd")
        store.put_file(bucket, keys.field_catalog(spec.field_id), cpath)
    variables = [
        Variable(int(t), float(r), float(d), float(p))
        for t, r, d, p in zip(stars["true_id"], stars["ra"], stars["dec"], stars["period"])
        if p > 0
    ]
    return variables, n_meas, n


def _arrow(dtype: str) -> pa.DataType:
    return {
        "U": pa.string(),
        "i8": pa.int64(),
        "i4": pa.int32(),
        "i2": pa.int16(),
        "f8": pa.float64(),
        "f4": pa.float32(),
        "?": pa.bool_(),
    }[dtype[0] if dtype[0] == "U" else dtype]


def _field_catalog(spec, stars, sums, flags, filters, xref, yref, epochs) -> pa.Table:
    n = len(stars["ra"])
    wpos = sum(sums[f]["wpos"] for f in filters)
    cols: dict[str, object] = {
        "field_id": pa.array(np.full(n, spec.field_id)),
        "star_id": np.arange(n, dtype=np.int64),
        "ra": sum(sums[f]["ra"] for f in filters) / wpos,
        "dec": sum(sums[f]["dec"] for f in filters) / wpos,
        "x": xref,
        "y": yref,
        "nexp": np.full(n, epochs * len(filters), dtype=np.int32),
    }
    for f in filters:
        s = sums[f]
        zp = ZEROPOINTS[f]
        rate = s["wr"] / s["w"]
        raterr = 1 / np.sqrt(s["w"])
        with np.errstate(invalid="ignore", divide="ignore"):
            vega = np.where(rate > 0, zp - 2.5 * np.log10(np.maximum(rate, 1e-30)), 99.999)
            err = np.where(rate > 0, 1.0857 * raterr / np.maximum(rate, 1e-30), 9.999)
        snr = rate / raterr
        sharp = s["sharp"] / s["cnt"]
        crowd = s["crowd"] / s["cnt"]
        lf = f.lower()
        st = (snr >= 4) & (np.abs(sharp) < 0.2)
        vals = {
            "rate": rate,
            "raterr": raterr,
            "vega": vega,
            "err": err,
            "chi": s["chi"] / s["cnt"],
            "snr": snr,
            "sharp": sharp,
            "round": s["round"] / s["cnt"],
            "crowd": crowd,
            "flag": flags[f],
            "nmeas": s["cnt"].astype(np.int32),
            "st": st,
            "gst": st & (crowd < 0.1),
        }
        for c, (dt, _, _) in PER_FILTER_COLUMNS.items():
            cols[f"{lf}_{c}"] = pa.array(
                np.asarray(vals[c]).astype(
                    {"f4": np.float32, "i2": np.int16, "i4": np.int32, "?": bool}[dt]
                )
            )
    schema = pa.schema(
        [pa.field(k, _arrow(FIELD_COLUMNS[k][0])) for k in FIELD_COLUMNS]
        + [
            pa.field(f"{f.lower()}_{c}", _arrow(dt))
            for f in filters
            for c, (dt, _, _) in PER_FILTER_COLUMNS.items()
        ]
    )
    return pa.table(cols, schema=schema)


def make_survey(
    store: ObjectStore,
    bucket: str,
    *,
    n_fields_ra: int = 2,
    n_fields_dec: int = 1,
    filters: tuple[str, ...] = ("F475W", "F814W"),
    epochs_per_filter: int = 30,
    density_per_arcsec2: float = 0.05,
    size_arcsec: float = 60.0,
    overlap: float = 0.1,
    seed: int = 1,
    cepheid_fraction: float = 0.002,
    baseline_d: float = 400.0,
    prefix: str = "b15_f",
    extra_fields: tuple[FieldSpec, ...] = (),
    pinned: tuple = (),
) -> SyntheticSurvey:
    """Write a grid of overlapping fields; returns the specs and the Cepheids' truth.

    Defaults are test-sized (two 60" fields, ~180 stars each); the benchmark passes
    ``density_per_arcsec2=PHAT_DENSITY_PER_ARCSEC2`` and ACS-sized fields.
    ``extra_fields`` are written after the grid; ``pinned`` (ra, dec) stars are added
    to every field that covers them.
    """
    cosd = math.cos(math.radians(M31_DEC_DEG))
    step = size_arcsec * (1 - overlap) / 3600
    survey = SyntheticSurvey(fields=[], filters=list(filters))
    seen: dict[int, Variable] = {}
    specs = [
        FieldSpec(
            f"{prefix}{j * n_fields_ra + i + 1:02d}",
            M31_RA_DEG + i * step / cosd,
            M31_DEC_DEG + j * step,
            size_arcsec,
        )
        for j in range(n_fields_dec)
        for i in range(n_fields_ra)
    ] + list(extra_fields)
    for spec in specs:
        var, nm, ns = write_field(
            store,
            bucket,
            spec,
            filters=list(filters),
            epochs_per_filter=epochs_per_filter,
            density=density_per_arcsec2,
            seed=seed,
            cepheid_fraction=cepheid_fraction,
            baseline_d=baseline_d,
            pinned=tuple(pinned),
        )
        survey.fields.append(spec)
        survey.n_measurements += nm
        survey.n_field_rows += ns
        for v in var:
            seen[v.true_id] = v
    survey.variables = list(seen.values())
    return survey
