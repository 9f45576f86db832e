"""Lambda entry point: Emit ``field.ready`` when every exposure the manifest names is registered."""

from cloudphot.pipeline.fields import check_field
from cloudphot.platform import make_handler

handler = make_handler(check_field, metric="FieldChecks")
