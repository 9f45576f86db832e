"""Lambda entry point: Validate an uploaded exposure and return its metadata record."""

from cloudphot.pipeline.steps import read_uploaded_exposure
from cloudphot.platform import make_handler

handler = make_handler(read_uploaded_exposure, metric="ExposuresRead")
