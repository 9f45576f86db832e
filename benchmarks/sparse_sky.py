"""A sparse, multi-region survey's field products: the catalog's second, independent shape.

Written apart from :mod:`cloudphot.catalog.synthetic` (the dense M31 field the tests
and the first benchmark use) so that the database is checked and measured on a
catalog whose shape its own generator did not choose. Nothing is shared with that
module but the products' column contract (:mod:`cloudphot.products`).

Regions (spherical caps, so the poles and RA = 0/360 need no special cases here):

- ``m31``     a few overlapping fields near M31: the only place stars are dense;
- ``wrap``    fields straddling RA = 0/360 on the equator (a base-pixel corner);
- ``ncap``    the whole cap above Dec 89.5, and ``scap`` a smaller one below -89.7;
- ``edges``   stars placed exactly on HEALPix pixel edges and corners (orders 4-12)
  around the polar-cap boundary (Dec 41.81) and the equator;
- ``dups``    pairs and triples of stars at identical positions in one field.

Everywhere a few per cent of the magnitudes are NaN (field catalogs and single
measurements), filter sets differ by region (so phot_mod columns are NULL where a
filter was not observed), overlapping fields see the same stars 5 mas apart (so
the build merges them), and ~15 % of the detections per exposure are missing.

    python benchmarks/sparse_sky.py WORKDIR --objects 1000000   # then cloudphot catalog build
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cloudphot.products import FIELD_COLUMNS, MEASUREMENT_COLUMNS, PER_FILTER_COLUMNS, keys

__all__ = ["REGIONS", "Region", "write_sparse_sky"]

_ARROW = {
    "i8": pa.int64(),
    "i4": pa.int32(),
    "i2": pa.int16(),
    "f8": pa.float64(),
    "f4": pa.float32(),
    "?": pa.bool_(),
}


def _arrow(code: str) -> pa.DataType:
    return pa.string() if code.startswith("U") else _ARROW[code]


@dataclass(frozen=True)
class Region:
    name: str
    ra_deg: float
    dec_deg: float
    #: radius of the region (a cap), degrees
    radius_deg: float
    #: share of the survey's stars
    weight: float
    filters: tuple[str, ...]
    #: fields tiling the region (overlapping caps)
    n_fields: int = 1


REGIONS = (
    Region("m31", 10.68, 41.27, 0.12, 0.40, ("F475W", "F814W"), 3),
    Region("wrap", 0.0, 0.0, 0.20, 0.15, ("F110W", "F160W"), 2),
    Region("ncap", 0.0, 90.0, 0.50, 0.20, ("F275W", "F336W", "F814W"), 4),
    Region("scap", 123.0, -90.0, 0.30, 0.05, ("F475W", "F814W"), 1),
    Region("edges", 45.0, 41.8103, 0.25, 0.12, ("F475W", "F814W"), 2),
    Region("equator", 90.0, 0.0, 0.25, 0.05, ("F475W", "F814W"), 1),
    Region("dups", 200.0, -30.0, 0.05, 0.03, ("F336W", "F814W"), 1),
)
_ZP = {"F275W": 22.6, "F336W": 23.5, "F475W": 26.1, "F814W": 25.5, "F110W": 26.0, "F160W": 24.7}


def _unit(ra_deg, dec_deg) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], -1)


def _radec(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    ra = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    return ra, np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))


def _in_cap(rng, ra0, dec0, radius_deg, n) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in a spherical cap (area-uniform: cos of the angle is uniform)."""
    c = _unit(ra0, dec0)
    helper = np.array([1.0, 0.0, 0.0]) if abs(c[2]) > 0.9 else np.array([0.0, 0.0, 1.0])
    a = np.cross(c, helper)
    a /= np.linalg.norm(a)
    b = np.cross(c, a)
    cos_t = 1 - rng.random(n) * (1 - math.cos(math.radians(radius_deg)))
    sin_t = np.sqrt(1 - cos_t**2)
    phi = rng.uniform(0, 2 * math.pi, n)
    v = cos_t[:, None] * c + sin_t[:, None] * (np.cos(phi)[:, None] * a + np.sin(phi)[:, None] * b)
    return _radec(v)


def _edge_points(rng, region: Region, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions exactly on HEALPix pixel boundaries (corners and edge points), orders 4-12."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    ra, dec = _in_cap(rng, region.ra_deg, region.dec_deg, region.radius_deg, n)
    order = rng.integers(4, 13, n)
    for k in np.unique(order):
        sel = np.flatnonzero(order == k)
        hp = HEALPix(nside=2 ** int(k), order="nested")
        pix = hp.lonlat_to_healpix(ra[sel] * u.deg, dec[sel] * u.deg)
        lon, lat = hp.boundaries_lonlat(pix, step=3)  # 4 corners + 2 points per edge
        j = rng.integers(0, lon.shape[1], len(sel))
        ra[sel] = lon.to_value(u.deg)[np.arange(len(sel)), j]
        dec[sel] = lat.to_value(u.deg)[np.arange(len(sel)), j]
    return ra % 360.0, dec


def _stars(rng, region: Region, n: int) -> dict[str, np.ndarray]:
    if region.name == "edges":
        ra, dec = _edge_points(rng, region, n)
    else:
        ra, dec = _in_cap(rng, region.ra_deg, region.dec_deg, region.radius_deg, n)
    if region.name == "dups":  # a third of the stars repeat an earlier star's position
        k = n // 3
        src = rng.integers(0, n - k, k)
        ra[n - k :], dec[n - k :] = ra[src], dec[src]
    # magnitudes: an exponential luminosity function (not synthetic.py's power law)
    base = 27.5 - rng.exponential(1.6, n).clip(0, 8)
    mags = {f: base + rng.normal(0.5 * i, 0.3, n) for i, f in enumerate(region.filters)}
    return {"ra": ra, "dec": dec, **{f"m_{f}": m for f, m in mags.items()}}


def _field_centres(region: Region) -> list[tuple[float, float]]:
    """Overlapping field centres around the region's centre (one: the centre itself)."""
    if region.n_fields == 1:
        return [(region.ra_deg, region.dec_deg)]
    c = _unit(region.ra_deg, region.dec_deg)
    helper = np.array([1.0, 0.0, 0.0]) if abs(c[2]) > 0.9 else np.array([0.0, 0.0, 1.0])
    a = np.cross(c, helper)
    a /= np.linalg.norm(a)
    b = np.cross(c, a)
    off = math.radians(region.radius_deg * 0.45)
    out = []
    for i in range(region.n_fields):
        phi = 2 * math.pi * i / region.n_fields
        v = math.cos(off) * c + math.sin(off) * (math.cos(phi) * a + math.sin(phi) * b)
        r, d = _radec(v)
        out.append((float(r), float(d)))
    return out


def _angle_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    return np.degrees(
        2
        * np.arcsin(np.clip(np.linalg.norm(_unit(ra1, dec1) - _unit(ra2, dec2), axis=-1) / 2, 0, 1))
    )


def _put_parquet(store, bucket, key, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    store.put_bytes(bucket, key, buf.getvalue())


def _write_field(
    store, bucket, rng, field_id: str, region: Region, stars: dict, epochs: int
) -> tuple[int, int]:
    """One field's catalog and measurements; returns (stars, measurements)."""
    n = len(stars["ra"])
    # each field sees the stars 5 mas off (another astrometric solution), so overlapping
    # fields give the build positions to merge
    jitter = 0.005 / 3600
    cosd = np.maximum(np.cos(np.radians(stars["dec"])), 1e-6)
    ra0 = stars["ra"] + rng.normal(0, jitter, n) / cosd
    dec0 = np.clip(stars["dec"] + rng.normal(0, jitter, n), -90, 90)
    if region.name == "edges":  # exactly on the edges in the catalog the build reads
        ra0, dec0 = stars["ra"].copy(), stars["dec"].copy()
    if region.name == "dups":  # identical positions stay identical
        ra0, dec0 = stars["ra"].copy(), stars["dec"].copy()
    ra0 %= 360.0
    cols: dict[str, object] = {
        "field_id": pa.array([field_id] * n),
        "star_id": np.arange(n, dtype=np.int64),
        "ra": ra0,
        "dec": dec0,
        "x": rng.uniform(0, 4096, n),
        "y": rng.uniform(0, 4096, n),
    }
    meas = []
    nexp = np.zeros(n, np.int32)
    mjd0 = 56000.0 + 50 * rng.random()
    for fi, filt in enumerate(region.filters):
        lf = filt.lower()
        true = stars[f"m_{filt}"]
        flux = 10 ** (-0.4 * (true - _ZP[filt]))
        sig = 0.01 + 0.3 / np.sqrt(flux)  # fractional rate error: photon noise + a floor
        rates, errs = [], []
        for e in range(epochs):
            seen = rng.random(n) > 0.15
            rate = flux * (1 + rng.normal(0, 1, n) * sig)
            with np.errstate(invalid="ignore", divide="ignore"):
                vega = np.where(rate > 0, _ZP[filt] - 2.5 * np.log10(np.abs(rate)), 99.999)
            err_mag = 1.0857 * sig
            vega = np.where(rng.random(n) < 0.03, np.nan, vega)  # NaN magnitudes
            idx = np.flatnonzero(seen)
            m = len(idx)
            root = f"s{zlib.crc32(f'{field_id}/{filt}'.encode()) % 10**5:05d}{e:02d}{fi}"
            meas.append(
                {
                    "field_id": [field_id] * m,
                    "star_id": idx.astype(np.int64),
                    "exposure_id": [root] * m,
                    "image": [f"{root}_flt.fits"] * m,
                    "chip": np.ones(m, np.int16),
                    "filter": [filt] * m,
                    "mjd": np.full(m, mjd0 + 37.1 * e + 0.3 * fi),
                    "exptime": np.full(m, 350.0, np.float32),
                    "x": cols["x"][idx] + rng.normal(0, 0.02, m),
                    "y": cols["y"][idx] + rng.normal(0, 0.02, m),
                    "ra": (ra0[idx] + rng.normal(0, 0.004 / 3600, m) / cosd[idx]) % 360.0,
                    "dec": np.clip(dec0[idx] + rng.normal(0, 0.004 / 3600, m), -90, 90),
                    "rate": rate[idx].astype(np.float32),
                    "raterr": (flux * sig)[idx].astype(np.float32),
                    "vega": vega[idx].astype(np.float32),
                    "err": err_mag[idx].astype(np.float32),
                    "chi": rng.gamma(4, 0.25, m).astype(np.float32),
                    "snr": (1 / sig[idx]).astype(np.float32),
                    "sharp": rng.normal(0, 0.05, m).astype(np.float32),
                    "round": np.abs(rng.normal(0, 0.1, m)).astype(np.float32),
                    "crowd": rng.exponential(0.05, m).astype(np.float32),
                    "flag": (rng.random(m) < 0.02).astype(np.int16) * 4,
                }
            )
            nexp += seen
            rates.append(np.where(seen, rate, np.nan))
            errs.append(np.where(seen, flux * sig, np.nan))
        r = np.array(rates)
        w = 1 / np.array(errs) ** 2
        nm = np.isfinite(r).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.nansum(r * w, 0) / np.nansum(w, 0)
            raterr = 1 / np.sqrt(np.nansum(w, 0))
            vega = np.where(rate > 0, _ZP[filt] - 2.5 * np.log10(np.abs(rate)), 99.999)
            err = 1.0857 * raterr / np.abs(rate)
        vega = np.where(rng.random(n) < 0.03, np.nan, vega)  # NaN in the field catalog too
        snr = rate / raterr
        vals = {
            "rate": rate,
            "raterr": raterr,
            "vega": vega,
            "err": err,
            "chi": rng.gamma(4, 0.25, n),
            "snr": snr,
            "sharp": rng.normal(0, 0.05, n),
            "round": np.abs(rng.normal(0, 0.1, n)),
            "crowd": rng.exponential(0.05, n),
            "flag": np.zeros(n, np.int16),
            "nmeas": nm.astype(np.int32),
            "st": snr > 5,
            "gst": snr > 10,
        }
        for c, (dt, _, _) in PER_FILTER_COLUMNS.items():
            cols[f"{lf}_{c}"] = pa.array(np.asarray(vals[c]), type=_arrow(dt), from_pandas=False)
    cols["nexp"] = nexp
    schema = pa.schema(
        [pa.field(k, _arrow(v[0])) for k, v in FIELD_COLUMNS.items()]
        + [
            pa.field(f"{f.lower()}_{c}", _arrow(dt))
            for f in region.filters
            for c, (dt, _, _) in PER_FILTER_COLUMNS.items()
        ]
    )
    cat = pa.table({f.name: cols[f.name] for f in schema}, schema=schema)
    prov = {
        "job_id": f"job-sparse-{field_id}",
        "pipeline_version": "sparse-sky",
        "task_options": "{}",
    }
    meta = {b"cloudphot.provenance": json.dumps(prov).encode()}
    _put_parquet(store, bucket, keys.field_catalog(field_id), cat.replace_schema_metadata(meta))
    mschema = pa.schema(
        [pa.field(k, _arrow(v[0])) for k, v in MEASUREMENT_COLUMNS.items()], metadata=meta
    )
    mt = pa.concat_tables(
        [pa.table({k: m[k] for k in MEASUREMENT_COLUMNS}, schema=mschema) for m in meas]
    )
    _put_parquet(store, bucket, keys.field_measurements(field_id), mt)
    return n, mt.num_rows


def write_sparse_sky(
    store, bucket: str, *, n_objects: int = 20_000, epochs: int = 3, seed: int = 2026
) -> dict:
    """Write every region's fields; returns {"fields": [...], "stars": n, "measurements": n}."""
    rng = np.random.default_rng(seed)
    out = {"fields": [], "stars": 0, "measurements": 0}
    for region in REGIONS:
        n = max(50, round(n_objects * region.weight))
        stars = _stars(rng, region, n)
        field_r = region.radius_deg * (0.65 if region.n_fields > 1 else 1.0)
        for i, (fra, fdec) in enumerate(_field_centres(region)):
            inside = _angle_deg(stars["ra"], stars["dec"], fra, fdec) <= field_r
            if region.n_fields == 1:
                inside[:] = True
            sub = {k: v[inside] for k, v in stars.items()}
            fid = f"{region.name}-{i + 1:02d}"
            ns, nm = _write_field(store, bucket, rng, fid, region, sub, epochs)
            out["fields"].append(fid)
            out["stars"] += ns
            out["measurements"] += nm
    return out


def main(argv=None) -> int:
    from cloudphot.platform import open_platform
    from cloudphot.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--objects", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=3, help="exposures per filter per field")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    settings = Settings.from_env(home=args.workdir, env={})
    store = open_platform(settings).objects
    res = write_sparse_sky(
        store,
        settings.bucket("products"),
        n_objects=args.objects,
        epochs=args.epochs,
        seed=args.seed,
    )
    print(
        f"{len(res['fields'])} fields, {res['stars']} field rows, {res['measurements']} measurements"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
