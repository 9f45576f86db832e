"""Lambda entry point: The worker's result (written next to the products) as the field.reduced payload."""

from cloudphot.pipeline.reduce import summarize_field
from cloudphot.platform import make_handler

handler = make_handler(summarize_field, metric="FieldsSummarized")
