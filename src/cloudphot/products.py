"""Product layout and column contracts shared by photometry engines and the catalog.

Both photometry engines (the built-in photutils engine and DOLPHOT) write the same
two tables per field, so everything downstream (culling, the survey catalog, the
database) is engine-agnostic:

``measurements`` -- one row per star per exposure (becomes ``phot_meas``)
``field catalog`` -- one row per star, combined per filter (feeds ``phot_mod``)

Magnitudes are Vega; ``rate`` is counts per second (electrons/s for HST flc/flt)
in an infinite aperture, as DOLPHOT reports. Quality metrics follow DOLPHOT's
definitions: ``sharp`` (0 for a perfect star, >0 too sharp, <0 too broad),
``round`` (0 round), ``crowd`` (mag by which the star would be brighter if its
neighbours were not subtracted), ``flag`` (DOLPHOT photometry flags, bitwise:
1 off chip edge, 2 too many bad pixels, 4 saturated, 8 extreme-case bad
pixels/aperture).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .errors import DataError
from .validate import BRANCH_RE, FIELD_ID_RE

__all__ = [
    "FIELD_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "PER_FILTER_COLUMNS",
    "branch_for",
    "check_branch",
    "check_field_id",
    "field_catalog_columns",
    "field_id_from_target",
    "fingerprint",
    "keys",
]


def fingerprint(basis: Any, n: int = 20) -> str:
    """Hex digest of ``basis`` as canonical JSON: what made a product, in ``n`` characters.

    The one rule for "the same inputs": products record it (see
    :class:`cloudphot.storage.targets.Target`) and ids derived from inputs use it.
    """
    text = json.dumps(basis, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def field_id_from_target(targname: str | None) -> str:
    """Field id from TARGNAME: lower case, non-alphanumeric runs -> '-'; 'unknown' if empty.

    ``M31-B15-F09`` -> ``m31-b15-f09``; ``NGC 1644`` -> ``ngc-1644``. A result longer
    than :data:`~cloudphot.validate.FIELD_ID_RE` allows is refused by the reader
    (cutting it could merge two targets into one field).
    """
    if not targname:
        return "unknown"
    fid = re.sub(r"[^a-z0-9]+", "-", str(targname).strip().lower()).strip("-")
    return fid or "unknown"


def check_field_id(value: Any, where: str) -> str:
    """``value`` if it is a field id (:data:`~cloudphot.validate.FIELD_ID_RE`), else a
    :class:`DataError` naming ``where``."""
    if not isinstance(value, str) or not FIELD_ID_RE.match(value):
        raise DataError(
            f"{where}: {value!r} is not a field id (1-64 of lower-case letters, digits, "
            "'.', '_', '+', '-', starting with a letter or digit)"
        )
    return value


def check_branch(value: Any, where: str) -> str:
    """``value`` if it is a branch name, else a :class:`DataError` naming ``where``."""
    if not isinstance(value, str) or not BRANCH_RE.match(value):
        raise DataError(
            f"{where}: branch {value!r}: use 1-40 lower-case letters, digits, '.', '_', '-'"
        )
    return value


def branch_for(settings: dict[str, Any]) -> str:
    """The default branch of a replay with these changed options: same options, same branch."""
    return "b-" + fingerprint(settings, 10)


# name -> (numpy dtype, unit, description)
MEASUREMENT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "field_id": ("U64", "", "field the star belongs to"),
    "star_id": ("i8", "", "star number within the field (row of the field catalog)"),
    "exposure_id": ("U32", "", "exposure rootname, e.g. j9ec41aiq"),
    "image": ("U128", "", "image file name, e.g. j9ec41aiq_flc.fits"),
    "chip": ("i2", "", "science extension version (EXTVER) the star was measured on"),
    "filter": ("U16", "", "filter name, e.g. F814W"),
    "mjd": ("f8", "d", "exposure mid-time, Modified Julian Date (UTC)"),
    "exptime": ("f4", "s", "exposure time"),
    "x": ("f8", "pix", "x position on the chip, 0-based (numpy) convention"),
    "y": ("f8", "pix", "y position on the chip, 0-based (numpy) convention"),
    "ra": ("f8", "deg", "right ascension (ICRS) of the measurement"),
    "dec": ("f8", "deg", "declination (ICRS) of the measurement"),
    "rate": ("f4", "e-/s", "count rate"),
    "raterr": ("f4", "e-/s", "count-rate uncertainty"),
    "vega": ("f4", "mag", "Vega magnitude (99.999 when rate <= 0)"),
    "err": ("f4", "mag", "magnitude uncertainty"),
    "chi": ("f4", "", "PSF fit chi"),
    "snr": ("f4", "", "signal to noise"),
    "sharp": ("f4", "", "sharpness"),
    "round": ("f4", "", "roundness"),
    "crowd": ("f4", "mag", "crowding"),
    "flag": ("i2", "", "photometry flags (see module docstring)"),
}

# per-star columns of a field catalog, before the per-filter blocks
FIELD_COLUMNS: dict[str, tuple[str, str, str]] = {
    "field_id": ("U64", "", "field"),
    "star_id": ("i8", "", "star number within the field"),
    "ra": ("f8", "deg", "right ascension (ICRS)"),
    "dec": ("f8", "deg", "declination (ICRS)"),
    "x": ("f8", "pix", "x on the field's reference image"),
    "y": ("f8", "pix", "y on the field's reference image"),
    "nexp": ("i4", "", "number of exposure measurements"),
}

# repeated per filter as "<filter lowercase>_<name>", e.g. f814w_vega; PHAT naming
PER_FILTER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "rate": ("f4", "e-/s", "combined count rate"),
    "raterr": ("f4", "e-/s", "combined count-rate uncertainty"),
    "vega": ("f4", "mag", "combined Vega magnitude"),
    "err": ("f4", "mag", "combined magnitude uncertainty"),
    "chi": ("f4", "", "combined chi"),
    "snr": ("f4", "", "combined signal to noise"),
    "sharp": ("f4", "", "combined sharpness"),
    "round": ("f4", "", "combined roundness"),
    "crowd": ("f4", "mag", "combined crowding"),
    "flag": ("i2", "", "OR of the measurement flags"),
    "nmeas": ("i4", "", "number of measurements in this filter"),
    "st": ("?", "", "passes the 'st' (star) quality cuts in this filter"),
    "gst": ("?", "", "passes the 'gst' (good star) quality cuts in this filter"),
}


def field_catalog_columns(filters: list[str]) -> list[str]:
    """Column order of a field catalog for the given filters."""
    cols = list(FIELD_COLUMNS)
    for f in filters:
        cols += [f"{f.lower()}_{c}" for c in PER_FILTER_COLUMNS]
    return cols


class keys:
    """Deterministic object keys: a rerun writes the same keys (idempotent steps).

    ``branch`` (a replay with changed options, see ``cloudphot replay``) puts every
    product under ``branches/<branch>/``, so a branch never overwrites the original.
    Field ids and branch names are checked here, so no key is built from anything else.
    """

    @staticmethod
    def _root(branch: str | None) -> str:
        return f"branches/{check_branch(branch, 'product key')}/" if branch else ""

    @staticmethod
    def exposure_product(exposure_id: str, name: str, branch: str | None = None) -> str:
        return f"{keys._root(branch)}exposures/{exposure_id}/{name}"

    @staticmethod
    def field_product(field_id: str, name: str, branch: str | None = None) -> str:
        check_field_id(field_id, "product key")
        return f"{keys._root(branch)}fields/{field_id}/{name}"

    @staticmethod
    def field_measurements(field_id: str, branch: str | None = None) -> str:
        return keys.field_product(field_id, "measurements.parquet", branch)

    @staticmethod
    def field_catalog(field_id: str, branch: str | None = None) -> str:
        return keys.field_product(field_id, "catalog.parquet", branch)

    @staticmethod
    def survey_catalog(survey: str, version: int) -> str:
        return f"catalogs/{survey}/v{version:04d}/"

    #: prefix of every checkpoint (the products bucket expires it: template.yaml)
    CHECKPOINTS = "checkpoints/"

    @staticmethod
    def field_checkpoint(
        field_id: str, fingerprint: str, stage: str, branch: str | None = None
    ) -> str:
        """A photometry stage's saved state: a retried worker resumes after it."""
        return f"{keys.CHECKPOINTS}{keys._root(branch)}fields/{field_id}/{fingerprint}/{stage}"

    @staticmethod
    def catalog_build(survey: str, job_id: str, name: str) -> str:
        """A catalog build job's request and result (outside the catalog's own tree)."""
        return f"catalog-builds/{survey}/{job_id}/{name}"
