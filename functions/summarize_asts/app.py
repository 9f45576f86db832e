"""Lambda entry point: Every chunk's table into ast.parquet, its completeness next to the catalog."""

from cloudphot.asts.steps import summarize_asts
from cloudphot.platform import make_handler

handler = make_handler(summarize_asts, metric="AstsSummarized")
