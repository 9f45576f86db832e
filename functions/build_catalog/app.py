"""Lambda entry point: merge reduced fields into the survey catalog (or export its FITS tables)."""

from cloudphot.catalog.steps import handle
from cloudphot.platform import make_handler

handler = make_handler(handle, metric="CatalogBuilds")
