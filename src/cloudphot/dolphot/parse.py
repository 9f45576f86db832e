"""Read DOLPHOT photometry output and map it onto cloudphot's measurement table.

DOLPHOT writes its photometry as a whitespace-separated text file named after
the output name given on its command line (``dolphot <out> -p<param>`` writes
``<out>``, ``<out>.columns``, ``<out>.info``, ...). There is no header: the
meaning of each column is given only by the ``.columns`` legend, one numbered
line per column, for example::

    1. Extension (zero for base image)
    ...
    11. Object type (1=bright star, 2=faint, 3=elongated, 4=hot pixel, 5=extended)
    12. Total counts, ACS_F814W                       <- one block per filter with
    ...                                                  more than one image
    25. Measured counts, j9ec41aiq_flc.chip1 (ACS_F814W, 355.0 sec)   <- one block per image

The layout varies with DOLPHOT's version and modes (with or without the
ACS/WFC3 modules, "Pass Detected", PSF-parameter columns), so names are derived
from the legend text rather than from fixed positions, and the data is checked
against the legend line by line.

Column names of :func:`read_phot`'s table
------------------------------------------
- global: ``ext chip x y chi snr sharp round majax crowd objtype`` (``pass`` when present);
- combined per filter: ``<filter>_<quantity>``, e.g. ``f814w_vega`` (PHAT naming; the
  instrument prefix is kept, ``acs_f814w_vega``, only when two instruments share a filter);
- per image: ``img<N>_<quantity>``, N = 1.. in DOLPHOT's image order (``img<N>_file`` of
  the parameter file). ``table.meta["images"]`` holds each image's name, filter and
  exposure time from the legend.

Quantities: ``counts sky rate raterr vega mag trans err chi snr sharp round crowd
fwhm ecc psfa psfb psfc flag`` (``mag`` is "Instrumental magnitude", written when
DOLPHOT runs without an instrument module; ``vega`` is "Instrumental VEGAMAG
magnitude"). Unknown legend texts become a lower-case slug, never an error, so a
newer DOLPHOT does not break the reader.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from ..errors import DataError
from ..products import FIELD_COLUMNS, MEASUREMENT_COLUMNS, PER_FILTER_COLUMNS

__all__ = [
    "DOLPHOT_PIXEL_OFFSET",
    "GLOBAL_COLUMN_NAMES",
    "QUANTITY_NAMES",
    "Legend",
    "LegendColumn",
    "phot_to_catalog",
    "phot_to_measurements",
    "read_columns",
    "read_phot",
]

#: DOLPHOT puts the centre of the first pixel at (0.5, 0.5); numpy/cloudphot at (0, 0).
DOLPHOT_PIXEL_OFFSET = 0.5

#: legend text prefix of a global (per-star) column -> column name
GLOBAL_COLUMN_NAMES: dict[str, str] = {
    "Extension": "ext",
    "Chip": "chip",
    "Object X position": "x",
    "Object Y position": "y",
    "Chi for fit": "chi",
    "Signal-to-noise": "snr",
    "Object sharpness": "sharp",
    "Object roundness": "round",
    "Direction of major axis": "majax",
    "Crowding": "crowd",
    "Object type": "objtype",
    "Pass Detected": "pass",
}

#: legend quantity (text before the first ", ") -> quantity name
QUANTITY_NAMES: dict[str, str] = {
    "Total counts": "counts",
    "Measured counts": "counts",
    "Total sky level": "sky",
    "Measured sky level": "sky",
    "Normalized count rate": "rate",
    "Normalized count rate uncertainty": "raterr",
    "Instrumental VEGAMAG magnitude": "vega",
    "Instrumental magnitude": "mag",
    "Instrumental ABMAG magnitude": "abmag",
    "Instrumental STMAG magnitude": "stmag",
    "Transformed UBVRI magnitude": "trans",
    "Magnitude uncertainty": "err",
    "Chi": "chi",
    "Signal-to-noise": "snr",
    "Sharpness": "sharp",
    "Roundness": "round",
    "Crowding": "crowd",
    "PSF FWHM": "fwhm",
    "PSF eccentricity": "ecc",
    "PSF a parameter": "psfa",
    "PSF b parameter": "psfb",
    "PSF c parameter": "psfc",
    "Photometry quality flag": "flag",
}

_INTEGER_QUANTITIES = {"ext", "chip", "objtype", "pass", "flag"}
_CHUNK_ROWS = 20000
_LEGEND_LINE = re.compile(r"^\s*(\d+)\.\s+(.*?)\s*$")
# "<image> (<filter>, <exptime> sec)" or, without an instrument module, "<image> (<exptime> sec)"
_IMAGE_LABEL = re.compile(
    r"^(?P<image>.+?)\s+\((?:(?P<filter>[^,()]+),\s*)?(?P<exptime>[-+0-9.eE]+)\s+sec\)$"
)
_INSTRUMENT_PREFIX = re.compile(r"^(ACS|WFC3|WFPC2|NIRCAM|NIRISS|MIRI|ROMAN|WFI)_", re.IGNORECASE)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "col"


def _strip_instrument(label: str) -> str:
    return _INSTRUMENT_PREFIX.sub("", label.strip())


class LegendColumn:
    """One column of a DOLPHOT legend: its name in the table and where it comes from."""

    __slots__ = ("filter_label", "image", "index", "name", "quantity", "scope", "text")

    def __init__(
        self,
        index: int,
        text: str,
        name: str,
        quantity: str,
        scope: str,
        image: int | None = None,
        filter_label: str | None = None,
    ):
        self.index = index  # 0-based position in a data line
        self.text = text  # the legend text, verbatim
        self.name = name  # column name in the table
        self.quantity = quantity  # e.g. "vega"
        self.scope = scope  # "global" | "filter" | "image"
        self.image = image  # 1-based DOLPHOT image number (scope "image")
        self.filter_label = filter_label  # e.g. "ACS_F814W" (scope "filter")

    def __repr__(self) -> str:
        return f"LegendColumn({self.index + 1}. {self.name!r} <- {self.text!r})"


class Legend:
    """A parsed ``.columns`` file.

    Attributes
    ----------
    columns : list of LegendColumn
        In data order.
    images : list of dict
        Per DOLPHOT image (in order): ``index`` (1-based), ``name`` (DOLPHOT's
        image name), ``filter_label`` (e.g. ``"ACS_F814W"`` or ``None`` when the
        legend names no filter), ``filter`` (the label without instrument
        prefix, or ``None``) and ``exptime`` (s).
    filters : list of dict
        The combined per-filter blocks: ``label`` and ``key`` (column prefix).
    """

    def __init__(
        self, columns: list[LegendColumn], images: list[dict], filters: list[dict], source: str
    ):
        self.columns = columns
        self.images = images
        self.filters = filters
        self.source = source

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __len__(self) -> int:
        return len(self.columns)


def read_columns(path: str | Path) -> Legend:
    """Parse a DOLPHOT ``.columns`` legend.

    Lines starting with ``#`` and blank lines are ignored (DOLPHOT 3 writes a
    leading ``#``). Every other line must be ``<n>. <text>`` with ``n`` counting
    up from 1; anything else is a :class:`~cloudphot.errors.DataError` naming
    the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: DOLPHOT column legend not found") from exc

    raw: list[tuple[int, str]] = []  # (line number, text)
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LEGEND_LINE.match(line)
        if not m:
            raise DataError(f"{path}:{lineno}: not a legend line '<n>. <description>': {line!r}")
        number = int(m.group(1))
        if number != len(raw) + 1:
            raise DataError(
                f"{path}:{lineno}: legend column number {number}, expected {len(raw) + 1}"
            )
        raw.append((lineno, m.group(2)))
    if not raw:
        raise DataError(f"{path}: DOLPHOT column legend is empty")

    image_numbers: dict[str, int] = {}
    images: list[dict] = []
    filter_labels: list[str] = []
    parsed: list[tuple[int, str, str, str, str, int | None, str | None]] = []
    for pos, (_lineno, desc) in enumerate(raw):
        # global columns are matched on their leading words ("Object X position on
        # reference image (or first image, if no reference)" contains ", " too)
        name = next(
            (
                n
                for prefix, n in GLOBAL_COLUMN_NAMES.items()
                if desc == prefix or desc.startswith(prefix + " ")
            ),
            None,
        )
        head, sep, rest = desc.partition(", ")
        if name is not None or not sep:
            name = name or _slug(desc)
            parsed.append((pos, desc, name, name, "global", None, None))
            continue
        quantity = QUANTITY_NAMES.get(head, _slug(head))
        m = _IMAGE_LABEL.match(rest)
        if m:
            image_name = m.group("image")
            if image_name not in image_numbers:
                image_numbers[image_name] = len(images) + 1
                label = m.group("filter")
                images.append(
                    {
                        "index": len(images) + 1,
                        "name": image_name,
                        "filter_label": label.strip() if label else None,
                        "filter": _strip_instrument(label) if label else None,
                        "exptime": float(m.group("exptime")),
                    }
                )
            parsed.append((pos, desc, "", quantity, "image", image_numbers[image_name], None))
        else:
            label = rest.strip()
            if label not in filter_labels:
                filter_labels.append(label)
            parsed.append((pos, desc, "", quantity, "filter", None, label))

    # filter key: "f814w" unless two labels reduce to the same filter name
    stripped = [_strip_instrument(lbl).lower() for lbl in filter_labels]
    keys = {
        lbl: (_slug(s) if stripped.count(s) == 1 else _slug(lbl))
        for lbl, s in zip(filter_labels, stripped)
    }

    columns: list[LegendColumn] = []
    seen: dict[str, int] = {}
    for pos, desc, name, quantity, scope, image, label in parsed:
        if scope == "image":
            name = f"img{image}_{quantity}"
        elif scope == "filter" and label is not None:
            name = f"{keys[label]}_{quantity}"
        if name in seen:
            lineno = raw[pos][0]
            raise DataError(
                f"{path}:{lineno}: legend column {pos + 1} ({desc!r}) maps to {name!r}, "
                f"already used by column {seen[name] + 1}"
            )
        seen[name] = pos
        columns.append(LegendColumn(pos, desc, name, quantity, scope, image, label))
    filters = [{"label": lbl, "key": keys[lbl]} for lbl in filter_labels]
    return Legend(columns, images, filters, str(path))


def _default_columns_path(phot_path: Path) -> Path:
    return phot_path.with_name(phot_path.name + ".columns")


def read_phot(phot_path: str | Path, columns_path: str | Path | None = None) -> Table:
    """Read a DOLPHOT photometry file into an astropy Table named by its legend.

    Parameters
    ----------
    phot_path : path
        The photometry file (``<out>`` of ``dolphot <out> -p...``; the name need
        not end in ``.phot``).
    columns_path : path, optional
        Its legend; default ``<phot_path>.columns``.

    Returns
    -------
    astropy.table.Table
        One row per star, columns as described in the module docstring, in file
        order. Integer columns (``ext chip objtype pass`` and flags) are int32,
        the rest float64. DOLPHOT's sentinels (99.999 mag, 9.999 mag error,
        9999 rate error) and NaN are kept as written. ``meta`` holds ``images``,
        ``filters``, ``source`` and ``legend`` (the legend texts). A file with no
        data lines gives a zero-row table (DOLPHOT found no stars).

    Raises
    ------
    DataError
        Missing files, a malformed legend, or a data line whose column count
        differs from the legend or holds a non-numeric value (file, line, column
        and its legend name are given).
    """
    phot_path = Path(phot_path)
    columns_path = Path(columns_path) if columns_path else _default_columns_path(phot_path)
    legend = read_columns(columns_path)
    ncol = len(legend)
    chunks: list[np.ndarray] = []
    linenos: list[int] = []
    buf: list[list[str]] = []
    buf_lines: list[int] = []
    try:
        # streamed in chunks: a survey field's photometry can be gigabytes of text
        with open(phot_path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != ncol:
                    raise DataError(
                        f"{phot_path}:{lineno}: {len(fields)} columns, but the legend "
                        f"{columns_path.name} has {ncol} (truncated or mismatched file?)"
                    )
                buf.append(fields)
                buf_lines.append(lineno)
                if len(buf) >= _CHUNK_ROWS:
                    chunks.append(_to_float(buf, buf_lines, phot_path))
                    linenos += buf_lines
                    buf, buf_lines = [], []
    except FileNotFoundError as exc:
        raise DataError(f"{phot_path}: DOLPHOT photometry file not found") from exc
    if buf or not chunks:
        chunks.append(_to_float(buf, buf_lines, phot_path, ncol))
        linenos += buf_lines
    data = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    table = Table(
        meta={
            "images": legend.images,
            "filters": legend.filters,
            "source": str(phot_path),
            "legend": [c.text for c in legend.columns],
        }
    )
    for col in legend.columns:
        values = data[:, col.index]
        if col.quantity in _INTEGER_QUANTITIES:
            bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
            if bad.size:
                raise DataError(
                    f"{phot_path}:{linenos[bad[0]]}: column {col.index + 1} ({col.name}, "
                    f"{col.text!r}) must be an integer, got {float(values[bad[0]])}"
                )
            table[col.name] = values.astype(np.int32)
        else:
            table[col.name] = values
        table[col.name].description = col.text
    return table


def _to_float(rows: list[list[str]], linenos: list[int], path: Path, ncol: int = 0) -> np.ndarray:
    if not rows:
        return np.empty((0, ncol), dtype=np.float64)
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    for fields, lineno in zip(rows, linenos):  # find the culprit for the error message
        for c, value in enumerate(fields):
            try:
                float(value)
            except ValueError:
                raise DataError(
                    f"{path}:{lineno}: column {c + 1} is not a number: {value!r}"
                ) from None
    raise DataError(f"{path}: could not read the photometry as numbers")  # pragma: no cover


# --------------------------------------------------------------------------------------
# measurements


def _exposure_id(image_name: str) -> str:
    """``j9ec41aiq_flc.chip1`` -> ``j9ec41aiq`` (HST rootname: text before '_' or '.')."""
    return re.split(r"[_.]", Path(image_name).name, maxsplit=1)[0]


def _chip_from_name(image_name: str) -> int:
    m = re.search(r"\.chip(\d+)$", image_name)
    return int(m.group(1)) if m else 1


def _as_wcs(value: Any):
    if value is None:
        return None
    from astropy.wcs import WCS

    if isinstance(value, WCS):
        return value
    return WCS(value)


def _image_parts(
    table: Table,
    images_meta: Sequence[Mapping[str, Any]] | None,
    field_id: str,
    reference_wcs: Any,
    zero: float,
) -> list[dict[str, Any]]:
    """Per DOLPHOT image, every MEASUREMENT_COLUMNS array for all stars, plus ``_covers``."""
    source = table.meta.get("source", "photometry")
    images = list(table.meta.get("images") or [])
    if not images:
        raise DataError(f"{source}: no per-image columns")
    metas = list(images_meta) if images_meta is not None else [{} for _ in images]
    if len(metas) != len(images):
        raise DataError(
            f"{source}: {len(images)} images in the legend but {len(metas)} entries in images_meta"
        )
    frame_is_first_image = reference_wcs is None
    ref_wcs = _as_wcs(metas[0].get("wcs") if frame_is_first_image else reference_wcs)

    nstar = len(table)
    x_ref = np.asarray(table["x"], dtype=np.float64) - DOLPHOT_PIXEL_OFFSET
    y_ref = np.asarray(table["y"], dtype=np.float64) - DOLPHOT_PIXEL_OFFSET
    if ref_wcs is not None and nstar:
        ra, dec = ref_wcs.all_pix2world(x_ref, y_ref, 0)
    else:
        ra = dec = np.full(nstar, np.nan)

    parts = []
    for info, meta in zip(images, metas):
        n = info["index"]
        name = str(meta.get("image") or info["name"])
        where = f"{source}: image {n} ({info['name']})"

        def optional(q: str, n: int = n) -> np.ndarray | None:
            key = f"img{n}_{q}"
            return np.asarray(table[key], dtype=np.float64) if key in table.colnames else None

        def col(q: str, n: int = n, where: str = where) -> np.ndarray:
            found = optional(q, n)
            if found is None:
                raise DataError(f"{where}: no {q!r} column (img{n}_{q}) in the photometry")
            return found

        filt = meta.get("filter") or info.get("filter")
        if not filt:
            raise DataError(
                f"{where}: the legend names no filter; give images_meta[{n - 1}]['filter']"
            )
        exptime = float(meta.get("exptime") or info.get("exptime") or 0.0)
        if not exptime > 0:
            raise DataError(f"{where}: exposure time must be > 0, got {exptime}")

        vega = optional("vega")
        if vega is None:
            mag = optional("mag")
            zpt = meta.get("vega_zeropoint")
            if mag is None:
                raise DataError(f"{where}: no magnitude column in the photometry")
            if zpt is None:
                raise DataError(
                    f"{where}: magnitudes are instrumental (DOLPHOT ran without an HST module); "
                    f"give images_meta[{n - 1}]['vega_zeropoint'] to convert them to Vega"
                )
            vega = np.where(mag >= 99.0, mag, mag - zero + float(zpt))

        counts = col("counts")
        rate_n = col("rate")
        raterr_n = col("raterr")
        rate = counts / exptime
        with np.errstate(divide="ignore", invalid="ignore"):
            raterr = np.where(rate_n != 0, np.abs(rate) * raterr_n / np.abs(rate_n), np.nan)

        x_img, y_img = _image_positions(
            ref_wcs,
            _as_wcs(meta.get("wcs")),
            x_ref,
            y_ref,
            identity=(n == 1 and frame_is_first_image),
        )
        covers = np.ones(nstar, dtype=bool)
        shape = meta.get("shape")
        if shape is not None:  # (ny, nx): keep only stars on this chip
            ny, nx = shape
            with np.errstate(invalid="ignore"):
                covers = (x_img >= -0.5) & (x_img < nx - 0.5) & (y_img >= -0.5) & (y_img < ny - 0.5)
        parts.append(
            {
                "field_id": np.full(nstar, str(field_id)),
                "star_id": np.arange(1, nstar + 1, dtype=np.int64),
                "exposure_id": np.full(nstar, str(meta.get("exposure_id") or _exposure_id(name))),
                "image": np.full(nstar, name),
                "chip": np.full(nstar, int(meta.get("chip") or _chip_from_name(info["name"]))),
                "filter": np.full(nstar, str(filt).upper()),
                "mjd": np.full(
                    nstar, float(meta["mjd"]) if meta.get("mjd") is not None else math.nan
                ),
                "exptime": np.full(nstar, exptime),
                "x": x_img,
                "y": y_img,
                "ra": ra,
                "dec": dec,
                "rate": rate,
                "raterr": raterr,
                "vega": vega,
                "err": col("err"),
                "chi": col("chi"),
                "snr": col("snr"),
                "sharp": col("sharp"),
                "round": col("round"),
                "crowd": col("crowd"),
                "flag": col("flag"),
                "_covers": covers,
                "_meta": meta,
                "_info": info,
            }
        )
    return parts


def _typed(table: Table, columns: Mapping[str, tuple[str, str, str]]) -> None:
    for name, (dtype, unit, desc) in columns.items():
        table[name] = np.asarray(table[name]).astype(dtype)
        if unit:
            table[name].unit = unit
        table[name].description = desc


def phot_to_measurements(
    table: Table,
    images_meta: Sequence[Mapping[str, Any]] | None,
    field_id: str,
    *,
    reference_wcs: Any = None,
    zero: float = 25.0,
) -> Table:
    """One row per star per image, with exactly :data:`cloudphot.products.MEASUREMENT_COLUMNS`.

    Parameters
    ----------
    table : Table
        From :func:`read_phot`; its ``meta["images"]`` gives the images in order.
    images_meta : sequence of mapping, optional
        One mapping per DOLPHOT image, in the same order, overriding or completing
        what the legend says. Keys (all optional): ``exposure_id``, ``image``,
        ``chip``, ``filter``, ``mjd``, ``exptime``, ``wcs`` (an astropy ``WCS`` or
        a FITS header of that chip, used for per-image x/y and RA/Dec), ``shape``
        (``(ny, nx)`` of the chip: only stars on it get a row), ``detector``
        (``"ACS/WFC"``...: picks the culling limits of :func:`phot_to_catalog`) and
        ``vega_zeropoint`` (Vega magnitude of 1 e-/s; needed only when the file
        has instrumental magnitudes, i.e. DOLPHOT ran without its ACS/WFC3 modules).
    field_id : str
        Written to every row.
    reference_wcs : WCS or header, optional
        WCS of the frame of DOLPHOT's x/y (the reference image, ``img0_file``).
        Default: the first image's ``wcs`` (DOLPHOT's frame when there is no
        reference image).
    zero : float
        DOLPHOT's ``Zero`` parameter (default 25), used with ``vega_zeropoint``.

    Notes
    -----
    - Rows are grouped by image in DOLPHOT's order, stars in file order;
      ``star_id`` is the star's 1-based row in the photometry file, which is also
      its row in :func:`phot_to_catalog` (as the built-in engine numbers them).
    - ``x``/``y`` are on the image's own chip, 0-based: DOLPHOT reports positions on
      the reference frame only, so they are mapped through the WCSs; without WCSs
      the first image takes the reference positions and the others get NaN.
    - ``rate`` is DOLPHOT's measured (PSF-fit) counts divided by the exposure time,
      in e-/s for flc/flt data (not aperture-corrected; DOLPHOT's aperture
      corrections are a few hundredths of a magnitude); ``raterr`` carries
      DOLPHOT's relative rate error. DOLPHOT's own "normalized count rate" is
      10**(-0.4 mag), not e-/s, so it is not copied.
    - DOLPHOT's 99.999 (no flux) magnitudes are kept as 99.999.
    """
    parts = _image_parts(table, images_meta, field_id, reference_wcs, zero)
    out = Table()
    for name, (dtype, _, _) in MEASUREMENT_COLUMNS.items():
        out[name] = (
            np.concatenate([np.asarray(p[name])[p["_covers"]] for p in parts])
            if len(table)
            else np.array([], dtype=dtype)
        )
    _typed(out, MEASUREMENT_COLUMNS)
    out.meta["field_id"] = str(field_id)
    out.meta["engine"] = "dolphot"
    return out


def _image_positions(
    ref_wcs, img_wcs, x_ref: np.ndarray, y_ref: np.ndarray, *, identity: bool
) -> tuple[np.ndarray, np.ndarray]:
    if identity:
        return x_ref.copy(), y_ref.copy()
    if ref_wcs is None or img_wcs is None or not x_ref.size:
        return np.full(x_ref.size, np.nan), np.full(x_ref.size, np.nan)
    ra, dec = ref_wcs.all_pix2world(x_ref, y_ref, 0)
    x, y = img_wcs.all_world2pix(ra, dec, 0)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


# --------------------------------------------------------------------------------------
# field catalog

_IR_FILTERS = re.compile(r"^F(0?98M|1\d\d[WMN])$")


def _detector_family(meta: Mapping[str, Any], filt: str, label: str | None) -> str:
    """ "acs", "uvis" or "ir": from images_meta["detector"], else the legend/filter name."""
    det = str(meta.get("detector") or "").upper()
    if det:
        return "ir" if det.endswith("IR") else ("uvis" if "UVIS" in det else "acs")
    if label and label.upper().startswith("ACS_"):
        return "acs"
    return "ir" if _IR_FILTERS.match(filt.upper()) else "uvis"


def phot_to_catalog(
    table: Table,
    field_id: str,
    *,
    images_meta: Sequence[Mapping[str, Any]] | None = None,
    reference_wcs: Any = None,
    zero: float = 25.0,
    cuts: Any = None,
) -> Table:
    """The field catalog (:func:`cloudphot.products.field_catalog_columns`) from DOLPHOT output.

    One row per star of the photometry file (``star_id`` 1-based, as in
    :func:`phot_to_measurements`, whose arguments these are). Per filter,
    DOLPHOT's own combined values are used (the "Total ..., <filter>" block it
    writes when a filter has several images; the single image's values
    otherwise), as PHAT's catalogs do. ``rate``/``raterr`` are the
    inverse-variance weighted mean of the images' e-/s rates (flag < 8,
    DOLPHOT's rule for combining). ``nexp`` and ``nmeas`` count the images
    covering the star with a measured flux. ``st``/``gst`` are
    :func:`cloudphot.photometry.culling.cull_filter` (the built-in engine's PHAT
    cuts, tunables from ``cuts``, a ``PhotometryOptions``; defaults when None)
    on each filter's values; a star DOLPHOT gives 99.999 in a filter is neither.
    Filters are in order of first appearance among the images.
    """
    from ..photometry.culling import cull_filter

    parts = _image_parts(table, images_meta, field_id, reference_wcs, zero)
    nstar = len(table)
    source = table.meta.get("source", "photometry")
    filters: list[str] = []
    for p in parts:
        f = (
            str(p["filter"][0])
            if nstar
            else str(p["_meta"].get("filter") or p["_info"].get("filter") or "").upper()
        )
        p["_filter"] = f
        if f not in filters:
            filters.append(f)
    ra = parts[0]["ra"] if nstar else np.array([])
    dec = parts[0]["dec"] if nstar else np.array([])

    out = Table()
    out["field_id"] = np.full(nstar, str(field_id))
    out["star_id"] = np.arange(1, nstar + 1, dtype=np.int64)
    out["ra"] = ra
    out["dec"] = dec
    out["x"] = np.asarray(table["x"], dtype=np.float64) - DOLPHOT_PIXEL_OFFSET
    out["y"] = np.asarray(table["y"], dtype=np.float64) - DOLPHOT_PIXEL_OFFSET
    measured = [p["_covers"] & (p["vega"] < 99.0) for p in parts]
    out["nexp"] = np.sum(measured, axis=0) if nstar else np.array([], dtype=np.int32)

    blocks = {f["key"] for f in table.meta.get("filters") or []}
    for filt in filters:
        group = [i for i, p in enumerate(parts) if p["_filter"] == filt]
        key = filt.lower()
        if f"{key}_vega" in table.colnames and key in blocks:

            def combined(q: str, k: str = key) -> np.ndarray:
                return np.asarray(table[f"{k}_{q}"], dtype=np.float64)

            src: Callable[[str], np.ndarray] = combined
        elif len(group) == 1:

            def single(q: str, p: dict = parts[group[0]]) -> np.ndarray:
                return np.asarray(p[q], dtype=np.float64)

            src = single
        else:
            raise DataError(
                f"{source}: filter {filt} has {len(group)} images but no combined "
                f"'{key}_vega' columns (two instruments with one filter name?)"
            )

        def stack(name: str, dtype: type = np.float64, group: list[int] = group) -> np.ndarray:
            return np.array([parts[i][name] for i in group], dtype=dtype).reshape(len(group), nstar)

        rate_i, err_i, flag_i = stack("rate"), stack("raterr"), stack("flag")
        cov_i = stack("_covers", bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = cov_i & (flag_i < 8) & np.isfinite(err_i) & (err_i > 0) & np.isfinite(rate_i)
            w = np.where(ok, 1.0 / np.where(ok, err_i, 1.0) ** 2, 0.0)
            wsum = w.sum(axis=0)
            rate = np.where(wsum > 0, (w * np.where(ok, rate_i, 0.0)).sum(axis=0) / wsum, np.nan)
            raterr = np.where(wsum > 0, 1.0 / np.sqrt(wsum), np.nan)
        first = parts[group[0]]
        camera = _detector_family(first["_meta"], filt, first["_info"].get("filter_label")).upper()
        vals = {q: src(q) for q in ("vega", "err", "chi", "snr", "sharp", "round", "crowd", "flag")}
        # the same per-filter cuts as the built-in engine (one implementation)
        st, gst = cull_filter(vals["snr"], vals["sharp"], vals["crowd"], vals["flag"], camera, cuts)
        detected = vals["vega"] < 99.0  # DOLPHOT's 99.999: no flux in this filter
        columns = {
            "rate": rate,
            "raterr": raterr,
            **vals,
            "nmeas": np.sum([measured[i] for i in group], axis=0),
            "st": st & detected,
            "gst": gst & detected,
        }
        for q in PER_FILTER_COLUMNS:
            out[f"{key}_{q}"] = np.asarray(columns[q]).reshape(nstar)
        _typed(out, {f"{key}_{q}": spec for q, spec in PER_FILTER_COLUMNS.items()})
    _typed(out, FIELD_COLUMNS)
    out.meta["field_id"] = str(field_id)
    out.meta["filters"] = filters
    out.meta["engine"] = "dolphot"
    return out
