"""Which AWS error codes mean "slow down" and which "the service failed", per service.

One table for every adapter: a throttled request was not applied and is retried
(then raised as :class:`~cloudphot.errors.Throttled`); a server failure is a
:class:`~cloudphot.errors.TransientError`, retried only where the call is
idempotent. Both are retried by the state machines under the one name
``TransientError`` (see :mod:`cloudphot.errors`).
"""

from __future__ import annotations

__all__ = ["SERVER_ERRORS", "THROTTLING", "is_server_error", "is_throttling"]

#: service -> error codes (and HTTP statuses as strings) that mean "request rate too high"
THROTTLING: dict[str, frozenset[str]] = {
    "s3": frozenset(
        {
            "SlowDown",
            "503",
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "ServiceUnavailable",
            "RequestThrottled",
        }
    ),
    "dynamodb": frozenset(
        {
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "Throttling",
            "TooManyRequestsException",
        }
    ),
    "stepfunctions": frozenset({"ThrottlingException", "TooManyRequestsException"}),
    "athena": frozenset({"ThrottlingException", "TooManyRequestsException", "SlowDown"}),
    "cloudformation": frozenset({"Throttling", "ThrottlingException"}),
}

#: service -> error codes of a failure on the service's side (worth a retry with backoff)
SERVER_ERRORS: dict[str, frozenset[str]] = {
    "s3": frozenset(
        {"500", "502", "504", "InternalError", "RequestTimeout", "RequestTimeTooSkewed"}
    ),
    "dynamodb": frozenset(
        {
            "InternalServerError",
            "ServiceUnavailable",
            "InternalFailure",
            "ServiceUnavailableException",
        }
    ),
    "stepfunctions": frozenset({"ServiceUnavailable", "InternalServerError", "InternalFailure"}),
    "athena": frozenset({"InternalServerException", "InternalServerError", "ServiceUnavailable"}),
    "cloudformation": frozenset({"InternalFailure", "ServiceUnavailable"}),
}


def is_throttling(service: str, code: str) -> bool:
    return code in THROTTLING[service]


def is_server_error(service: str, code: str) -> bool:
    return code in SERVER_ERRORS[service]
