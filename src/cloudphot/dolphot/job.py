"""The photometry job of one field, as run by the photometry container's entry point.

Request (JSON object, see ``ecs_tasks/photometry/README.md``)::

    {"field_id": "m31-b22-f06",
     "exposures": [{"bucket": "raw", "key": "raw/ibfe06dqq_flt.fits"}, ...],
     "products_bucket": "products",            # optional: Settings' products bucket
     "options": {"engine": "auto",             # "auto" | "dolphot" | "builtin"
                 "dolphot": {"SecondPass": 5}, # DOLPHOT keywords (DOLPHOT engine)
                 "dolphot_timeout_s": 36000,
                 "photometry": {...}}}         # built-in engine options

The exposures are downloaded to local scratch, photometered (DOLPHOT when its
programs are installed, :func:`cloudphot.photometry.reduce_field` otherwise, or
as ``options.engine`` says), and the field's measurements and catalog are
written to the products bucket as Parquet and FITS under the deterministic keys
of :class:`cloudphot.products.keys` (a rerun overwrites the same objects).
Nothing is kept on the worker's disk.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..checkpoints import Checkpoints
from ..errors import DataError, NoStars
from ..products import check_branch, check_field_id, fingerprint, keys
from ..settings import Settings
from ..storage import ObjectStore, Target
from ..worker import check_stop, stop_requested

__all__ = ["ENGINES", "images_meta_from_fits", "parse_request", "photometry_job"]

ENGINES = ("auto", "dolphot", "builtin")


def parse_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a photometry request; return it normalised. Raises DataError naming the field."""
    if not isinstance(request, Mapping):
        raise DataError("photometry request must be a JSON object")
    field_id = check_field_id(request.get("field_id"), "request.field_id")
    exposures = request.get("exposures")
    if not isinstance(exposures, list) or not exposures:
        raise DataError("request.exposures: a non-empty list of {bucket, key} is required")
    names: set[str] = set()
    clean = []
    for i, exp in enumerate(exposures):
        if not isinstance(exp, Mapping):
            raise DataError(f"request.exposures[{i}]: expected an object, got {exp!r}")
        bucket, key = exp.get("bucket"), exp.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise DataError(
                f"request.exposures[{i}]: 'bucket' and 'key' must be non-empty "
                f"strings, got {dict(exp)!r}"
            )
        name = Path(key).name
        if not name.endswith(".fits"):
            raise DataError(f"request.exposures[{i}]: {key!r} is not a .fits file")
        if name in names:
            raise DataError(f"request.exposures[{i}]: two exposures are named {name}")
        names.add(name)
        clean.append({"bucket": bucket, "key": key, "etag": str(exp.get("etag") or "")})
    options = request.get("options") or {}
    if not isinstance(options, Mapping):
        raise DataError(f"request.options: expected an object, got {options!r}")
    engine = options.get("engine", "auto")
    if engine not in ENGINES:
        raise DataError(f"request.options.engine: {engine!r} is not one of {ENGINES}")
    products_bucket = request.get("products_bucket")
    if products_bucket is not None and not (isinstance(products_bucket, str) and products_bucket):
        raise DataError(f"request.products_bucket: {products_bucket!r} is not a bucket name")
    preprocessed = request.get("preprocessed") or {}
    if not isinstance(preprocessed, Mapping) or not all(
        isinstance(v, Mapping)
        and isinstance(v.get("bucket"), str)
        and isinstance(v.get("key"), str)
        for v in preprocessed.values()
    ):
        raise DataError("request.preprocessed: expected {image file name: {bucket, key}}")
    branch = request.get("branch")
    if branch is not None:
        check_branch(branch, "request.branch")
    return {
        "field_id": field_id,
        "exposures": clean,
        "options": dict(options),
        "products_bucket": products_bucket,
        "job_id": request.get("job_id"),
        "branch": branch,
        "preprocessed": {str(k): dict(v) for k, v in preprocessed.items()},
    }


def request_fingerprint(req: Mapping[str, Any]) -> str:
    """What determines the products: inputs, preprocessing products and options.

    A rerun with the same fingerprint finds ``result.json`` (the job's
    :class:`~cloudphot.storage.Target`) complete and returns it without redoing the
    photometry (completed work is never redone).
    """
    basis = {
        "exposures": sorted((e["bucket"], e["key"], e.get("etag", "")) for e in req["exposures"]),
        "preprocessed": req.get("preprocessed") or {},
        "options": req.get("options") or {},
    }
    return fingerprint(basis)


def images_meta_from_fits(path: Path, dolphot_image: str) -> dict[str, Any]:
    """Metadata of one DOLPHOT chip image (``<root>.chip<N>``) from the original exposure.

    splitgroups writes chip N from the N-th science extension (EXTVER N), so its
    WCS, filter, MJD and exposure time come from that extension and the primary
    header of ``path``.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    m = re.search(r"\.chip(\d+)$", dolphot_image)
    chip = int(m.group(1)) if m else 1
    with fits.open(path) as hdul:
        primary = hdul[0].header
        try:
            sci = hdul["SCI", chip].header
        except KeyError:
            if chip != 1:
                raise DataError(
                    f"{path}: no SCI extension {chip} for DOLPHOT image {dolphot_image}"
                ) from None
            sci = hdul[1].header if len(hdul) > 1 else primary
        filt = primary.get("FILTER")
        if not filt:  # ACS: FILTER1/FILTER2, one of them CLEAR
            filt = next(
                (
                    str(primary.get(k))
                    for k in ("FILTER1", "FILTER2")
                    if primary.get(k) and not str(primary.get(k)).upper().startswith("CLEAR")
                ),
                None,
            )
        expstart, expend = primary.get("EXPSTART"), primary.get("EXPEND")
        mjd = (float(expstart) + float(expend)) / 2 if expstart and expend else None
        wcs = WCS(sci, hdul)
        shape = (int(sci.get("NAXIS2", 0)), int(sci.get("NAXIS1", 0)))
    return {
        "exposure_id": str(primary.get("ROOTNAME") or path.name.split("_")[0]).lower(),
        "image": path.name,
        "chip": chip,
        "filter": str(filt).upper() if filt else None,
        "mjd": mjd,
        "exptime": float(primary["EXPTIME"]) if "EXPTIME" in primary else None,
        "detector": f"{primary.get('INSTRUME', '')}/{primary.get('DETECTOR', '')}".strip(),
        "wcs": wcs,
        "shape": shape if all(shape) else None,
    }


def _run_dolphot_engine(
    inputs: list[Path],
    workdir: Path,
    field_id: str,
    options: Mapping[str, Any],
    prepared: Mapping[str, Path],
    checkpoint: Checkpoints,
):
    from .parse import phot_to_catalog, phot_to_measurements, read_phot
    from .runner import run_dolphot

    phot = run_dolphot(
        inputs,
        workdir,
        reference=None,
        options=options.get("dolphot") or {},
        timeout=options.get("dolphot_timeout_s"),
        stop_event=stop_requested,
        checkpoint=checkpoint,
    )
    table = read_phot(phot)
    by_root = {p.name[: -len(".fits")]: p for p in inputs}
    metas = []
    for info in table.meta["images"]:
        root = re.sub(r"\.chip\d+$", "", info["name"])
        if root not in by_root:
            raise DataError(f"{phot}: image {info['name']} is not one of the inputs")
        metas.append(images_meta_from_fits(by_root[root], info["name"]))
    measurements = phot_to_measurements(table, metas, field_id)
    catalog = phot_to_catalog(table, field_id, images_meta=metas, cuts=_photometry_options(options))
    return measurements, catalog, None


def _photometry_options(options: Mapping[str, Any]):
    """``options.photometry`` as :class:`cloudphot.photometry.PhotometryOptions`."""
    from ..photometry import PhotometryOptions

    given = options.get("photometry") or {}
    if not isinstance(given, Mapping):
        raise DataError(f"request.options.photometry: expected an object, got {given!r}")
    try:
        return PhotometryOptions(**given)
    except (TypeError, ValueError) as exc:
        raise DataError(f"request.options.photometry: {exc}") from exc


def _run_builtin_engine(
    inputs: list[Path],
    workdir: Path,
    field_id: str,
    options: Mapping[str, Any],
    prepared: Mapping[str, Path],
    checkpoint: Checkpoints,
):
    from ..photometry import reduce_field  # the built-in photutils engine

    reduction = reduce_field(
        inputs,
        workdir=workdir,
        options=_photometry_options(options),
        field_id=field_id,
        # the Lambda Map's masks and sky: the worker does not redo the prep stage
        preprocessed=prepared,
        checkpoint=checkpoint,
    )
    # what artificial star tests need of this reduction (cloudphot.asts.model)
    from ..asts.model import model_arrays, write_model
    from ..photometry.exposure import load_exposure

    if not hasattr(reduction, "psfs"):  # an engine without a model to save
        return reduction.measurements, reduction.catalog, None
    radius = max((p.grid.radius for p in reduction.psfs if p is not None), default=6)
    model = write_model(
        model_arrays(reduction, [load_exposure(p) for p in inputs], radius),
        workdir / "model.npz",
    )
    return reduction.measurements, reduction.catalog, model


def photometry_job(
    request: Mapping[str, Any], *, store: ObjectStore, settings: Settings | None = None
) -> dict[str, Any]:
    """Photometer one field and upload its products; return where they are.

    Returns
    -------
    dict
        ``field_id``, ``engine`` ("dolphot" or "builtin"), ``n_stars``,
        ``n_measurements`` and ``products``: ``{name: {"bucket", "key"}}`` for
        ``measurements`` and ``catalog`` (Parquet) and ``measurements_fits`` and
        ``catalog_fits``.
    """
    req = parse_request(request)
    settings = settings or Settings.from_env()
    field_id, options = req["field_id"], req["options"]
    bucket = req["products_bucket"] or settings.bucket("products")
    engine = options.get("engine", "auto")
    if engine == "auto":
        from .runner import dolphot_available

        engine = "dolphot" if dolphot_available() else "builtin"

    made_from = request_fingerprint(req)
    branch = req["branch"]
    done = Target(store, bucket, keys.field_product(field_id, "result.json", branch), made_from)
    if done.exists():
        return {**done.read_json(), "reused": True}

    scratch = os.environ.get("CLOUDPHOT_SCRATCH") or None
    with tempfile.TemporaryDirectory(prefix=f"cloudphot-{field_id}-", dir=scratch) as tmp:
        tmpdir = Path(tmp)
        inputs = []
        for exp in req["exposures"]:
            check_stop("download of the exposures")
            dest = tmpdir / "inputs" / Path(exp["key"]).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            inputs.append(Path(store.download(exp["bucket"], exp["key"], dest)))
        prepared = {}
        for image, obj in req["preprocessed"].items():
            dest = (
                tmpdir
                / "prep"
                / Path(obj["key"]).name.replace("prep", Path(image).stem + "_prep", 1)
            )
            dest.parent.mkdir(parents=True, exist_ok=True)
            prepared[image] = Path(store.download(obj["bucket"], obj["key"], dest))
        check_stop("photometry")
        from .. import __version__

        # stage results of this request (inputs, options) and this cloudphot version: a
        # retried task resumes after the last stage an interrupted one finished
        checkpoint = Checkpoints(
            store,
            bucket,
            lambda stage: keys.field_checkpoint(
                field_id, f"{made_from}-{__version__}", f"{engine}/{stage}", branch
            ),
        )
        run = _run_dolphot_engine if engine == "dolphot" else _run_builtin_engine
        measurements, catalog, model = run(
            inputs, tmpdir / engine, field_id, options, prepared, checkpoint
        )
        if len(catalog) == 0:
            raise NoStars(f"field {field_id}: no stars found in {len(inputs)} exposures")
        check_stop("upload of the products")
        # the catalog Parquet goes last: once it exists, the field's products are complete
        products = {
            "measurements_fits": keys.field_product(field_id, "measurements.fits", branch),
            "catalog_fits": keys.field_product(field_id, "catalog.fits", branch),
            "measurements": keys.field_measurements(field_id, branch),
            "catalog": keys.field_catalog(field_id, branch),
        }
        out = tmpdir / "out"
        out.mkdir()
        # what measured these rows: the catalog carries it into every phot_meas row
        provenance = {
            "job_id": req.get("job_id") or "",
            "pipeline_version": __version__,
            "engine": engine,
            "branch": branch or "",
            "task_options": json.dumps(options, sort_keys=True),
        }
        tables = {"measurements": measurements, "catalog": catalog}
        written = {}
        if model is not None:  # before the catalog: a complete field has its model
            key = keys.field_product(field_id, "model.npz", branch)
            store.put_file(bucket, key, model)
            written["model"] = {"bucket": bucket, "key": key}
        for name, key in products.items():
            table = tables[name.removesuffix("_fits")]
            local = out / Path(key).name if name in tables else out / f"{name}.fits"
            fmt = "parquet" if key.endswith(".parquet") else "fits"
            _write_table(table, local, fmt, provenance=provenance)
            store.put_file(bucket, key, local)
            written[name] = {"bucket": bucket, "key": key}
    result = {
        "field_id": field_id,
        "engine": engine,
        "n_stars": len(catalog),
        "n_measurements": len(measurements),
        "filters": sorted({str(f) for f in measurements["filter"]}) if len(measurements) else [],
        "products": written,
        "fingerprint": made_from,
        "job_id": req.get("job_id"),
        # stages an interrupted attempt had finished (resumed) and this one saved
        "checkpoints": {"resumed": checkpoint.resumed, "saved": len(checkpoint.saved)},
    }
    done.write_json(result)  # written last: complete means every product above is written
    return result


def _write_table(table, path: Path, fmt: str, provenance: dict | None = None) -> None:
    """Write without non-serialisable meta (WCS objects), with units FITS readers accept.

    The product contracts give count rates as ``e-/s``, which is neither a FITS
    nor an astropy unit, so every reader would warn. In FITS files they are
    written as ``ct / s`` (FITS-standard counts: electrons for flc/flt data);
    Parquet keeps the contract's text. Parquet files also carry ``provenance``
    (job, pipeline version, options) in their schema metadata under
    ``cloudphot.provenance``, where the catalog build reads it for phot_meas.
    """
    from astropy import units as u
    from astropy.table import Table

    plain = Table(table, copy=True)
    plain.meta = {
        k: v
        for k, v in table.meta.items()
        if isinstance(v, (str, int, float, bool)) and len(str(k)) <= 8
    }
    if fmt == "fits":
        for col in plain.itercols():
            if col.unit is not None and str(col.unit) == "e-/s":
                col.unit = u.count / u.s
    plain.write(path, format=fmt, overwrite=True)
    if fmt == "parquet" and provenance:
        import pyarrow.parquet as pq

        written = pq.read_table(path)
        meta = dict(written.schema.metadata or {})
        meta[b"cloudphot.provenance"] = json.dumps(provenance, sort_keys=True).encode()
        pq.write_table(written.replace_schema_metadata(meta), path)
