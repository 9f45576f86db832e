"""Simple Cone Search (``/scs``), SIA v2 (``/sia``), SODA-style cutouts (``/cutout``) and
image downloads (``/images/<obs_id>``).

Cone searches are catalog queries through the same query service as TAP (checked
SQL, warm engines, limits). SIA answers from the images the pipeline registered
(:mod:`.images`) with ObsCore-named columns, and every record's ``access_url`` is the
whole file while a SODA service descriptor in the response tells clients (pyvo's
datalink, TOPCAT) how to ask ``/cutout`` for a piece of it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import anyio
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import DataError, QueryRefused
from ..storage.objects import ObjectStore
from . import formats
from .images import ImageRecord, cutout_fits, overlaps_circle
from .params import Params, read_params
from .queries import QueryService
from .tap import error_response
from .tap_schema import ColumnMeta

__all__ = ["DalEndpoints", "ImageIndex"]

#: SCS 1.03 asks for these UCD1 names on the id and position columns
_SCS_UCD = {"objid": "ID_MAIN", "ra": "POS_EQ_RA_MAIN", "dec": "POS_EQ_DEC_MAIN"}
_SCS_VERB = {
    1: "objid, ra, dec",
    2: "objid, ra, dec, f475w_vega, f475w_err, f814w_vega, f814w_err, f814w_f475w, nmeas",
    3: "*",
}


def _m(name, dt, ucd, unit="", desc="", size=None):
    return name, ColumnMeta(name, dt, size, unit, ucd, desc)


#: ObsCore columns of SIA v2 records (name -> metadata)
OBSCORE = dict(
    [
        _m("dataproduct_type", "char", "meta.code.class", size="*"),
        _m("calib_level", "int", "meta.code;obs.calib"),
        _m("obs_collection", "char", "meta.id", size="*"),
        _m("obs_id", "char", "meta.id", size="*"),
        _m("obs_publisher_did", "char", "meta.ref.ivoid", size="*"),
        _m("access_url", "char", "meta.ref.url", size="*"),
        _m("access_format", "char", "meta.code.mime", size="*"),
        _m("access_estsize", "long", "phys.size;meta.file", "kbyte"),
        _m("target_name", "char", "meta.id;src", size="*"),
        _m("s_ra", "double", "pos.eq.ra", "deg"),
        _m("s_dec", "double", "pos.eq.dec", "deg"),
        _m("s_fov", "double", "phys.angSize;instr.fov", "deg"),
        _m("s_region", "char", "pos.outline;obs.field", size="*"),
        _m("t_min", "double", "time.start;obs.exposure", "d"),
        _m("t_max", "double", "time.end;obs.exposure", "d"),
        _m("t_exptime", "double", "time.duration;obs.exposure", "s"),
        _m("em_min", "double", "em.wl;stat.min", "m"),
        _m("em_max", "double", "em.wl;stat.max", "m"),
        _m("o_ucd", "char", "meta.ucd", size="*"),
        _m("facility_name", "char", "meta.id;instr.tel", size="*"),
        _m("instrument_name", "char", "meta.id;instr", size="*"),
        _m("filter", "char", "meta.id;instr.filter", size="*"),
        _m("field_id", "char", "meta.id;obs.field", size="*"),
    ]
)

DID_PREFIX = "ivo://cloudphot/image?"


class ImageIndex:
    """The images SIA offers, re-read from the exposures table at most every ``ttl_s``."""

    def __init__(self, load: Callable[[], list[ImageRecord]], ttl_s: float = 10.0):
        self._load, self._ttl = load, ttl_s
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, ImageRecord]] = (-math.inf, {})

    def all(self) -> dict[str, ImageRecord]:
        with self._lock:
            stamp, images = self._cache
            if time.monotonic() - stamp > self._ttl:
                images = {r.obs_id: r for r in self._load()}
                self._cache = (time.monotonic(), images)
            return images

    def get(self, ident: str) -> ImageRecord:
        obs_id = ident[len(DID_PREFIX) :] if ident.startswith(DID_PREFIX) else ident
        rec = self.all().get(obs_id)
        if rec is None:
            raise QueryRefused(f"ID={ident!r}: no such image; find images with /sia?POS=...")
        return rec


def _interval(p: Params, name: str) -> list[tuple[float, float]]:
    out = []
    for raw in p.all(name):
        parts = raw.split()
        try:
            vals = [float(x.replace("+Inf", "inf").replace("-Inf", "-inf")) for x in parts]
        except ValueError:
            raise QueryRefused(f"{name}={raw!r}: give two numbers 'low high'") from None
        if len(vals) == 1:
            vals = vals * 2
        if len(vals) != 2 or vals[0] > vals[1]:
            raise QueryRefused(f"{name}={raw!r}: give an interval 'low high' with low <= high")
        out.append((vals[0], vals[1]))
    return out


def _circles(p: Params, name: str = "POS") -> list[tuple[float, float, float]]:
    out = []
    for raw in p.all(name):
        parts = raw.split()
        shape = parts[0].upper() if parts else ""
        try:
            nums = [float(x) for x in parts[1:]]
        except ValueError:
            raise QueryRefused(f"{name}={raw!r}: the shape's values must be numbers") from None
        if shape == "CIRCLE" and len(nums) == 3:
            out.append((nums[0] % 360, nums[1], nums[2]))
        elif shape == "RANGE" and len(nums) == 4:
            ra0, ra1, de0, de1 = nums
            ra0, ra1 = max(ra0, 0.0), min(ra1, 360.0)
            de0, de1 = max(de0, -90.0), min(de1, 90.0)
            c = ((ra0 + ra1) / 2, (de0 + de1) / 2)
            r = max(
                math.degrees(math.acos(max(-1, min(1, _cos_sep(c, (a, d))))))
                for a in (ra0, ra1)
                for d in (de0, de1)
            )
            out.append((c[0], c[1], r))
        elif shape == "POLYGON" and len(nums) >= 6 and len(nums) % 2 == 0:
            pts = list(zip(nums[::2], nums[1::2]))
            c = (sum(a for a, _ in pts) / len(pts), sum(d for _, d in pts) / len(pts))
            r = max(math.degrees(math.acos(max(-1, min(1, _cos_sep(c, q))))) for q in pts)
            out.append((c[0], c[1], r))
        else:
            raise QueryRefused(
                f"{name}={raw!r}: use CIRCLE ra dec radius, RANGE ra1 ra2 dec1 dec2 or "
                f"POLYGON ra1 dec1 ra2 dec2 ra3 dec3 ... (degrees)"
            )
        if not -90 <= out[-1][1] <= 90 or not 0 <= out[-1][2] <= 180:
            raise QueryRefused(f"{name}={raw!r}: position or size out of range")
    return out


def _cos_sep(a, b) -> float:
    a0, d0, a1, d1 = map(math.radians, (*a, *b))
    return math.sin(d0) * math.sin(d1) + math.cos(d0) * math.cos(d1) * math.cos(a0 - a1)


def _scs_error(message: str) -> Response:
    """SCS 1.03 error document: an INFO named Error (and the DALI QUERY_STATUS too)."""
    body = formats.error_votable(message).replace(
        b"</RESOURCE>",
        b'  <INFO name="Error" value="error">' + _xml_text(message) + b"</INFO>\n </RESOURCE>",
    )
    return Response(body, media_type=formats.VOTABLE_MIME)


def _xml_text(s: str) -> bytes:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


class DalEndpoints:
    """``/scs``, ``/sia``, ``/cutout``, ``/images/{obs_id}``."""

    def __init__(
        self,
        queries: QueryService,
        images: ImageIndex,
        objects: ObjectStore,
        *,
        max_sr_deg: float = 1.0,
    ):
        self.queries, self.images, self.objects = queries, images, objects
        self.max_sr_deg = max_sr_deg

    def routes(self) -> list[Route]:
        return [
            Route("/scs", self.scs, methods=["GET", "POST"]),
            Route("/sia", self.sia, methods=["GET", "POST"]),
            Route("/sia/query", self.sia, methods=["GET", "POST"]),
            Route("/cutout", self.cutout, methods=["GET", "POST"]),
            Route("/images/{obs_id}", self.image, methods=["GET"]),
        ]

    def _root(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # ------------------------------------------------------------------ SCS
    async def scs(self, request: Request) -> Response:
        try:
            p = await read_params(request)
            ra, dec, sr = p.float("RA"), p.float("DEC"), p.float("SR")
            if ra is None or dec is None or sr is None:
                return _scs_error("RA, DEC and SR (degrees) are required")
            if not -90 <= dec <= 90 or not 0 <= sr <= self.max_sr_deg:
                return _scs_error(
                    f"DEC must be in [-90, 90] and SR in [0, {self.max_sr_deg}] degrees; "
                    f"larger areas: TAP (/tap)"
                )
            verb = p.int("VERB", 2)
            cols = _SCS_VERB.get(verb or 2, _SCS_VERB[2])
            ra = ra % 360
            sql = (
                f"SELECT {cols}, q3c_dist(ra, dec, {ra!r}, {dec!r}) AS dist_deg FROM "
                f"{self.queries.survey}.phot_mod WHERE q3c_radial_query(ra, dec, {ra!r}, "
                f"{dec!r}, {sr!r}) ORDER BY dist_deg"
            )
            result = await anyio.to_thread.run_sync(
                lambda: self.queries.execute(sql, "SQL", maxrec=p.int("MAXREC"))
            )
            meta = dict(result.meta)
            for name, ucd in _SCS_UCD.items():
                if name in meta:
                    m = meta[name]
                    meta[name] = ColumnMeta(
                        m.name, m.datatype, m.arraysize, m.unit, ucd, m.description
                    )
            meta["dist_deg"] = ColumnMeta(
                "dist_deg", "double", None, "deg", "pos.angDistance", "distance from (RA, DEC)"
            )
            body = formats.votable_bytes(result.table, meta, overflow=result.overflow)
            return Response(body, media_type=formats.VOTABLE_MIME)
        except (QueryRefused, DataError) as exc:
            return _scs_error(str(exc))
        except Exception as exc:
            return error_response(exc)

    # ------------------------------------------------------------------ SIA v2
    def _sia_rows(self, request: Request, p: Params) -> pa.Table:
        circles = _circles(p)
        bands = _interval(p, "BAND")
        times = _interval(p, "TIME")
        exptimes = _interval(p, "EXPTIME")
        ids = {i for i in p.all("ID")}
        insts = {i.upper() for i in p.all("INSTRUMENT")}
        colls = set(p.all("COLLECTION"))
        dptypes = {d.lower() for d in p.all("DPTYPE")}
        calibs = {int(c) for c in p.all("CALIB") if c.strip().isdigit()}
        root = self._root(request)
        rows = []
        for rec in sorted(self.images.all().values(), key=lambda r: r.t_min):
            if circles and not any(overlaps_circle(rec.footprint, *c) for c in circles):
                continue
            band = rec.band
            if bands and (
                band is None or not any(lo <= band[1] and band[0] <= hi for lo, hi in bands)
            ):
                continue
            if times and not any(lo <= rec.t_max and rec.t_min <= hi for lo, hi in times):
                continue
            if exptimes and not any(lo <= rec.exptime <= hi for lo, hi in exptimes):
                continue
            did = DID_PREFIX + rec.obs_id
            if ids and rec.obs_id not in ids and did not in ids:
                continue
            if insts and not any(i in rec.instrument.upper() for i in insts):
                continue
            if colls and rec.collection not in colls:
                continue
            if dptypes and rec.dataproduct_type not in dptypes:
                continue
            if calibs and rec.calib_level not in calibs:
                continue
            c = rec.centre
            try:
                size = self.objects.head(rec.bucket, rec.key).size
            except Exception:
                size = 0
            region = "POLYGON ICRS " + " ".join(f"{a:.7f} {d:.7f}" for a, d in rec.footprint)
            rows.append(
                {
                    "dataproduct_type": rec.dataproduct_type,
                    "calib_level": rec.calib_level,
                    "obs_collection": rec.collection,
                    "obs_id": rec.obs_id,
                    "obs_publisher_did": did,
                    "access_url": f"{root}/images/{rec.obs_id}",
                    "access_format": "application/fits",
                    "access_estsize": -(-size // 1024),
                    "target_name": rec.target,
                    "s_ra": c[0],
                    "s_dec": c[1],
                    "s_fov": rec.fov_deg,
                    "s_region": region,
                    "t_min": rec.t_min,
                    "t_max": rec.t_max,
                    "t_exptime": rec.exptime,
                    "em_min": band[0] if band else None,
                    "em_max": band[1] if band else None,
                    "o_ucd": "phot.count",
                    "facility_name": "HST",
                    "instrument_name": rec.instrument,
                    "filter": rec.filter,
                    "field_id": rec.field_id,
                }
            )
        schema = pa.schema(
            [
                pa.field(
                    n,
                    {
                        "char": pa.string(),
                        "int": pa.int32(),
                        "long": pa.int64(),
                        "double": pa.float64(),
                    }[m.datatype],
                )
                for n, m in OBSCORE.items()
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    async def sia(self, request: Request) -> Response:
        try:
            p = await read_params(request)
            maxrec = p.int("MAXREC")
            table = await anyio.to_thread.run_sync(lambda: self._sia_rows(request, p))
            overflow = maxrec is not None and table.num_rows > maxrec
            if maxrec is not None:
                table = table.slice(0, maxrec)
            body = formats.votable_bytes(table, OBSCORE, overflow=overflow)
            body = body.replace(b"</VOTABLE>", self._soda_descriptor(request) + b"</VOTABLE>")
            return Response(body, media_type=formats.VOTABLE_MIME)
        except Exception as exc:
            return error_response(exc)

    def _soda_descriptor(self, request: Request) -> bytes:
        """The DataLink service descriptor that points clients at /cutout for each record."""
        url = _xml_text(f"{self._root(request)}/cutout")
        return (
            b' <RESOURCE ID="soda" type="meta" utype="adhoc:service">\n'
            b'  <PARAM arraysize="*" datatype="char" name="standardID" value="ivo://ivoa.net/std/SODA#sync-1.0"/>\n'
            b'  <PARAM arraysize="*" datatype="char" name="accessURL" value="' + url + b'"/>\n'
            b'  <GROUP name="inputParams">\n'
            b'   <PARAM arraysize="*" datatype="char" name="ID" ref="obs_publisher_did" ucd="meta.ref.ivoid" value=""/>\n'
            b'   <PARAM arraysize="3" datatype="double" name="CIRCLE" ucd="obs.field" unit="deg" value="" xtype="circle"/>\n'
            b"  </GROUP>\n"
            b" </RESOURCE>\n"
        )

    # ------------------------------------------------------------------ cutouts
    async def cutout(self, request: Request) -> Response:
        try:
            p = await read_params(request)
            ident = p.get("ID")
            if not ident:
                raise QueryRefused("ID is required (an obs_publisher_did or obs_id from /sia)")
            circle = p.get("CIRCLE")
            if circle:
                vals = circle.split()
                try:
                    ra, dec, r = (float(v) for v in vals)
                except ValueError:
                    raise QueryRefused(
                        f"CIRCLE={p.get('CIRCLE')!r}: give 'ra dec radius' in degrees"
                    ) from None
            elif p.get("POS"):
                ra, dec, r = _circles(p, "POS")[0]
            else:
                raise QueryRefused(
                    "give CIRCLE=ra dec radius (degrees) or POS=CIRCLE ra dec radius"
                )
            rec = self.images.get(ident)
            body = await anyio.to_thread.run_sync(
                lambda: cutout_fits(self.objects, rec.bucket, rec.key, ra % 360, dec, r)
            )
            return Response(
                body,
                media_type="application/fits",
                headers={"Content-Disposition": f'attachment; filename="{rec.obs_id}_cutout.fits"'},
            )
        except Exception as exc:
            return error_response(exc)

    async def image(self, request: Request) -> Response:
        try:
            rec = self.images.get(request.path_params["obs_id"])
            url = getattr(self.objects, "presigned_url", None)
            if url is not None:
                return RedirectResponse(url(rec.bucket, rec.key), status_code=303)
            body = await anyio.to_thread.run_sync(
                lambda: self.objects.get_bytes(rec.bucket, rec.key)
            )
            return Response(
                body,
                media_type="application/fits",
                headers={
                    "Content-Disposition": f'attachment; filename="{rec.key.rsplit("/", 1)[-1]}"'
                },
            )
        except QueryRefused as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        except Exception as exc:
            return error_response(exc)
