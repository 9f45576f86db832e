"""The run_asts state machine's steps: plan the chunks, run one chunk (ECS), summarize.

Objects (``fields/<field>/asts/<fingerprint>/``, the fingerprint of the field's
reduction and the AST options, so a change of either is a new set and a rerun the same):

``fakes.parquet``    every fake of the field (:func:`.engine.draw_fakes`)
``request.json``     what every chunk worker needs (exposures, products, options)
``chunks.json``      the chunk manifest the Distributed Map's ItemReader reads
``chunks/chunk-NNNNN.parquet``  one chunk's input vs output; its existence (with the
                     fingerprint in its metadata) is the proof the chunk is done, and a
                     rerun of the chunk returns it without redoing anything
``runs/``            the Map Run's ResultWriter files

and, next to the catalog, ``fields/<field>/ast.parquet`` (every fake's row) and
``completeness.parquet`` / ``completeness.json`` (:mod:`.completeness`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

from .. import validate
from ..errors import DataError, InvalidEvent, ObjectNotFound
from ..pipeline.steps import require
from ..products import check_branch, check_field_id, fingerprint, keys
from ..settings import Settings
from ..storage import ObjectStore, Target
from ..validate import integer, mapping
from .engine import AstOptions

__all__ = ["ast_chunk_job", "ast_options", "plan_asts", "summarize_asts"]


def ast_options(options: Mapping[str, Any] | None, where: str = "options.asts") -> AstOptions:
    """``options.asts`` as :class:`AstOptions`; InvalidEvent naming unknown or bad keys."""
    given = mapping((options or {}).get("asts"), where, optional=True)
    known = {f.name for f in dc_fields(AstOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidEvent(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")
    for k, v in given.items():
        want = type(getattr(AstOptions(), k))
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            continue
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise InvalidEvent(f"{where}.{k}: expected {want.__name__}, got {v!r}")
    try:
        return AstOptions(**given)
    except ValueError as exc:
        raise InvalidEvent(f"{where}: {exc}") from None


def _base(field_id: str, fp: str, branch: str | None) -> str:
    return keys.field_product(field_id, f"asts/{fp}/", branch)


def _get_json(store: ObjectStore, bucket: str, key: str, what: str) -> dict:
    try:
        doc = json.loads(store.get_bytes(bucket, key))
    except ObjectNotFound:
        raise InvalidEvent(f"{what} s3://{bucket}/{key} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"{what} s3://{bucket}/{key} is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{what} s3://{bucket}/{key} is not a JSON object")
    return doc


def _read_table(store: ObjectStore, bucket: str, key: str, what: str):
    from astropy.table import Table

    try:
        data = store.get_bytes(bucket, key)
    except ObjectNotFound:
        raise InvalidEvent(f"{what} s3://{bucket}/{key} is missing") from None
    try:
        return Table.read(io.BytesIO(data), format="parquet")
    except Exception as exc:
        raise DataError(f"{what} s3://{bucket}/{key} is not a Parquet table ({exc})") from None


def _write_table(store: ObjectStore, bucket: str, key: str, table) -> None:
    with tempfile.TemporaryDirectory(prefix="cloudphot-ast-") as tmp:
        path = Path(tmp) / Path(key).name
        table.write(path, format="parquet", overwrite=True)
        store.put_file(bucket, key, path)


def plan_asts(request: dict, svc) -> dict:
    """Draw the field's fakes and write them, the workers' request and the chunk manifest.

    Returns ``{"n_chunks": 0, "skipped": reason}`` when the survey opted out
    (``options.asts.enabled = false``), else where the manifest is, how many chunks and
    fakes, and the fingerprint. Deterministic: a rerun writes the same objects.
    """
    from ..pipeline import sizing
    from ..pipeline.reduce import RETRY_LIMITS, _field_pixels
    from .model import read_model

    request = mapping(request, "request")
    require(request, "job_id")
    field_id = validate.field_id(request)
    options = dict(mapping(request.get("options"), "options", optional=True))
    ast = ast_options(options)
    payload = mapping(request.get("reduced"), "reduced", optional=True)
    branch = payload.get("branch")
    if branch is not None:
        check_branch(branch, "reduced.branch")
    if not ast.enabled:
        return {"n_chunks": 0, "skipped": "options.asts.enabled is false for this survey"}
    bucket = svc.settings.bucket("products")
    field_req = _get_json(
        svc.objects, bucket, keys.field_product(field_id, "request.json", branch),
        "the field's photometry request",
    )  # fmt: skip
    result = _get_json(
        svc.objects, bucket, keys.field_product(field_id, "result.json", branch),
        "the field's photometry result",
    )  # fmt: skip
    if result.get("engine") != "builtin":
        raise InvalidEvent(
            f"field {field_id}: ASTs run with the built-in engine's model; this field was "
            f"reduced by {result.get('engine')!r} (DOLPHOT's own fake-star mode is not wired)"
        )
    model_key = keys.field_product(field_id, "model.npz", branch)
    try:
        model = read_model(svc.objects.get_bytes(bucket, model_key), f"s3://{bucket}/{model_key}")
    except ObjectNotFound:
        raise InvalidEvent(
            f"field {field_id}: no s3://{bucket}/{model_key}; the field was reduced before "
            "ASTs existed: rerun reduce_field"
        ) from None
    catalog = _read_table(svc.objects, bucket, keys.field_catalog(field_id, branch), "catalog")
    fp = fingerprint({"reduction": result.get("fingerprint"), "asts": ast.__dict__})[:16]
    base = _base(field_id, fp, branch)
    fakes_key = base + "fakes.parquet"
    fakes = None
    if not svc.objects.exists(bucket, fakes_key):
        from .engine import draw_fakes

        fakes = draw_fakes(catalog, model, ast)
        _write_table(svc.objects, bucket, fakes_key, fakes)
    estimate = sizing.estimate_field(_field_pixels(svc, field_id, field_req["exposures"]))
    size = sizing.fit_size(estimate.memory_mib)
    worker_request = {
        "job_id": request["job_id"],
        "field_id": field_id,
        "branch": branch,
        "fingerprint": fp,
        "exposures": field_req["exposures"],
        "preprocessed": field_req.get("preprocessed") or {},
        "photometry": (field_req.get("options") or {}).get("photometry") or {},
        "asts": ast.__dict__,
        "fakes": {"bucket": bucket, "key": fakes_key},
        "model": {"bucket": bucket, "key": model_key},
        "catalog": {"bucket": bucket, "key": keys.field_catalog(field_id, branch)},
        "products_bucket": bucket,
    }
    req_key = base + "request.json"
    svc.objects.put_bytes(
        bucket, req_key, json.dumps(worker_request, indent=1, sort_keys=True).encode(),
        content_type="application/json",
    )  # fmt: skip
    limits = {
        **RETRY_LIMITS,
        **mapping(options.get("retry_limits"), "options.retry_limits", optional=True),
    }
    plan = {
        "request": {"bucket": bucket, "key": req_key},
        "capacity_provider": "FARGATE" if options.get("on_demand") is True else "FARGATE_SPOT",
        **size.as_dict(),
        "timeout_seconds": 3600,
        "attempts": dict.fromkeys(("spot", "capacity", "quota", "transient", "memory"), 0),
        "limits": limits,
        "task_definition": request.get("task_definition"),
    }
    chunks = [
        {"chunk": i, "first": i * ast.chunk_size,
         "count": min(ast.chunk_size, ast.n_fakes - i * ast.chunk_size), "plan": plan}
        for i in range(ast.n_chunks)
    ]  # fmt: skip
    manifest_key = base + "chunks.json"
    svc.objects.put_bytes(
        bucket, manifest_key, json.dumps(chunks, sort_keys=True).encode(),
        content_type="application/json",
    )  # fmt: skip
    return {
        "n_chunks": len(chunks),
        "n_fakes": ast.n_fakes,
        "fingerprint": fp,
        "manifest": {"bucket": bucket, "key": manifest_key, "prefix": base + "runs"},
        "request": {"bucket": bucket, "key": req_key},
    }


def chunk_key(field_id: str, fp: str, chunk: int, branch: str | None = None) -> str:
    return _base(field_id, fp, branch) + f"chunks/chunk-{chunk:05d}.parquet"


def ast_chunk_job(
    request: Mapping[str, Any], *, store: ObjectStore, settings: Settings | None = None
) -> dict[str, Any]:
    """One chunk of fakes (the ASTs container's job): inject, measure, write its table.

    ``request`` is the plan's ``request.json`` plus ``chunk`` (its index); a chunk
    whose output exists (made from the same request) is returned as it is.
    """
    import time

    import numpy as np

    if not isinstance(request, Mapping):
        raise DataError("AST request must be a JSON object")
    field_id = check_field_id(request.get("field_id"), "request.field_id")
    branch = request.get("branch")
    if branch is not None:
        check_branch(branch, "request.branch")
    fp = request.get("fingerprint")
    if not isinstance(fp, str) or not fp.isalnum():
        raise DataError(f"request.fingerprint: {fp!r} is not a fingerprint")
    try:
        chunk = integer(dict(request), "chunk", "request", lo=0)
        ast = AstOptions(**mapping(request.get("asts"), "request.asts"))
    except (InvalidEvent, TypeError, ValueError) as exc:
        raise DataError(str(exc)) from None
    if chunk >= ast.n_chunks:
        raise DataError(f"request.chunk: {chunk} is beyond the {ast.n_chunks} chunks")
    first = chunk * ast.chunk_size
    count = min(ast.chunk_size, ast.n_fakes - first)
    bucket = request.get("products_bucket") or (settings or Settings.from_env()).bucket("products")
    made_from = fingerprint({"request": {k: v for k, v in request.items() if k != "job_id"}})
    out = Target(store, bucket, chunk_key(field_id, fp, chunk, branch), made_from)
    ref = {"bucket": bucket, "key": out.key}
    if out.exists():
        return {"field_id": field_id, "chunk": chunk, "n": count, "output": ref, "reused": True}

    from ..dolphot.job import _photometry_options
    from .engine import prepare_state, run_fakes
    from .model import read_model

    def obj(name: str) -> dict:
        v = request.get(name)
        if (
            not isinstance(v, Mapping)
            or not isinstance(v.get("bucket"), str)
            or not isinstance(v.get("key"), str)
        ):
            raise DataError(f"request.{name}: expected {{bucket, key}}")
        return dict(v)

    t0, c0 = time.perf_counter(), time.process_time()
    scratch = os.environ.get("CLOUDPHOT_SCRATCH") or None
    with tempfile.TemporaryDirectory(prefix=f"cloudphot-ast-{field_id}-", dir=scratch) as tmp:
        tmpdir = Path(tmp)
        exposures = request.get("exposures")
        if not isinstance(exposures, list) or not exposures:
            raise DataError("request.exposures: a non-empty list of {bucket, key} is required")
        paths = []
        for i, e in enumerate(exposures):
            if not isinstance(e, Mapping) or not isinstance(e.get("key"), str):
                raise DataError(f"request.exposures[{i}]: expected {{bucket, key}}")
            dest = tmpdir / "inputs" / Path(e["key"]).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            paths.append(Path(store.download(e["bucket"], e["key"], dest)))
        prepared = {}
        for image, o in (request.get("preprocessed") or {}).items():
            dest = tmpdir / "prep" / f"{Path(image).stem}_prep.fits"
            dest.parent.mkdir(parents=True, exist_ok=True)
            prepared[image] = Path(store.download(o["bucket"], o["key"], dest))
        m = obj("model")
        model = read_model(store.get_bytes(m["bucket"], m["key"]), f"s3://{m['bucket']}/{m['key']}")
        c, f = obj("catalog"), obj("fakes")
        catalog = _read_table(store, c["bucket"], c["key"], "catalog")
        fakes = _read_table(store, f["bucket"], f["key"], "fakes")[first : first + count]
        opt = _photometry_options({"photometry": request.get("photometry") or {}})
        state = prepare_state(paths, prepared, model, catalog, opt)
        table = run_fakes(state, fakes, ast, seed=ast.seed)
        table["chunk"] = np.full(len(table), chunk, np.int32)
        _write_table_target(out, table, tmpdir)
    cpu = time.process_time() - c0
    return {
        "field_id": field_id,
        "chunk": chunk,
        "n": count,
        "n_recovered": int(np.sum(table["recovered"])),
        "output": ref,
        "reused": False,
        "seconds": round(time.perf_counter() - t0, 3),
        "cpu_seconds": round(cpu, 3),
        "stage_seconds": {k: round(v, 3) for k, v in state.seconds.items()},
    }


def _write_table_target(target: Target, table, tmpdir: Path) -> None:
    path = tmpdir / "chunk.parquet"
    table.write(path, format="parquet", overwrite=True)
    target.write_file(path)


def summarize_asts(request: dict, svc) -> dict:
    """Every chunk's table into ``ast.parquet``, its completeness next to the catalog;
    the ``field.asts_done`` payload (chunks missing after the Map Run's tolerated
    failures are counted, not hidden)."""
    from astropy.table import vstack

    from .completeness import completeness_table, mag_at

    request = mapping(request, "request")
    field_id = validate.field_id(request)
    plan = mapping(request.get("plan"), "plan")
    bucket = svc.settings.bucket("products")
    wreq = _get_json(svc.objects, bucket, mapping(plan.get("request"), "plan.request")["key"],
                     "the AST request")  # fmt: skip
    branch, fp = wreq.get("branch"), str(wreq["fingerprint"])
    ast = AstOptions(**wreq["asts"])
    parts, missing = [], []
    for i in range(ast.n_chunks):
        key = chunk_key(field_id, fp, i, branch)
        if svc.objects.exists(bucket, key):
            parts.append(_read_table(svc.objects, bucket, key, f"AST chunk {i}"))
        else:
            missing.append(i)
    if not parts:
        raise DataError(f"field {field_id}: no AST chunk finished ({ast.n_chunks} planned)")
    table = vstack(parts, metadata_conflicts="silent")
    model_filters = [c[: -len("_in")].upper() for c in table.colnames if c.endswith("_in")]
    filters = [f for f in wreq.get("filters") or model_filters]
    comp = completeness_table(table, filters, field_id, ast.bin_mag)
    products = {
        "ast": keys.field_product(field_id, "ast.parquet", branch),
        "completeness": keys.field_product(field_id, "completeness.parquet", branch),
        "completeness_json": keys.field_product(field_id, "completeness.json", branch),
    }
    _write_table(svc.objects, bucket, products["ast"], table)
    _write_table(svc.objects, bucket, products["completeness"], comp)
    mag50 = {f: mag_at(comp, f, 0.5) for f in filters}
    summary = {
        "field_id": field_id,
        "fingerprint": fp,
        "n_fakes": len(table),
        "n_recovered": int(sum(bool(v) for v in table["recovered"])),
        "n_chunks": ast.n_chunks,
        "chunks_missing": missing,
        "mag50": {f: (round(v, 3) if v == v else None) for f, v in mag50.items()},
        "products": {k: {"bucket": bucket, "key": v} for k, v in products.items()},
    }
    if branch:
        summary["branch"] = branch
    svc.objects.put_bytes(
        bucket, products["completeness_json"],
        json.dumps({**summary, "rows": [dict(zip(comp.colnames, map(_plain, r))) for r in comp]},
                   indent=1).encode(),
        content_type="application/json",
    )  # fmt: skip
    return summary


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, float) and v != v:
        return None
    return v


def _instruments(store: ObjectStore, exposures: list) -> list[str]:
    """``INSTRUME/DETECTOR`` of the field's exposures, from their primary headers only."""
    from astropy.io import fits

    found = []
    for e in exposures[:50]:
        try:
            head = store.get_range(e["bucket"], e["key"], 0, 2880 * 12)
            h = fits.Header.fromstring(head.split(b"END" + b" " * 77)[0] + b"END" + b" " * 77)
        except Exception:  # an unreadable header names no instrument; the file is the same
            continue
        inst = str(h.get("INSTRUME", "")).strip()
        det = str(h.get("DETECTOR", "")).strip()
        if inst:
            found.append(f"{inst}/{det}" if det else inst)
    return list(dict.fromkeys(found)) or ["unknown"]


def field_products_job(
    request: Mapping[str, Any], *, store: ObjectStore, settings: Settings | None = None
) -> dict[str, Any]:
    """A reduced field's archive files (HLSP ``st``/``gst`` and, after ASTs, ``ast``),
    its diagnostic plots, per-filter mosaics with weight maps and a colour image, written
    under ``fields/<field>/hlsp/``, ``plots/`` and ``mosaics/``."""
    from .hlsp import hlsp_name, st_gst_tables, write_hlsp
    from .plots import field_plots

    if not isinstance(request, Mapping):
        raise DataError("field products request must be a JSON object")
    settings = settings or Settings.from_env()
    field_id = check_field_id(request.get("field_id"), "request.field_id")
    branch = request.get("branch")
    if branch is not None:
        check_branch(branch, "request.branch")
    bucket = settings.bucket("products")
    catalog = _read_table(store, bucket, keys.field_catalog(field_id, branch), "catalog")
    filters = [c[: -len("_vega")].upper() for c in catalog.colnames if c.endswith("_vega")]
    field_req = _get_json(
        store, bucket, keys.field_product(field_id, "request.json", branch),
        "the field's photometry request",
    )  # fmt: skip
    instruments = _instruments(store, field_req.get("exposures") or [])
    survey, version = settings.survey, 1
    written: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix=f"cloudphot-products-{field_id}-") as tmp:
        tmpdir = Path(tmp)
        tables = st_gst_tables(catalog, filters)
        comp = None
        ast_key = keys.field_product(field_id, "ast.parquet", branch)
        if store.exists(bucket, ast_key):
            tables["ast"] = _read_table(store, bucket, ast_key, "AST table")
            comp = _read_table(
                store, bucket, keys.field_product(field_id, "completeness.parquet", branch),
                "completeness table",
            )  # fmt: skip
        for kind, table in tables.items():
            name = hlsp_name(survey, instruments, field_id, filters, version, kind)
            path = write_hlsp(
                table, tmpdir / name, kind=kind, survey=survey, target=field_id,
                instruments=instruments, filters=filters, version=version,
            )  # fmt: skip
            key = keys.field_product(field_id, f"hlsp/{name}", branch)
            store.put_file(bucket, key, path)
            written[f"hlsp_{kind}"] = {"bucket": bucket, "key": key}
        plots = field_plots(catalog, filters, tmpdir / "plots", field_id=field_id,
                            completeness=comp)  # fmt: skip
        written.update(_mosaics(store, bucket, field_id, branch, field_req, tmpdir))
        for name, path in plots.items():
            key = keys.field_product(field_id, f"plots/{path.name}", branch)
            store.put_file(bucket, key, path)
            written[f"plot_{name}"] = {"bucket": bucket, "key": key}
    return {"field_id": field_id, "products": written}


def _mosaics(store: ObjectStore, bucket: str, field_id: str, branch, field_req: dict, tmpdir: Path):
    """The field's per-filter mosaics and colour image, when its model was saved."""
    from .model import read_model
    from .mosaic import build_mosaics, colour_image

    model_key = keys.field_product(field_id, "model.npz", branch)
    if not store.exists(bucket, model_key):
        return {}
    model = read_model(store.get_bytes(bucket, model_key), f"s3://{bucket}/{model_key}")
    paths, prepared = [], {}
    for e in field_req.get("exposures") or []:
        dest = tmpdir / "inputs" / Path(e["key"]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        paths.append(Path(store.download(e["bucket"], e["key"], dest)))
    for image, o in (field_req.get("preprocessed") or {}).items():
        dest = tmpdir / "prep" / f"{Path(image).stem}_prep.fits"
        dest.parent.mkdir(parents=True, exist_ok=True)
        prepared[image] = Path(store.download(o["bucket"], o["key"], dest))
    mosaics = build_mosaics(paths, prepared, model, tmpdir / "mosaics")
    colour = colour_image(mosaics, tmpdir / "mosaics" / "colour.png")
    written = {}
    for f, path in mosaics.items():
        key = keys.field_product(field_id, f"mosaics/{path.name}", branch)
        store.put_file(bucket, key, path)
        written[f"mosaic_{f.lower()}"] = {"bucket": bucket, "key": key}
    if colour is not None:
        key = keys.field_product(field_id, "mosaics/colour.png", branch)
        store.put_file(bucket, key, colour)
        written["colour"] = {"bucket": bucket, "key": key}
    return written
