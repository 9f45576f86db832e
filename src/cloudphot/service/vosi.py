"""VOSI documents (capabilities, availability, tables), built with ``vo-models``.

vo-models (the pydantic-xml models of the IVOA schemas that Rubin's services use)
writes the XML, so element names, namespaces and ``xsi:type`` come from the schemas'
own transcription rather than from string templates here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import AnyUrl
from vo_models.tapregext.models import (
    DataLimit,
    DataLimits,
    Language,
    LanguageFeature,
    LanguageFeatureList,
    OutputFormat,
    TableAccess,
    TimeLimits,
    UploadMethod,
    Version,
)
from vo_models.vodataservice.models import (
    DataType,
    FKColumn,
    ForeignKey,
    ParamHTTP,
    TableParam,
    TableSchema,
)
from vo_models.voresource.models import AccessURL, Capability
from vo_models.vosi.availability.models import Availability
from vo_models.vosi.capabilities.models import VOSICapabilities
from vo_models.vosi.tables.models import VOSITable, VOSITableSet

from .queries import Limits
from .tap_schema import TableMeta, adql_name, all_tables, foreign_keys

__all__ = ["availability_xml", "capabilities_xml", "table_xml", "tables_xml"]

_GEOMETRY = ("POINT", "CIRCLE", "BOX", "POLYGON", "CONTAINS", "INTERSECTS", "DISTANCE")
_GEO_FEATURES = [*_GEOMETRY, "COORD1", "COORD2", "COORDSYS"]
_OUTPUTS = [
    ("application/x-votable+xml", ["votable", "votable/b2"], "output-votable-binary2"),
    ("application/x-votable+xml;serialization=TABLEDATA", ["votable/td"], "output-votable-td"),
    ("text/csv", ["csv"], None),
    ("application/fits", ["fits"], None),
    ("application/vnd.apache.parquet", ["parquet"], None),
]


def _xml(model) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + model.to_xml(
        pretty_print=True, encoding="UTF-8", skip_empty=True
    )


def _http(url: str, use: Literal["full", "base", "dir"] = "full", **kw) -> ParamHTTP:
    return ParamHTTP(access_url=[AccessURL(value=AnyUrl(url), use=use)], **kw)


def _vosi(base: str, what: str, std: str) -> Capability:
    return Capability(
        standard_id=AnyUrl(f"ivo://ivoa.net/std/VOSI#{std}"), interface=[_http(f"{base}/{what}")]
    )


def capabilities_xml(
    base: str,
    limits: Limits,
    *,
    upload: bool = True,
    has_async: bool = True,
    extra: Iterable[Capability] = (),
) -> bytes:
    """The TAP service's capabilities (``base`` is the absolute URL of ``/tap``).

    ``executionDuration`` is the async limit when there is an async job list, else the
    sync one; uploads are inline (``param:``) or by http(s) URL, which the service
    fetches only from public addresses (:func:`.uploads.fetch_url`).
    """
    duration = limits.async_timeout_s if has_async else limits.sync_timeout_s
    adql_versions = [
        Version(value="2.0", ivo_id="ivo://ivoa.net/std/ADQL#v2.0"),
        Version(value="2.1", ivo_id="ivo://ivoa.net/std/ADQL#v2.1"),
    ]
    geo = LanguageFeatureList(
        type="ivo://ivoa.net/std/TAPRegExt#features-adqlgeo",
        feature=[LanguageFeature(form=f) for f in _GEO_FEATURES],
    )
    adql21 = LanguageFeatureList(
        type="ivo://ivoa.net/std/TAPRegExt#features-adql-sets",
        feature=[LanguageFeature(form=f) for f in ("UNION", "EXCEPT", "INTERSECT")],
    )
    offset = LanguageFeatureList(
        type="ivo://ivoa.net/std/TAPRegExt#features-adql-offset",
        feature=[LanguageFeature(form="OFFSET")],
    )
    languages = [
        Language(
            name="ADQL",
            version=adql_versions,
            description="ADQL 2.0/2.1, checked and translated to the catalog's SQL",
            language_features=[geo, adql21, offset],
        ),
        Language(
            name="SQL",
            version=[Version(value="PostgreSQL")],
            description="PostgreSQL as Astro Data Lab users write it, with the Q3C functions "
            "q3c_radial_query, q3c_dist and q3c_join",
            language_features=[],
        ),
    ]
    rows = limits.async_max_rows
    tap = TableAccess(
        interface=[_http(base, "base", role="std", version="1.1")],
        language=languages,
        output_format=[
            OutputFormat(mime=m, alias=a, ivo_id=f"ivo://ivoa.net/std/TAPRegExt#{i}" if i else None)
            for m, a, i in _OUTPUTS
        ],
        upload_method=(
            [
                UploadMethod(ivo_id="ivo://ivoa.net/std/TAPRegExt#upload-inline"),
                UploadMethod(ivo_id="ivo://ivoa.net/std/TAPRegExt#upload-http"),
                UploadMethod(ivo_id="ivo://ivoa.net/std/TAPRegExt#upload-https"),
            ]
            if upload
            else []
        ),
        retention_period=TimeLimits(default=7 * 86400, hard=30 * 86400),
        execution_duration=TimeLimits(default=int(duration), hard=int(duration)),
        output_limit=DataLimits(
            default=DataLimit(value=limits.default_maxrec, unit="row"),
            hard=DataLimit(value=rows, unit="row"),
        ),
        upload_limit=(
            DataLimits(hard=DataLimit(value=limits.max_upload_bytes, unit="byte"))
            if upload
            else None
        ),
    )
    caps = VOSICapabilities(
        capability=[
            tap,
            _vosi(base, "capabilities", "capabilities"),
            _vosi(base, "availability", "availability"),
            _vosi(base, "tables", "tables-1.1"),
            *extra,
        ]
    )
    return _xml(caps)


def availability_xml(available: bool, up_since: datetime, note: str) -> bytes:
    return _xml(Availability(available=available, up_since=up_since.astimezone(UTC), note=[note]))


def _table(t: TableMeta, survey: str, detail: bool = True) -> VOSITable:
    cols = []
    if detail:
        for c in t.columns:
            flags = ["indexed"] if c.indexed else []
            cols.append(
                TableParam(
                    column_name=adql_name(c.name),
                    description=c.description or None,
                    unit=c.unit or None,
                    ucd=c.ucd,
                    datatype=DataType(
                        value=c.datatype, arraysize=c.arraysize, type="vs:VOTableType"
                    ),
                    flag=flags,
                )
            )
    fks = []
    if detail:
        for k in foreign_keys(survey):
            if k.from_table == t.name:
                fks.append(
                    ForeignKey(
                        target_table=k.target_table,
                        fk_column=[
                            FKColumn(from_column=k.from_column, target_column=k.target_column)
                        ],
                        description=k.description,
                    )
                )
    return VOSITable(
        table_name=t.name,
        table_type=t.table_type,
        description=t.description,
        column=cols,
        foreign_key=fks,
    )


def tables_xml(survey: str, extra: Iterable[TableMeta] = (), *, detail: bool = True) -> bytes:
    """The VOSI tableset; ``detail=False`` lists tables without columns (``?detail=min``)."""
    schemas: dict[str, list[TableMeta]] = {}
    for t in [*all_tables(survey), *extra]:
        schemas.setdefault(t.schema, []).append(t)
    return _xml(
        VOSITableSet(
            tableset_schema=[
                TableSchema(schema_name=s, table=[_table(t, survey, detail) for t in ts])
                for s, ts in schemas.items()
            ]
        )
    )


def table_xml(t: TableMeta, survey: str) -> bytes:
    """One table's VOSI document (``/tables/<name>``)."""
    return _xml(_table(t, survey))
