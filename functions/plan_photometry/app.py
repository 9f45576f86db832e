"""Lambda entry point: Write the worker's request to the products bucket (container overrides are capped"""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.reduce import plan_photometry

handler = make_handler(plan_photometry, metric="PhotometryPlanned")
