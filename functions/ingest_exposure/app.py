"""Lambda entry point: Validate an uploaded exposure and return its metadata record."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.steps import read_uploaded_exposure

handler = make_handler(read_uploaded_exposure, metric="ExposuresRead")
