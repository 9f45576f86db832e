"""Lambda entry point: Masks (DQ, saturation, cosmic rays) and sky of one exposure, as a product."""

from cloudphot.pipeline.reduce import preprocess_step
from cloudphot.platform import make_handler

handler = make_handler(preprocess_step, metric="ExposuresPreprocessed")
