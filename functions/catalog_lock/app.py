"""Lambda entry point: take or free a survey's catalog-build lock (cloudphot.pipeline.locks)."""

from cloudphot.pipeline.locks import handle
from cloudphot.platform import make_handler

handler = make_handler(handle, metric="CatalogLocks")
