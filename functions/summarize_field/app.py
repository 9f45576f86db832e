"""Lambda entry point: The worker's result (written next to the products) as the field.reduced payload."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.reduce import summarize_field

handler = make_handler(summarize_field, metric="FieldsSummarized")
