"""HTTP API (payload 2.0) -> the VO services (TAP, SCS, SIA, cutouts) over the deployed stack."""

from cloudphot.service.aws import http_handler as handler  # noqa: F401
