"""The photometry database: phot_mod (objects) and phot_meas (measurements).

Public API: :class:`Catalog` (queries, cones, light curves, maps as astropy Tables;
:mod:`.api`). Modules: :mod:`.schema` (columns), :mod:`.ids` (objid, HTM, HEALPix),
:mod:`.build` (merge fields into numbered, incrementally published HATS versions),
:mod:`.hats` (layout writer), :mod:`.query` (checked, rewritten, read-only SQL on
DuckDB), :mod:`.lightcurve`, :mod:`.maps`, :mod:`.fits_export`, :mod:`.synthetic`
(PHAT-like field products), :mod:`.commands` (CLI), :mod:`.steps` (the build_catalog
state machine's Lambda).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Catalog

__all__ = ["Catalog"]


def __getattr__(name: str) -> Any:
    # imported on first use (PEP 562): a Lambda that needs only .steps or .ids does
    # not pay for DuckDB, sqlglot and astropy tables at cold start
    if name == "Catalog":
        from .api import Catalog

        return Catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
