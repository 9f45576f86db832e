"""Lambda entry point: Masks (DQ, saturation, cosmic rays) and sky of one exposure, as a product."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.reduce import preprocess_step

handler = make_handler(preprocess_step, metric="ExposuresPreprocessed")
