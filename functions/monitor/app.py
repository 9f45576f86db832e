"""HTTP API (payload 2.0, IAM-authorized) -> the web monitor's routes over the deployed stack."""

from aws_lambda_powertools import Logger

from cloudphot.monitor.aws_executions import monitor_app_from_env
from cloudphot.monitor.web import api_gateway_response

logger = Logger(service="cloudphot")
_app = None  # built once per container, on the first request


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    global _app
    if _app is None:
        _app = monitor_app_from_env()
    return api_gateway_response(_app, event)
