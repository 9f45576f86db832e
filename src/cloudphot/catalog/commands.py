"""CLI commands of the photometry database: query, cone, lightcurve, map, catalog.

The lead's ``cli.py`` calls :func:`add_commands` with its subparsers; each command
sets ``func`` to a callable ``(args) -> exit code`` (0 ok, 2 refused or bad input,
1 other cloudphot errors). The workspace comes from ``args.workdir``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from ..errors import CloudphotError, ConfigError, DataError

__all__ = ["add_commands", "main", "parse_angle_deg", "parse_radius_arcsec"]

FORMATS = ("table", "csv", "votable", "fits")
#: what 'cone' shows on a terminal by default (every column with --columns '*', and in
#: csv/votable/fits): phot_mod has 94 columns, which no terminal shows
CONE_COLUMNS = {
    "phot_mod": "objid, ra, dec, f475w_vega, f475w_err, f814w_vega, f814w_err, nmeas",
    "phot_meas": "objid, ra, dec, mjd, filter, vega, err, snr, exposure_id",
    "phot_visit": "objid, ra, dec, filter, visit_id, nexp, mjd, vega, err",
    "phot_pm": "objid, ra, dec, pm_ra_cosdec, pm_ra_cosdec_err, pm_dec, pm_dec_err, pm_nvisit",
    "phot_var": "objid, ra, dec, filter, var_nepoch, var_mean, var_amp, var_period",
}
#: arcseconds per unit of the radius spellings read without astropy (a one-shot command
#: should not pay astropy's import for "2arcsec"); anything else goes to astropy.units
_RADIUS_UNITS = {
    "": 3600.0,
    "deg": 3600.0,
    "d": 3600.0,
    "arcmin": 60.0,
    "amin": 60.0,
    "'": 60.0,
    "arcsec": 1.0,
    "asec": 1.0,
    '"': 1.0,
    "mas": 1e-3,
}
_NUMBER_UNIT = re.compile(
    r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf(?:inity)?)\s*(\S*)\s*",
    re.IGNORECASE,
)


def parse_radius_arcsec(text: str) -> float:
    """'2arcsec', '1 arcmin', '0.01deg' or a bare number in degrees (astropy conventions)."""
    m = _NUMBER_UNIT.fullmatch(text)
    if m and m.group(2).lower() in _RADIUS_UNITS:
        r = float(m.group(1)) * _RADIUS_UNITS[m.group(2).lower()]
    else:
        import astropy.units as u

        try:
            q = u.Quantity(text)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"radius {text!r} is not a number with an angle unit (e.g. 2arcsec, 1arcmin, "
                f"0.01deg)"
            ) from exc
        if q.unit == u.dimensionless_unscaled:
            q = q.value * u.deg
        try:
            r = float(q.to_value(u.arcsec))
        except u.UnitConversionError as exc:
            raise DataError(f"radius {text!r} is not an angle") from exc
    if not 0 < r <= 180 * 3600:
        raise DataError(
            f"radius {text!r} must be a positive, finite angle of at most 180 degrees "
            f"(it is {r} arcsec)"
        )
    return r


def parse_angle_deg(text: str, *, ra: bool) -> float:
    """Degrees from '10.68', '10.68d', '0h42m44s' (RA) or '41d16m09s' (astropy Angle);
    sexagesimal without units, '00:42:44.3' or '00 42 44.3', is hours for RA and
    degrees for Dec, as catalogues and SIMBAD write them."""
    what = "RA" if ra else "Dec"
    try:
        deg = float(text)
    except ValueError:
        import astropy.units as u
        from astropy.coordinates import Angle

        bare = re.fullmatch(r"\s*[-+]?\d+(?:[: ]+\d+(?:\.\d*)?){1,2}\s*", text)
        try:
            deg = float(
                Angle(text.strip(), unit=(u.hourangle if ra else u.deg) if bare else None).deg
            )
        except (ValueError, u.UnitsError) as exc:
            example = (
                "10.68, 00:42:44.3 (hours) or 0h42m44.3s" if ra else "41.27, +41:16:09 or 41d16m09s"
            )
            raise DataError(
                f"{what} {text!r} is not an angle: give degrees or sexagesimal, e.g. {example}"
            ) from exc
    if not math.isfinite(deg):
        raise DataError(f"{what} {text!r} is not a finite angle")
    if ra:
        return deg % 360.0
    if not -90 <= deg <= 90:
        raise DataError(f"Dec {text!r} is outside the sphere (-90 to 90 degrees)")
    return deg


def _catalog(args):
    from ..commands._common import settings_from_args
    from ..platform import open_platform
    from .api import Catalog

    # a --workdir that is a file, under one, or not there is named as such
    platform = open_platform(settings_from_args(args), from_stack=True)
    platform.require_workspace(tables=False)
    # on AWS the deployed stack (CLOUDPHOT_STACK) names the bucket and the Athena workgroup
    return Catalog(
        platform,
        version=getattr(args, "catalog_version", None),
        max_rows=getattr(args, "max_rows", 100_000),
        timeout_s=getattr(args, "timeout", 60.0),
    )


def _emit(cat, sql: str, args) -> None:
    """Run ``sql`` and write its rows: streamed as text or CSV, whole for VOTable/FITS."""
    from . import output

    fmt, out = args.format, args.output
    if fmt in ("votable", "fits"):
        if not out:
            raise DataError(f"--format {fmt} needs -o FILE")
        table = cat.query(sql)
        table.write(out, format=fmt, overwrite=True)
        n, truncated = len(table), table.meta.get("TRUNC")
    else:
        sink = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
        writer = output.write_csv if fmt == "csv" else output.write_text_table
        try:
            if not hasattr(cat.engine, "stream"):  # Athena hands back whole pages
                res = cat.engine.run(sql)
                n = writer(res.table.schema, res.table.to_batches(), sink)
                truncated = res.truncated
            else:
                with cat.engine.stream(sql) as stream:
                    n = writer(stream.schema, stream, sink)
                    truncated = stream.truncated
        finally:
            if out:
                sink.close()
            else:
                sink.flush()
    if out:
        print(f"{n} rows -> {out}", file=sys.stderr)
    elif fmt == "table":  # after the table, as psql does (on stderr: the table stays clean)
        print(f"({n} row{'' if n == 1 else 's'})", file=sys.stderr)
    if truncated:
        print(f"warning: result truncated at the row limit ({n} rows)", file=sys.stderr)


def _guard(func):
    def run(args) -> int:
        try:
            return func(args)
        except CloudphotError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, DataError | ConfigError) else 1

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


@_guard
def cmd_query(args) -> int:
    """Run one read-only SQL query."""
    with _catalog(args) as cat:
        _emit(cat, args.sql, args)
    return 0


@_guard
def cmd_cone(args) -> int:
    """Cone search."""
    ra = parse_angle_deg(args.ra, ra=True)
    dec = parse_angle_deg(args.dec, ra=False)
    r = parse_radius_arcsec(args.radius)
    columns = args.columns or (CONE_COLUMNS[args.table] if args.format == "table" else "*")
    with _catalog(args) as cat:
        _emit(cat, cat.cone_sql(ra, dec, r, table=args.table, columns=columns), args)
    return 0


def _object_title(objid: int, lc) -> str:
    """The plot's title: where the object is (sexagesimal, as people quote it) and in
    which filters, then its id."""
    import numpy as np
    from astropy.coordinates import Angle

    ra, dec = float(np.nanmedian(lc["ra"])), float(np.nanmedian(lc["dec"]))
    where = (
        f"{Angle(ra, 'deg').to_string(unit='hourangle', sep=':', precision=2)} "
        f"{Angle(dec, 'deg').to_string(sep=':', precision=1, alwayssign=True)}"
    )
    filters = ", ".join(sorted({str(f) for f in lc["filter"]}))
    return f"{where} ({filters}); objid {objid}"


@_guard
def cmd_lightcurve(args) -> int:
    """Light curve, Lomb-Scargle period and folded plot of one object."""
    from .lightcurve import find_period, plot_folded

    with _catalog(args) as cat:
        if args.objid is not None:
            objid = int(args.objid)
        elif args.ra is not None and args.dec is not None:
            objid = cat.nearest_objid(
                parse_angle_deg(args.ra, ra=True),
                parse_angle_deg(args.dec, ra=False),
                parse_radius_arcsec(args.radius),
            )
        else:
            raise DataError("give an OBJID or --ra and --dec")
        lc = cat.lightcurve(objid, args.filter)
        if len(lc) == 0 and args.filter:
            from collections import Counter

            have = Counter(str(f) for f in cat.lightcurve(objid)["filter"])
            if have:
                raise DataError(
                    f"object {objid} has no {args.filter.upper()} measurements; it has "
                    + ", ".join(f"{f} ({n})" for f, n in sorted(have.items()))
                )
        if len(lc) == 0:
            raise DataError(
                f"no object {objid} in the catalog: objids come from 'cloudphot cone RA DEC "
                "RADIUS' or 'cloudphot query', or give --ra/--dec"
            )
        res = find_period(lc, min_period_d=args.min_period, max_period_d=args.max_period)
        out = Path(args.output or f"lightcurve_{objid}.png")
        plot_folded(lc, res.period_d, out, title=_object_title(objid, lc))
        print(
            f"objid {objid}: {res.n_points} measurements in {','.join(res.filters)}; "
            f"period {res.period_d:.5f} d (power {res.power:.3f}); plot {out}"
        )
    return 0


@_guard
def cmd_map(args) -> int:
    """HEALPix map image."""
    from .maps import healpix_map, plot_map

    with _catalog(args) as cat:
        m = healpix_map(
            cat,
            args.quantity,
            order=args.order,
            filter=args.filter,
            color=args.color,
            mag_max=args.mag_max,
        )
        out = Path(args.output or f"map_{args.quantity}.png")
        plot_map(m, out)
        covered = m.covered_arcmin2
        values = m.values
        if covered is None:
            where = " (no exposure footprints in this workspace)"
        else:
            where = f" over the {covered:.3g} arcmin² the exposures cover"
            if m.coverage is not None and (m.coverage >= 0.5).any():
                values = m.values[m.coverage >= 0.5]  # slivers of edge pixels are noise
                where += " (range: pixels at least half covered)"
        mean = ""
        if args.quantity == "density" and covered:
            mean = f"mean {m.counts.sum() / covered:.4g}, "
        print(
            f"{len(m.pixels)} pixels at order {m.order}{where}; {args.quantity} {mean}"
            f"{values.min():.4g} .. {values.max():.4g} {m.label}; plot {out}"
        )
    return 0


@_guard
def cmd_build(args) -> int:
    """Build or refresh the survey catalog from the field products."""
    with _catalog(args) as cat:
        res = cat.build(
            args.fields or None, partition_order=args.partition_order, rebuild=args.rebuild
        )
        if not res.changed:
            print(f"catalog {res.survey} v{res.version}: up to date ({res.n_objects} objects)")
        else:
            print(
                f"catalog {res.survey} v{res.version}: +{len(res.fields_added)} fields, "
                f"{len(res.fields_refreshed)} refreshed; {res.n_objects} objects, "
                f"{res.n_measurements} measurements; rewrote "
                f"{len(res.rewritten.get('phot_mod', []))} phot_mod partitions in "
                f"{res.seconds:.1f} s"
            )
    return 0


@_guard
def cmd_export(args) -> int:
    """Write HLSP-named FITS tables of a version."""
    from .fits_export import export_fits

    with _catalog(args) as cat:
        keys = export_fits(
            cat.store, cat.bucket, cat.survey, version=args.catalog_version, out_dir=args.out_dir
        )
        path_of = getattr(cat.store, "path_of", None)  # the local store's files
        for k in keys:  # the files written, not bucket keys
            if args.out_dir:
                print(Path(args.out_dir) / k.rsplit("/", 1)[-1])
            elif path_of is not None:
                print(path_of(cat.bucket, k))
            else:
                print(f"s3://{cat.bucket}/{k}")
    return 0


@_guard
def cmd_versions(args) -> int:
    """List catalog versions."""
    with _catalog(args) as cat:
        for v in cat.versions():
            from .build import read_manifest

            m = read_manifest(cat.store, cat.bucket, cat.survey, v)
            print(
                f"v{v}  {m['created']}  {m['tables']['phot_mod']['nrows']} objects  "
                f"{m['tables']['phot_meas']['nrows']} measurements  {len(m['fields'])} fields"
            )
    return 0


@_guard
def cmd_verify(args) -> int:
    """Check every file of a catalog version against the SHA-256 in its manifest."""
    from .build import read_manifest
    from .integrity import verify_version

    with _catalog(args) as cat:
        m = read_manifest(cat.store, cat.bucket, cat.survey, args.catalog_version)
        rep = verify_version(cat.store, cat.bucket, m, full=args.full)
        for key, reason in rep.bad:
            print(f"CORRUPT s3://{cat.bucket}/{key}: {reason}")
        if rep.unchecked:
            print(
                f"{len(rep.unchecked)} files have no recorded checksum (built before "
                f"checksums; rebuild with 'cloudphot catalog build --rebuild'), e.g. "
                f"{rep.unchecked[0]}"
            )
        print(
            f"catalog {cat.survey} v{rep.version}: {rep.files} files, "
            f"{rep.bytes / 1e6:.1f} MB checked, {len(rep.bad)} corrupt"
        )
        if rep.bad:
            print(
                "rebuild the version from the field products ('cloudphot catalog build "
                "--rebuild') or restore the objects from the bucket's versions",
                file=sys.stderr,
            )
            return 2
    return 0


@_guard
def cmd_prune(args) -> int:
    """Delete all but the newest N versions (shared files a kept version uses stay)."""
    from .build import prune_versions

    with _catalog(args) as cat:
        out = prune_versions(cat.store, cat.bucket, cat.survey, args.keep)
        if not out["versions"]:
            print(f"catalog {cat.survey}: nothing to prune (keeping {args.keep})")
        else:
            vs = ", ".join(f"v{v}" for v in out["versions"])
            print(
                f"catalog {cat.survey}: pruned {vs}: {out['objects']} objects, "
                f"{out['bytes'] / 1e6:.1f} MB"
            )
    return 0


def _common(p: argparse.ArgumentParser, *, output: bool = True, query: bool = True) -> None:
    p.add_argument(
        "--catalog-version",
        type=int,
        default=None,
        help="catalog version to read (default: the latest)",
    )
    if query:
        p.add_argument(
            "--max-rows", type=_positive_int, default=100_000, help="row limit per query"
        )
        p.add_argument(
            "--timeout", type=_positive_float, default=60.0, help="per-query timeout, seconds"
        )
    if output:
        p.add_argument(
            "--format",
            choices=FORMATS,
            default="table",
            help="table (aligned text), csv, votable or fits (these two need -o)",
        )
        p.add_argument("-o", "--output", default=None, help="write the result to FILE")


def _positive_int(text: str) -> int:
    from ..commands._common import positive_int

    return positive_int(text)


def _positive_float(text: str) -> float:
    from ..commands._common import positive_float

    return positive_float(text)


def add_commands(subparsers) -> None:
    """Register query, cone, lightcurve, map and catalog on the CLI's subparsers."""
    p = subparsers.add_parser(
        "query", help="read-only SQL on phot_mod/phot_meas/phot_visit/phot_pm/phot_var"
    )
    p.add_argument("sql", help="one SELECT statement (quote it for the shell)")
    _common(p)
    p.set_defaults(func=cmd_query)

    p = subparsers.add_parser("cone", help="cone search: RA DEC RADIUS (e.g. 10.68 41.27 2arcsec)")
    p.add_argument("ra", help="right ascension: degrees (10.68) or hours (00:42:43.2, 0h42m43s)")
    p.add_argument("dec", help="declination: degrees (41.27, -41:16:12, 41d16m12s)")
    p.add_argument("radius", help="with units (2arcsec, 1arcmin); a bare number is degrees")
    p.add_argument(
        "--table",
        choices=("phot_mod", "phot_meas", "phot_visit", "phot_pm", "phot_var"),
        default="phot_mod",
        help="objects (phot_mod), measurements (phot_meas), visits, proper motions, variables",
    )
    p.add_argument(
        "--columns",
        default=None,
        help="comma-separated columns, '*' for all (default: all in csv/votable/fits; on the "
        "terminal a short set: objid, ra, dec, the F475W and F814W magnitudes, ...)",
    )
    _common(p)
    p.set_defaults(func=cmd_cone)

    p = subparsers.add_parser("lightcurve", help="Lomb-Scargle period and folded light curve")
    p.add_argument("objid", nargs="?", default=None, help="the object's objid (phot_mod)")
    p.add_argument("--ra", default=None, help="instead of OBJID: the nearest object to RA, DEC")
    p.add_argument("--dec", default=None, help="with --ra: degrees or sexagesimal, as for cone")
    p.add_argument("--radius", default="1arcsec", help="match radius for --ra/--dec")
    p.add_argument("--filter", default=None, help="one filter only (default: all)")
    p.add_argument("--min-period", type=float, default=1.0, help="days")
    p.add_argument("--max-period", type=float, default=100.0, help="days")
    p.add_argument("-o", "--output", default=None, help="PNG path")
    _common(p, output=False)
    p.set_defaults(func=cmd_lightcurve)

    p = subparsers.add_parser("map", help="HEALPix map image of phot_mod")
    p.add_argument(
        "--quantity",
        choices=("density", "mean_mag", "color"),
        default="density",
        help="stars per arcmin², mean magnitude in --filter, or mean --color",
    )
    p.add_argument(
        "--order",
        type=int,
        default=None,
        help="HEALPix order, 0-12 (default: from the footprint: the finest with at most a "
        "few thousand pixels on it)",
    )
    p.add_argument("--filter", default="F814W", help="filter of mean_mag and of --mag-max")
    p.add_argument("--color", default="F475W-F814W", help="colour of --quantity color")
    p.add_argument(
        "--mag-max", type=float, default=None, help="only stars brighter than this in --filter"
    )
    p.add_argument("-o", "--output", default=None, help="PNG path")
    _common(p, output=False)
    p.set_defaults(func=cmd_map)

    p = subparsers.add_parser("catalog", help="build and manage the survey catalog")
    sub = p.add_subparsers(dest="catalog_command", required=True)
    b = sub.add_parser("build", help="merge field products into a new catalog version")
    b.add_argument("--fields", nargs="*", default=None, help="field ids (default: all)")
    b.add_argument(
        "--rebuild",
        action="store_true",
        help="publish a new version merged from the field products alone, reading "
        "nothing of earlier versions (after 'catalog verify' found a corrupt file)",
    )
    b.add_argument(
        "--partition-order",
        type=int,
        default=None,
        help="HEALPix order of a new survey's partitions (default 10; 11 for denser "
        "surveys; a survey keeps the order of its first build)",
    )
    b.set_defaults(func=cmd_build)
    e = sub.add_parser("export-fits", help="HLSP-named FITS tables of a version")
    e.add_argument("--out-dir", default=None, help="also write the files into this local folder")
    _common(e, output=False, query=False)
    e.set_defaults(func=cmd_export)
    c = sub.add_parser("verify", help="check a version's files against their SHA-256 checksums")
    c.add_argument(
        "--full",
        action="store_true",
        help="on S3, download and hash every object (default: compare S3's own checksums)",
    )
    _common(c, output=False, query=False)
    c.set_defaults(func=cmd_verify)
    pr = sub.add_parser("prune", help="delete all but the newest N catalog versions")
    pr.add_argument("--keep", type=int, required=True, help="versions to keep (>= 1)")
    pr.set_defaults(func=cmd_prune)
    v = sub.add_parser("versions", help="list catalog versions")
    v.set_defaults(func=cmd_versions)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (tests; the real CLI is cloudphot.cli)."""
    parser = argparse.ArgumentParser(prog="cloudphot")
    parser.add_argument("--workdir", default=None)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
