"""HTTP API (payload 2.0, IAM-authorized) -> the web monitor's routes over the deployed stack."""

from aws_lambda_powertools import Logger

from cloudphot.monitor.web import MonitorApp, api_gateway_response
from cloudphot.platform import current_platform

logger = Logger(service="cloudphot")
_app = None  # built once per container, on the first request


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    global _app
    if _app is None:
        _app = MonitorApp(current_platform())
    return api_gateway_response(_app, event)
