"""Lambda entry point: Write the worker's request to the products bucket (container overrides are capped"""

from cloudphot.pipeline.reduce import plan_photometry
from cloudphot.platform import make_handler

handler = make_handler(plan_photometry, metric="PhotometryPlanned")
