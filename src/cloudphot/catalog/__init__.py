"""The photometry database: phot_mod (objects) and phot_meas (measurements).

Modules: :mod:`.schema` (columns), :mod:`.ids` (objid, HTM, HEALPix), :mod:`.build`
(merge fields into numbered, incrementally published HATS versions), :mod:`.hats`
(layout writer), :mod:`.query` (checked, rewritten, read-only SQL on DuckDB),
:mod:`.api` (``Catalog``: astropy Tables), :mod:`.lightcurve`, :mod:`.maps`,
:mod:`.fits_export`, :mod:`.synthetic` (PHAT-like field products),
:mod:`.commands` (CLI), :mod:`.steps` (the build_catalog state machine's Lambda).
"""

__all__: list[str] = []
